"""Model-based early stopping: a sampler that learns from partial learning curves (BOHB's idea).

With ASHA or Hyperband most trials end STOPPED after a few epochs, and a sampler that models only
finished trials' final values (TPE, GP) learns from the few that ran to the end. BOHB (Falkner,
Klein & Hutter, ICML 2018) fits its model at the *largest budget with enough observations*
instead, so the model starts early and moves to longer budgets as trials get there.

`MultiFidelitySampler(base)` does that for any history-based sampler. For each proposal it
picks the largest step s at which at least `min_trials` trials of the space (COMPLETE, STOPPED,
and the study's other RUNNING trials) reported a finite value, and hands `base` a copy of the
context whose `history()` holds those trials as COMPLETE records valued at step s (params and
distributions kept), and whose `pending()` holds the other RUNNING trials. With too few trials
at every step, the context passes through unchanged. The schedulers decide how many epochs a
trial gets; this wrapper only changes what the sampler learns from.

Trials STOPPED before step s join the history too, valued as the worst value at s
(`stopped_as_worse=True`, the default): the scheduler stopped them on an earlier rung because
they were behind there. Without them (`stopped_as_worse=False`, BOHB's rule as written) an
asynchronous scheduler leaves a model that has seen only the promoted trials, all of them good:
TPE then proposes far from them, those proposals are stopped on the first rung and never enter
the model, and the sampler goes on proposing far away. (Synchronous Hyperband has the same bias
more mildly: there, some trials *start* at the larger budgets.) Optuna's TPE ranks pruned trials
below finished ones for the same reason.

On a define-by-run objective with branches the wrapper follows its base: it models the same joint
space (`joint_space`: TPE's and GP's union of every branch seen), keeps in each trial only the
parameters the objective asked for when the base does (`records_asked_only`), and then counts and
projects a trial that has some of the space's parameters (the branch it took), as the base would
count it unwrapped.

The wrapper draws nothing: its randomness is the base sampler's (and its seed is the base's), so
the same seed and the same trials give the same proposals.

>>> from zoomtune.records import Direction, TrialRecord, TrialState
>>> from zoomtune.samplers.base import SampleContext
>>> from zoomtune.samplers.random import RandomSampler
>>> from zoomtune.space import Float, Space
>>> space = Space(x=Float(0.0, 1.0))
>>> def stopped(n, curve):
...     return TrialRecord(n, TrialState.STOPPED, {"x": n / 10}, dict(space), value=curve[-1],
...                        intermediate_values=dict(enumerate(curve)))
>>> history = [stopped(n, [1.0, 0.5, 0.2 + n / 100][: 1 + n % 3]) for n in range(9)]
>>> context = SampleContext(0, Direction.MINIMIZE, history=lambda: history)
>>> mf = MultiFidelitySampler(RandomSampler(seed=0), min_trials=3)
>>> mf.rung(space, history)  # steps 0, 1, 2 hold 9, 6 and 3 trials
2
>>> [(t.number, t.value) for t in mf.projected(space, context).history() if t.number % 3 == 2]
[(2, 0.22), (5, 0.25), (8, 0.28)]
>>> {t.value for t in mf.projected(space, context).history() if t.number % 3 != 2}  # stopped earlier
{0.28}
>>> len(MultiFidelitySampler(RandomSampler(seed=0), 3, stopped_as_worse=False).projected(space, context).history())
3
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

from zoomtune.errors import require, require_int, require_seed
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.samplers.base import SampleContext, Sampler
from zoomtune.space import Distribution, Space

_OWNER = "MultiFidelitySampler"


def _in_space(trial: TrialRecord, space: Space, partial: bool) -> bool:
    """Whether the trial has every parameter of `space` (with `partial`: at least one, a branch of a
    conditional space), each with the space's distribution."""
    dists = trial.distributions
    has = 0
    for name, dist in space.items():
        known = dists.get(name)
        if known is None or name not in trial.params:
            if partial:
                continue
            return False
        if not (known is dist or known == dist):
            return False
        has += 1
    return has > 0 or not partial


def _finite_steps(trial: TrialRecord) -> Iterable[int]:
    return (step for step, value in trial.intermediate_values.items() if math.isfinite(value))


