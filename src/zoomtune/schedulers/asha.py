"""ASHA: asynchronous successive halving (Li et al., "A System for Massively Parallel
Hyperparameter Tuning", MLSys 2020).

Resource means epochs done: a report at step `s` (0-based) stands for resource `s + 1`. The
rungs are the resources r_k = min_resource * eta**k (k = 0, 1, ...), below `max_resource` when
one is given (a trial at the maximum resource is finished anyway). The rule:

- a report between rungs: CONTINUE;
- a report at a rung (step r_k - 1): compare its value with every value recorded at that step
  so far, by any trial, itself included. If fewer than `eta` trials have reached the rung, it
  continues; otherwise it continues only when it is in the top n // eta of the n values
  (fewer than n // eta values are strictly better), else it STOPs.

This is the asynchronous form: nobody waits for a rung to fill up, so the first trials through a
rung always go on and the bar rises as more trials arrive. A trial must report at the rung steps
exactly to be judged there. A non-finite value is never better than another, so it stops once
the rung holds `eta` values. Decisions read only stored reports: the same in any process.

Several objectives (multi-objective ASHA, after Schmucker, Donini, Zafar, Salinas and Archambeau,
"Multi-objective Asynchronous Successive Halving", 2021): in a study with several directions a trial
that reports one value per objective (`trial.report([v1, v2], step)`) is ranked against every vector
recorded at the rung by non-dominated sorting (`zoomtune.pareto`), with Deb's constraint rule when
trials set constraints (feasible first, then the smaller violation); the ties in the last rank that
fits into the top n // eta are broken for diversity by NSGA-II's crowding distance within that rank
(the paper's alternatives are an epsilon-net or the hypervolume contribution; crowding needs no
reference point and is cheap), then by trial number. A vector with a non-finite value ranks last.
A single number reported in such a study is judged as the first objective's value, against every
trial's first objective. `ASHA(objective="accuracy")` (a name from the study's `metric_names`, or an
index) ranks by that one objective instead.

>>> from zoomtune.records import Direction, TrialRecord, TrialState
>>> from zoomtune.schedulers.base import ScheduleContext
>>> def rec(n, values):
...     return TrialRecord(n, TrialState.RUNNING, {}, {}, intermediate_values=dict(enumerate(values)))
>>> history = [rec(0, [0.5]), rec(1, [0.9])]  # rungs at steps 0, 2, 8, ... (resources 1, 3, 9)
>>> ctx = ScheduleContext(Direction.MAXIMIZE, lambda: history)
>>> asha = ASHA(min_resource=1, reduction_factor=3, seed=0)
>>> asha.decide(rec(2, [0.7]), ctx).value  # 1 of 3 goes on: 0.9 is better
'stop'
>>> asha.decide(rec(2, [0.95]), ctx).value
'continue'
>>> asha.decide(rec(2, [0.1, 0.2]), ctx).value  # step 1 is between rungs
'continue'
>>> def vec(n, vector):  # accuracy (maximised) and size (minimised) at step 0
...     return TrialRecord(n, TrialState.RUNNING, {}, {}, intermediate_values={0: vector[0]},
...                        intermediate_vectors={0: vector})
>>> two = ScheduleContext(Direction.MAXIMIZE, lambda: [vec(0, (0.9, 5.0)), vec(1, (0.8, 1.0))],
...                       directions=(Direction.MAXIMIZE, Direction.MINIMIZE))
>>> asha.decide(vec(2, (0.85, 2.0)), two).value  # on the front, but 0.9 / 5 and 0.8 / 1 are its extremes
'stop'
>>> asha.decide(vec(2, (0.95, 0.5)), two).value  # dominates both
'continue'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from zoomtune.errors import require_int
from zoomtune.pareto import crowding_distance, non_dominated_ranks
from zoomtune.records import Direction, TrialRecord
from zoomtune.schedulers.base import (Decision, Objective, ScheduleContext, Scheduler, objective_curve,
                                      require_objective)


def check_resources(min_resource: int, reduction_factor: int, max_resource: int | None, owner: str = "ASHA",
                    max_optional: bool = True) -> tuple[int, int, int | None]:
    """The three as ints; `ConfigError` naming `owner` and the argument unless min_resource is an integer
    >= 1, reduction_factor an integer >= 2 and max_resource an integer >= min_resource (or None when
    `max_optional`)."""
    min_resource = require_int(owner, "min_resource", min_resource, 1)
    reduction_factor = require_int(owner, "reduction_factor", reduction_factor, 2)
    max_resource = require_int(owner, "max_resource", max_resource, min_resource, or_none=max_optional,
                               minimum_name="min_resource")
    return min_resource, reduction_factor, max_resource


def is_rung(resource: int, min_resource: int, reduction_factor: int, max_resource: int | None) -> bool:
    """Whether `resource` is min_resource * reduction_factor**k for some k >= 0, below max_resource."""
    if max_resource is not None and resource >= max_resource:
        return False
    rung = min_resource
    while rung < resource:
        rung *= reduction_factor
    return rung == resource


@dataclass(frozen=True)
class RungEntry:
    """One trial's report at a rung: its value(s) and its total constraint violation (0 when feasible)."""

    number: int
    values: tuple[float, ...]
    violation: float = 0.0

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in self.values)


