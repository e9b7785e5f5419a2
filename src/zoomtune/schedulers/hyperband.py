"""Hyperband (Li et al., JMLR 2018) as a set of ASHA brackets.

Successive halving must guess how early a trial can be judged: judge at resource 1 and slow
starters are lost, judge late and little is saved. Hyperband hedges over that guess. With
eta = reduction_factor and s_max = floor(log_eta(max_resource / min_resource)) there are
s_max + 1 brackets; bracket b (b = 0 .. s_max) runs successive halving with minimum resource
min_resource * eta**b, so bracket 0 is the most aggressive and bracket s_max never stops a
trial. Resource means epochs done (a report at step s is resource s + 1), as in `ASHA`.

Each trial belongs to one bracket, drawn from a hash of (seed, trial number): the same in every
process, and it never changes. The draw follows Hyperband's budgets: with s = s_max - b,
bracket b starts n_s = ceil((s_max + 1) * eta**s / (s + 1)) configurations in the paper, so it
gets a trial with probability n_s / sum(n). Within a bracket a trial is compared only with
trials of the same bracket, by ASHA's rung rule (`rung_decision`): in a multi-objective study that is
multi-objective ASHA's non-dominated sorting with a crowding tie-break, unless `objective` names the one
objective to watch (see `zoomtune.schedulers.asha`).

>>> hb = Hyperband(min_resource=1, max_resource=9, reduction_factor=3, seed=0)
>>> hb.bracket_min_resources()  # brackets 0, 1, 2
[1, 3, 9]
>>> hb.bracket_weights()  # n_s for s = 2, 1, 0
[9, 5, 3]
>>> hb.bracket(7) == Hyperband(max_resource=9, seed=0).bracket(7)
True
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from itertools import accumulate

from zoomtune.records import TrialRecord
from zoomtune.schedulers.asha import check_resources, rung_decision, rung_ranking
from zoomtune.schedulers.base import Decision, Objective, ScheduleContext, Scheduler, require_objective


def unit_hash(seed: int, number: int) -> float:
    """A uniform number in [0, 1) that depends only on (seed, number), stable across processes."""
    digest = hashlib.blake2b(f"{seed}:{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") * 2.0**-64


class Hyperband(Scheduler):
    """Successive halving hedged over s_max + 1 minimum resources; trials split among brackets."""

    def __init__(self, min_resource: int = 1, max_resource: int = 81, reduction_factor: int = 3,
                 seed: int | None = None, *, objective: Objective = None) -> None:
        super().__init__(seed)
        min_resource, reduction_factor, checked_max = check_resources(
            min_resource, reduction_factor, max_resource, "Hyperband", max_optional=False)
        self.objective = require_objective("Hyperband", objective)
        assert checked_max is not None  # max_optional=False
        self.min_resource, self.max_resource, self.reduction_factor = min_resource, checked_max, reduction_factor
        s_max = 0
        while min_resource * reduction_factor ** (s_max + 1) <= max_resource:
            s_max += 1
        self.s_max = s_max
        self._cumulative = list(accumulate(self.bracket_weights()))

    def bracket_min_resources(self) -> list[int]:
        """The minimum resource of each bracket, from the most aggressive one."""
        return [self.min_resource * self.reduction_factor**b for b in range(self.s_max + 1)]

    def bracket_weights(self) -> list[int]:
        """Hyperband's number of configurations n_s of each bracket (b = 0 .. s_max, s = s_max - b)."""
        eta, n = self.reduction_factor, self.s_max + 1
        return [-(-n * eta**s // (s + 1)) for s in range(self.s_max, -1, -1)]

    def bracket(self, number: int) -> int:
        """The bracket of trial `number`: a deterministic draw with probability n_s / sum(n)."""
        draw = unit_hash(self.seed, number) * self._cumulative[-1]
        return min(bisect_right(self._cumulative, draw), self.s_max)

    def decide(self, trial: TrialRecord, context: ScheduleContext) -> Decision:
        b = self.bracket(trial.number)
        others = (t for t in context.history() if t.number != trial.number and self.bracket(t.number) == b)
        return rung_decision(trial, others, rung_ranking(trial, context, self.watched(context)),
                             self.bracket_min_resources()[b], self.reduction_factor, self.max_resource)

    def __repr__(self) -> str:
        return (f"Hyperband(min_resource={self.min_resource}, max_resource={self.max_resource}, "
                f"reduction_factor={self.reduction_factor}{self._objective_repr()}, seed={self.seed})")


__all__ = ["Hyperband", "unit_hash"]
