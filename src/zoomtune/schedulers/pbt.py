"""Population-based training: the automated panda.

Every `interval` steps, a trial whose value at that step is in the bottom `quantile` of the
trials that reached it is stopped, and a replacement is branched from a trial of the top
`quantile` (exploit: it starts from that trial's checkpoint, see `Trial.load_checkpoint`) with
perturbed hyperparameters (explore, in the unit cube: each parameter is resampled with
probability `resample_probability`, else moved by ±`step` of its range; a categorical moves to
a neighbouring choice). The branch is stored as a BRANCH event (reason "pbt"), so the
lineage shows who copied whom. Objectives save a checkpoint at each report
(`trial.save_checkpoint(state, step)`) and resume from `trial.load_checkpoint()`; without
checkpoints the replacement simply starts afresh with the perturbed values.

In a multi-objective study the ranking uses one objective: the first, or the one `objective` names (a
name from the study's `metric_names`, or an index), in that objective's direction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoomtune.errors import require_int, require_number
from zoomtune.records import BranchReason, Direction, TrialRecord
from zoomtune.schedulers.base import Decision, Objective, ScheduleContext, Scheduler, objective_curve, require_objective
from zoomtune.space import Categorical, Distribution


def perturb(params: dict[str, Any], distributions: dict[str, Distribution], rng: np.random.Generator,
            resample_probability: float, step: float) -> dict[str, Any]:
    """New values for `params`: each resampled or moved in the unit cube."""
    out = {}
    for name, dist in distributions.items():
        if name not in params:
            continue
        if rng.random() < resample_probability:
            out[name] = dist.from_unit(float(rng.random()))
        elif isinstance(dist, Categorical):
            index = dist.index(params[name]) + int(rng.choice((-1, 1)))
            out[name] = dist.choices[min(len(dist.choices) - 1, max(0, index))]
        else:
            u = dist.to_unit(params[name]) + float(rng.choice((-step, step)))
            out[name] = dist.from_unit(min(1.0, max(0.0, u)))
    return out


class PBT(Scheduler):
    """Exploit (copy a good trial's checkpoint) and explore (perturb its hyperparameters).

    `interval` counts reports: steps interval-1, 2·interval-1, ... are the decision points.
    """

    def __init__(self, interval: int = 4, quantile: float = 0.25, resample_probability: float = 0.25,
                 step: float = 0.1, min_population: int = 4, seed: int | None = None, *,
                 objective: Objective = None) -> None:
        super().__init__(seed)
        self.interval: int = require_int("PBT", "interval", interval, 1)
        self.quantile = require_number("PBT", "quantile", quantile, 0, 0.5, low_open=True)
        self.resample_probability = require_number("PBT", "resample_probability", resample_probability, 0, 1)
        self.step = require_number("PBT", "step", step, 0, 1)
        self.min_population: int = require_int("PBT", "min_population", min_population, 2)
        self.objective = require_objective("PBT", objective)

    def decide(self, trial: TrialRecord, context: ScheduleContext) -> Decision:
        index = self.watched(context) or 0
        step = trial.last_step
        if step is None or (step + 1) % self.interval:
            return Decision.CONTINUE
        reported = {t.number: (t, curve[step]) for t in context.history()
                    if step in (curve := objective_curve(t, index))}
        own = objective_curve(trial, index)
        if step not in own:
            return Decision.CONTINUE
        reported[trial.number] = (trial, own[step])
        if len(reported) < self.min_population:
            return Decision.CONTINUE
        sign = 1.0 if context.directions[index] is Direction.MINIMIZE else -1.0
        ranked = [t for t, _ in sorted(reported.values(), key=lambda item: (sign * item[1], item[0].number))]
        cut = max(1, int(self.quantile * len(ranked)))
        if trial.number not in {t.number for t in ranked[-cut:]}:
            return Decision.CONTINUE
        rng = np.random.default_rng([self.seed, trial.number, step])
        donor = ranked[int(rng.integers(cut))]
        overrides = perturb(donor.params, donor.distributions, rng, self.resample_probability, self.step)
        # exploit: start from the donor's latest checkpoint (it may have moved past `step` already)
        context.branch(donor.number, None, overrides, reason=BranchReason.PBT, replaces=trial.number)
        return Decision.STOP


__all__ = ["PBT", "perturb"]