@dataclass(frozen=True)
class ScalarRanking:
    """Rank the reports of one objective (`index`) in its `direction`: the single-objective rule."""

    direction: Direction
    index: int = 0

    def entry(self, trial: TrialRecord, step: int) -> RungEntry | None:
        value = objective_curve(trial, self.index).get(step)
        return None if value is None else RungEntry(trial.number, (value,))

    def in_top(self, own: RungEntry, others: Sequence[RungEntry], keep: int) -> bool:
        """Whether fewer than `keep` of the others are strictly better (a non-finite value never is)."""
        if not own.finite:
            return False
        n_better = sum(e.finite and self.direction.better(e.values[0], own.values[0]) for e in others)
        return n_better < keep


@dataclass(frozen=True)
class ParetoRanking:
    """Rank report vectors by non-dominated sorting (Deb's rule on violations), ties by crowding distance."""

    directions: tuple[Direction, ...]

    def entry(self, trial: TrialRecord, step: int) -> RungEntry | None:
        vector = trial.intermediate_vectors.get(step)
        return None if vector is None else RungEntry(trial.number, tuple(vector), trial.violation)

    def in_top(self, own: RungEntry, others: Sequence[RungEntry], keep: int) -> bool:
        """Whether `own` is among the `keep` best of itself and `others`; non-finite vectors rank last."""
        if not own.finite:
            return False
        entries = [own] + [e for e in others if e.finite]
        if len(entries) <= keep:
            return True
        signs = np.array([1.0 if d is Direction.MINIMIZE else -1.0 for d in self.directions])
        points = np.array([e.values for e in entries]) * signs  # every objective minimised
        ranks = non_dominated_ranks(points, [e.violation for e in entries])
        ahead = int((ranks < ranks[0]).sum())
        tied = np.flatnonzero(ranks == ranks[0])  # own (index 0) and the entries sharing its rank
        if ahead + len(tied) <= keep:
            return True
        if ahead >= keep:
            return False
        crowding = crowding_distance(points[tied])
        order = sorted(range(len(tied)), key=lambda i: (-crowding[i], entries[tied[i]].number))
        return order.index(0) < keep - ahead


RungRanking = ScalarRanking | ParetoRanking


def rung_ranking(trial: TrialRecord, context: ScheduleContext, objective: int | None) -> RungRanking:
    """How a rung ranks `trial`'s latest report: by the `objective` given, else by every objective (Pareto)
    when the study has several and the trial reported a vector, else by the first objective."""
    step = trial.last_step
    if objective is None and len(context.directions) > 1 and step in trial.intermediate_vectors:
        return ParetoRanking(context.directions)
    index = objective or 0
    return ScalarRanking(context.directions[index], index)


def rung_decision(trial: TrialRecord, others: Iterable[TrialRecord], ranking: RungRanking, min_resource: int,
                  reduction_factor: int, max_resource: int | None) -> Decision:
    """The successive-halving decision for `trial`'s latest report, against the reports of `others`
    (which must not include `trial`) at the same step, ranked by `ranking`. Shared by ASHA and Hyperband's
    brackets, for one objective or several."""
    step = trial.last_step
    if step is None or not is_rung(step + 1, min_resource, reduction_factor, max_resource):
        return Decision.CONTINUE
    own = ranking.entry(trial, step)
    if own is None:  # it did not report the watched objective: nothing to judge
        return Decision.CONTINUE
    entries = [e for e in (ranking.entry(t, step) for t in others) if e is not None]
    n = len(entries) + 1
    if n < reduction_factor:
        return Decision.CONTINUE
    return Decision.CONTINUE if ranking.in_top(own, entries, n // reduction_factor) else Decision.STOP


class ASHA(Scheduler):
    """Asynchronous successive halving: at each rung only the top 1/reduction_factor goes on (by
    non-dominated sorting in a multi-objective study, unless `objective` names the one to watch)."""

    def __init__(self, min_resource: int = 1, reduction_factor: int = 3, max_resource: int | None = None,
                 seed: int | None = None, *, objective: Objective = None) -> None:
        super().__init__(seed)
        self.min_resource, self.reduction_factor, self.max_resource = check_resources(
            min_resource, reduction_factor, max_resource, "ASHA")
        self.objective = require_objective("ASHA", objective)

    def decide(self, trial: TrialRecord, context: ScheduleContext) -> Decision:
        others = (t for t in context.history() if t.number != trial.number)
        return rung_decision(trial, others, rung_ranking(trial, context, self.watched(context)), self.min_resource,
                             self.reduction_factor, self.max_resource)

    def __repr__(self) -> str:
        return (f"ASHA(min_resource={self.min_resource}, reduction_factor={self.reduction_factor}, "
                f"max_resource={self.max_resource}{self._objective_repr()}, seed={self.seed})")


__all__ = ["ASHA", "ParetoRanking", "RungEntry", "RungRanking", "ScalarRanking", "check_resources", "is_rung",
           "rung_decision", "rung_ranking"]
