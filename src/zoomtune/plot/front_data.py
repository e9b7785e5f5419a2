"""The Pareto face of a multi-objective study, as JSON-ready data its front figures are drawn from: every
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


@dataclass(frozen=True)
class FrontHistory:
    """The feasible front of a study's trials, grown trial by trial: its members at the end, and the normalised
    hypervolume as a step line (a point at the first and last trial and wherever the volume changed)."""

    front: list[int]
    numbers: list[int]
    hypervolume: list[float]


def front_history(numbers: Sequence[int], points: FloatArray, feasible: Sequence[bool],
                  box: ObservedBox | None) -> FrontHistory:
    """The front and hypervolume history of minimised `points` (trials `numbers`, in order); no hypervolume
    without a `box`. Equal points are all on the front, as in `Study.best_trials`."""
    front = np.empty((0, points.shape[1]))
    members: list[int] = []
    volume = 0.0
    xs: list[int] = []
    ys: list[float] = []
    for k, (number, point, ok) in enumerate(zip(numbers, points, feasible, strict=True)):
        changed = False
        # a point some member is at least as good as in every objective cannot move the front
        covered = ok and bool((front <= point).all(axis=1).any())
        if covered and (front == point).all(axis=1).any():
            front, members = np.vstack([front, point]), [*members, number]
        elif ok and not covered:
            candidate = np.vstack([front, point])
            mask = pareto_front_mask(candidate)
            front, members = candidate[mask], [n for n, keep in zip([*members, number], mask, strict=True) if keep]
            if box is not None:
                new = normalized_hypervolume(front, box.reference, box.ideal)
                changed, volume = new != volume, new
        if box is not None and (changed or k == 0 or k == len(numbers) - 1):
            xs.append(number)
            ys.append(volume)
    return FrontHistory(sorted(members), xs, ys)


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
    sign = signs(directions)
    points = np.asarray(vectors, dtype=np.float64).reshape(-1, m) * sign
    ok = np.asarray(feasible, dtype=bool)
    box = observed_box(points[ok]) if ok.any() and m <= MAX_HYPERVOLUME_OBJECTIVES else None
    history = front_history(numbers, points, feasible, box)
    hypervolume = None if box is None else {
        "number": history.numbers, "value": history.hypervolume, "margin": MARGIN,
        "ideal": (box.ideal * sign).tolist(), "reference": (box.reference * sign).tolist()}
    return {"objectives": [{"name": n, "direction": d.value} for n, d in zip(names, directions, strict=True)],
            "values": columns, "violation": violation, "front": history.front, "hypervolume": hypervolume}


__all__ = ["MARGIN", "MAX_HYPERVOLUME_OBJECTIVES", "FrontHistory", "ObservedBox", "front_history", "observed_box",
           "pareto_payload", "signs"]
