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
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from zoomtune.errors import require_int
from zoomtune.records import Direction, TrialRecord
from zoomtune.schedulers.base import Decision, ScheduleContext, Scheduler


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


def rung_decision(trial: TrialRecord, others: Iterable[TrialRecord], direction: Direction, min_resource: int,
                  reduction_factor: int, max_resource: int | None) -> Decision:
    """The successive-halving decision for `trial`'s latest report, against the reports of `others`
    (which must not include `trial`) at the same step. Shared by ASHA and Hyperband's brackets."""
    step = trial.last_step
    if step is None or not is_rung(step + 1, min_resource, reduction_factor, max_resource):
        return Decision.CONTINUE
    own = trial.intermediate_values[step]
    values = [own] + [t.intermediate_values[step] for t in others if step in t.intermediate_values]
    if len(values) < reduction_factor:
        return Decision.CONTINUE
    if not math.isfinite(own):
        return Decision.STOP
    n_better = sum(math.isfinite(v) and direction.better(v, own) for v in values)
    return Decision.CONTINUE if n_better < len(values) // reduction_factor else Decision.STOP


class ASHA(Scheduler):
    """Asynchronous successive halving: at each rung only the top 1/reduction_factor goes on."""

    def __init__(self, min_resource: int = 1, reduction_factor: int = 3, max_resource: int | None = None,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.min_resource, self.reduction_factor, self.max_resource = check_resources(
            min_resource, reduction_factor, max_resource, "ASHA")

    def decide(self, trial: TrialRecord, context: ScheduleContext) -> Decision:
        others = (t for t in context.history() if t.number != trial.number)
        return rung_decision(trial, others, context.direction, self.min_resource, self.reduction_factor,
                             self.max_resource)

    def __repr__(self) -> str:
        return (f"ASHA(min_resource={self.min_resource}, reduction_factor={self.reduction_factor}, "
                f"max_resource={self.max_resource}, seed={self.seed})")


__all__ = ["ASHA", "check_resources", "is_rung", "rung_decision"]
