"""The Pareto face of a multi-objective study, as JSON-ready data the dashboard and the report draw: every
trial's value of each objective and its constraint violation, which COMPLETE trials form the feasible front,
and the normalised hypervolume of that front after each trial.

A study knows no ideal or reference point of its own, so the hypervolume is normalised by the box the study
observed: with every objective turned into one to minimise, the ideal is the best value any feasible COMPLETE
trial reached and the reference is the worst plus a tenth of the range (`MARGIN`), so even the worst trials
add a sliver. The box is taken from all the trials shown, so the curve never decreases, and it moves (as
the ranges do) while the study grows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zoomtune.pareto import normalized_hypervolume, pareto_front_mask
from zoomtune.records import Direction, TrialRecord, TrialState

FloatArray = npt.NDArray[np.float64]
#: the reference lies this fraction of each objective's observed range beyond its worst value
MARGIN = 0.1
#: hypervolume over trials is drawn up to this many objectives (exact hypervolume beyond grows too fast to
#: recompute after every trial)
MAX_HYPERVOLUME_OBJECTIVES = 3


@dataclass(frozen=True)
class ObservedBox:
    """The box a study's hypervolume is normalised by, in minimised form (maximised objectives negated)."""

    ideal: FloatArray
    reference: FloatArray


def signs(directions: Sequence[Direction]) -> FloatArray:
    """+1 for a minimised objective, -1 for a maximised one: multiplying by it makes every objective minimised."""
    return np.array([1.0 if d is Direction.MINIMIZE else -1.0 for d in directions])


def observed_box(points: FloatArray) -> ObservedBox:
    """The ideal (best of each column) and the reference (worst plus MARGIN of the range) of minimised points;
    an objective where every point is equal gets a range of 1, so the box is never empty."""
    best, worst = points.min(axis=0), points.max(axis=0)
    span = np.where(worst > best, worst - best, 1.0)
    return ObservedBox(best, worst + MARGIN * span)


def _vector(trial: TrialRecord, m: int) -> tuple[float, ...] | None:
    """The trial's objective values when it has all `m` of them, finite."""
    values = trial.values
    if values is None or len(values) != m or not all(math.isfinite(v) for v in values):
        return None
    return values


def hypervolume_history(numbers: Sequence[int], points: FloatArray, feasible: Sequence[bool],
                        box: ObservedBox) -> tuple[list[int], list[float]]:
    """(trial numbers, normalised hypervolume of the feasible front after each) for minimised `points` in trial
    order: a point at the first and last trial and wherever the hypervolume changed (a step line)."""
    front = np.empty((0, points.shape[1]))
    volume = 0.0
    xs: list[int] = []
    ys: list[float] = []
    for k, (number, point, ok) in enumerate(zip(numbers, points, feasible, strict=True)):
        changed = False
        # a point some front member is at least as good as in every objective cannot add volume
        if ok and not (front <= point).all(axis=1).any():
            candidate = np.vstack([front, point])
            front = candidate[pareto_front_mask(candidate)]
            new = normalized_hypervolume(front, box.reference, box.ideal)
            changed, volume = new != volume, new
        if changed or k == 0 or k == len(numbers) - 1:
            xs.append(number)
            ys.append(volume)
    return xs, ys


def pareto_payload(trials: Sequence[TrialRecord], directions: Sequence[Direction],
                   names: Sequence[str]) -> dict[str, Any]:
    """What the front and hypervolume figures draw. Columns are index-aligned with the study's trial columns:
    `values` (one list per objective, None where a trial has no result) and `violation` (0 when feasible).
    `front` lists the numbers of the non-dominated feasible COMPLETE trials (`Study.best_trials`);
    `hypervolume` is None with more than MAX_HYPERVOLUME_OBJECTIVES objectives or no feasible COMPLETE trial."""
    m = len(directions)
    columns: list[list[float | None]] = [[] for _ in range(m)]
    violation: list[float] = []
    numbers: list[int] = []
    vectors: list[tuple[float, ...]] = []
    feasible: list[bool] = []
    for trial in trials:
        vector = _vector(trial, m)
        for column, value in zip(columns, vector or (None,) * m, strict=True):
            column.append(value)
        violation.append(trial.violation)
        if vector is not None and trial.state is TrialState.COMPLETE:
            numbers.append(trial.number)
            vectors.append(vector)
            feasible.append(trial.feasible)
    points = np.asarray(vectors, dtype=np.float64).reshape(-1, m) * signs(directions)
    ok = np.asarray(feasible, dtype=bool)
    front: list[int] = []
    hypervolume: dict[str, Any] | None = None
    if ok.any():
        mask = pareto_front_mask(points[ok])
        front = [n for n, keep in zip(np.asarray(numbers)[ok].tolist(), mask, strict=True) if keep]
        if m <= MAX_HYPERVOLUME_OBJECTIVES:
            box = observed_box(points[ok])
            xs, ys = hypervolume_history(numbers, points, feasible, box)
            hypervolume = {"number": xs, "value": ys, "ideal": (box.ideal * signs(directions)).tolist(),
                           "reference": (box.reference * signs(directions)).tolist()}
    return {"objectives": [{"name": n, "direction": d.value} for n, d in zip(names, directions, strict=True)],
            "values": columns, "violation": violation, "front": front, "hypervolume": hypervolume}


__all__ = ["MARGIN", "MAX_HYPERVOLUME_OBJECTIVES", "ObservedBox", "hypervolume_history", "observed_box",
           "pareto_payload", "signs"]