class MultiFidelitySampler(Sampler):
    """Wraps a history-based sampler so that it models the trials' values at the largest step (rung)
    that `min_trials` trials reached, not only the finished trials' final values.

    `min_trials` defaults to max(the base's `n_startup_trials`, when it has one, d + 2), d being
    the number of parameters proposed at once. `seed` must be None or the base's seed: the wrapper
    draws nothing, and the study stores one seed (the base's) to rebuild it. `stopped_as_worse`:
    whether trials STOPPED before the chosen step join the model as the worst there (see above).
    """

    uses_history = True

    def __init__(self, base: Sampler, min_trials: int | None = None, seed: int | None = None,
                 stopped_as_worse: bool = True) -> None:
        require(isinstance(base, Sampler), _OWNER, "base", "must be a zoomtune Sampler", base)
        seed = require_seed(_OWNER, seed)
        require(seed is None or seed == base.seed, _OWNER, "seed",
                f"must be None or the base sampler's seed ({base.seed}), since the wrapper draws nothing", seed)
        super().__init__(base.seed)
        self.base = base
        # The base's: a base that models every branch of a conditional space gets trials that show theirs.
        self.records_asked_only = base.records_asked_only
        self.min_trials: int | None = require_int(_OWNER, "min_trials", min_trials, 1, or_none=True)
        require(isinstance(stopped_as_worse, bool), _OWNER, "stopped_as_worse", "must be True or False",
                stopped_as_worse)
        self.stopped_as_worse = stopped_as_worse

    def joint_space(self, history: list[TrialRecord]) -> Space | None:
        """The base's (TPE's, GP's: the union of every branch seen)."""
        return self.base.joint_space(history)

    def needed(self, space: Space) -> int:
        """How many trials must have reported at a step for the model to use it."""
        if self.min_trials is not None:
            return self.min_trials
        startup = getattr(self.base, "n_startup_trials", None)
        startup = startup if isinstance(startup, int) and not isinstance(startup, bool) else 0
        return max(startup, len(space) + 2)

    def rung(self, space: Space, trials: Sequence[TrialRecord]) -> int | None:
        """The largest step at which at least `needed(space)` trials of the space (with `records_asked_only`:
        that have some of its parameters) reported a finite value (FAILED trials never count), or None."""
        counts: dict[int, int] = {}
        for trial in trials:
            if trial.state is TrialState.FAILED or not _in_space(trial, space, self.records_asked_only):
                continue
            for step in _finite_steps(trial):
                counts[step] = counts.get(step, 0) + 1
        enough = [step for step, n in counts.items() if n >= self.needed(space)]
        return max(enough) if enough else None

    def projected(self, space: Space, context: SampleContext) -> SampleContext:
        """`context` as the base sampler sees it: the trials that reported at the chosen step, as
        COMPLETE records valued there, sorted by number; or `context` itself when no step has enough."""
        finished = context.history()
        running = [t for t in context.pending() if t.state is TrialState.RUNNING and t.number != context.number]
        step = self.rung(space, [*finished, *running])
        if step is None:
            return context
        chosen: list[TrialRecord] = []
        below: list[TrialRecord] = []  # STOPPED before `step`
        rest: list[TrialRecord] = []  # RUNNING, not at `step` yet
        for trial in [*finished, *running]:
            value = trial.intermediate_values.get(step)
            if trial.state is TrialState.FAILED or not _in_space(trial, space, self.records_asked_only):
                continue
            if value is not None and math.isfinite(value):
                chosen.append(dataclasses.replace(trial, state=TrialState.COMPLETE, value=value))
            elif trial.state is TrialState.RUNNING:
                rest.append(trial)
            elif trial.state is TrialState.STOPPED and max(_finite_steps(trial), default=-1) < step:
                below.append(trial)
        if self.stopped_as_worse and below:
            # The scheduler stopped them on an earlier rung: rank them below every trial that got here.
            values = [t.value for t in chosen if t.value is not None]
            worst = max(values) if context.direction is Direction.MINIMIZE else min(values)
            chosen += [dataclasses.replace(t, state=TrialState.COMPLETE, value=worst) for t in below]
        chosen.sort(key=lambda t: t.number)
        return dataclasses.replace(context, history=lambda: list(chosen), pending=lambda: list(rest))

    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        return self.base.sample(space, self.projected(space, context))

    def sample_one(self, name: str, dist: Distribution, context: SampleContext) -> float:
        return self.base.sample_one(name, dist, self.projected(Space({name: dist}), context))

    def __repr__(self) -> str:
        return f"{_OWNER}({self.base!r}, min_trials={self.min_trials})"


__all__ = ["MultiFidelitySampler"]
