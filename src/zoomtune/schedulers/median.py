"""Median stopping: stop a trial whose best value so far is worse than the other trials' median.

The rule (Golovin et al., "Google Vizier", 2017): when a trial reports at step `s`, take its
best-so-far value (the best of its reports at steps <= s) and the best-so-far values at `s` of
every other trial that reported at step `s` exactly. If the trial's value is strictly worse
than the median of the others', it stops. Nothing is stopped

- before `n_startup_trials` other trials have finished (COMPLETE or STOPPED), so the median
  rests on a few whole learning curves;
- at steps below `n_warmup_steps` (early reports are noisy), nor between checks: after the
  warm-up a trial is judged every `interval_steps` steps;
- when no other trial reported at step `s`.

Trials of every state count for the median (a stopped or running trial's reports are as real
as a finished one's). Non-finite reports (NaN, inf) are ignored; a trial with no finite report
yet counts as the worst and stops. The decision reads only stored reports, so it is the same in
any process.

In a multi-objective study it watches one objective: the first, or the one `objective` names (a name
from the study's `metric_names`, or an index): `MedianStopping(objective="accuracy")`, in that
objective's direction, on the values trials reported for it (`trial.report([v1, v2], step)`).

>>> from zoomtune.records import Direction, TrialRecord, TrialState
>>> from zoomtune.schedulers.base import ScheduleContext
>>> def rec(n, values, state=TrialState.COMPLETE):
...     return TrialRecord(n, state, {}, {}, intermediate_values=dict(enumerate(values)))
>>> done = [rec(0, [0.9, 0.5]), rec(1, [0.8, 0.4]), rec(2, [0.7, 0.6])]
>>> ctx = ScheduleContext(Direction.MINIMIZE, lambda: done)
>>> rule = MedianStopping(n_startup_trials=3, seed=0)
>>> rule.decide(rec(3, [0.75], TrialState.RUNNING), ctx).value  # median at step 0 is 0.8
'continue'
>>> rule.decide(rec(3, [0.75, 0.7], TrialState.RUNNING), ctx).value  # best 0.7 > median 0.5
'stop'
"""

from __future__ import annotations

import math
import statistics

from zoomtune.errors import require_int
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.schedulers.base import Decision, Objective, ScheduleContext, Scheduler, objective_curve, require_objective


def best_so_far(values: dict[int, float], step: int, direction: Direction) -> float:
    """The best value reported at steps <= `step` (NaN when there is no finite one)."""
    finite = [v for s, v in values.items() if s <= step and math.isfinite(v)]
    if not finite:
        return math.nan
    return min(finite) if direction is Direction.MINIMIZE else max(finite)


class MedianStopping(Scheduler):
    """Stop a trial whose best-so-far value is worse than the median of the others' at that step."""

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 0, interval_steps: int = 1,
                 seed: int | None = None, *, objective: Objective = None) -> None:
        super().__init__(seed)
        self.n_startup_trials: int = require_int("MedianStopping", "n_startup_trials", n_startup_trials, 0)
        self.n_warmup_steps: int = require_int("MedianStopping", "n_warmup_steps", n_warmup_steps, 0)
        self.interval_steps: int = require_int("MedianStopping", "interval_steps", interval_steps, 1)
        self.objective = require_objective("MedianStopping", objective)

    def decide(self, trial: TrialRecord, context: ScheduleContext) -> Decision:
        index = self.watched(context) or 0
        step = trial.last_step
        if step is None or step < self.n_warmup_steps or (step - self.n_warmup_steps) % self.interval_steps:
            return Decision.CONTINUE
        others = [t for t in context.history() if t.number != trial.number]
        finished = sum(t.state in (TrialState.COMPLETE, TrialState.STOPPED) for t in others)
        if finished < self.n_startup_trials:
            return Decision.CONTINUE
        direction = context.directions[index]
        curves = [objective_curve(t, index) for t in others]
        peers = [best_so_far(curve, step, direction) for curve in curves if step in curve]
        peers = [v for v in peers if not math.isnan(v)]
        own_curve = objective_curve(trial, index)
        if not peers or step not in own_curve:
            return Decision.CONTINUE
        own = best_so_far(own_curve, step, direction)
        if math.isnan(own) or direction.better(statistics.median(peers), own):
            return Decision.STOP
        return Decision.CONTINUE

    def __repr__(self) -> str:
        return (f"MedianStopping(n_startup_trials={self.n_startup_trials}, n_warmup_steps={self.n_warmup_steps}, "
                f"interval_steps={self.interval_steps}{self._objective_repr()}, seed={self.seed})")


__all__ = ["MedianStopping", "best_so_far"]
