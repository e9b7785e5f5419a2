"""Pareto arithmetic for studies with several objectives: dominance (with constraints), non-dominated
sorting, crowding distance and the hypervolume indicator.

Every function here *minimises* every objective: a caller with a maximised objective negates it first.
Values are an ``(n, m)`` array, one row per point and one column per objective. Constraints follow
Deb's rule: a point's *violation* is ``sum(max(0, c_i))`` over its constraint values ``c`` (``c <= 0``
is satisfied, see `total_violation`); a feasible point (violation 0) beats an infeasible one, of two
infeasible points the smaller violation wins, and two feasible points compare by Pareto dominance.
NaN is refused everywhere with a ValueError: it has no place in an order.
"""

from __future__ import annotations

import bisect

import numpy as np
import numpy.typing as npt

from zoomtune.errors import shown

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _points(values: ArrayLike, objectives: int | None = None) -> FloatArray:
    """`values` as an (n, m) float array; an empty input is (0, objectives or 0)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return np.empty((0, objectives if objectives is not None else (array.shape[-1] if array.ndim == 2 else 0)))
    if array.ndim != 2:
        raise ValueError(f"values must be a 2-D array (one row per point, one column per objective); got shape "
                         f"{array.shape}")
    if np.isnan(array).any():
        raise ValueError(f"values must not contain NaN; got NaN in row {int(np.isnan(array).any(axis=1).argmax())}")
    if objectives is not None and array.shape[1] != objectives:
        raise ValueError(f"values have {array.shape[1]} objectives but the reference point has {objectives}")
    return array


def _violations(violations: ArrayLike | None, n: int) -> FloatArray:
    """Total violations as a length-n array of numbers >= 0 (all zero when `violations` is None)."""
    if violations is None:
        return np.zeros(n)
    array = np.asarray(violations, dtype=np.float64).reshape(-1)
    if array.shape != (n,):
        raise ValueError(f"violations must hold one total per point ({n}); got shape {np.shape(violations)}")
    if np.isnan(array).any() or (array < 0).any():
        raise ValueError(f"violations must be numbers >= 0 (see total_violation); got {shown(array.tolist())}")
    return array


def total_violation(constraints: ArrayLike) -> FloatArray:
    """Each row's total violation ``sum(max(0, c_i))``: 0 for a feasible point (every ``c_i <= 0``).

    `constraints` is ``(n, k)``, one column per constraint; the result feeds the `violations` arguments.
    """
    array = np.asarray(constraints, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"constraints must be a 2-D array (one row per point); got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError("constraints must not contain NaN")
    return np.asarray(np.maximum(array, 0.0).sum(axis=1), dtype=np.float64)


def dominates(a: ArrayLike, b: ArrayLike, violation_a: float = 0.0, violation_b: float = 0.0) -> bool:
    """Whether point `a` dominates point `b` (minimisation), by Deb's constraint rule when violations are given:
    feasible beats infeasible, the smaller of two violations wins, and two feasible points compare by Pareto
    dominance (no worse in every objective, better in one)."""
    first, second = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    if first.shape != second.shape:
        raise ValueError(f"a and b must have as many objectives; got {first.size} and {second.size}")
    pair = _points(np.stack([first, second]))
    va, vb = _violations([violation_a, violation_b], 2)
    if va > 0 or vb > 0:
        return bool(va < vb)
    return bool((pair[0] <= pair[1]).all() and (pair[0] < pair[1]).any())


def _pareto_ranks(points: FloatArray) -> IntArray:
    """Pareto ranks of distinct points: O(n log n) for two objectives, Deb's fast non-dominated sort otherwise."""
    n, m = points.shape
    ranks = np.zeros(n, dtype=np.int64)
    if m == 1:
        return np.unique(points[:, 0], return_inverse=True)[1].astype(np.int64).reshape(-1)
    if m == 2:
        # Distinct points in (f1, f2) order: an earlier point dominates a later one iff its f2 is no larger, so a
        # point's front is the first whose smallest f2 so far exceeds its own, and those minima never decrease.
        front_min_f2: list[float] = []
        for index in np.lexsort((points[:, 1], points[:, 0])):
            f2 = float(points[index, 1])
            rank = bisect.bisect_right(front_min_f2, f2)
            if rank == len(front_min_f2):
                front_min_f2.append(f2)
            else:
                front_min_f2[rank] = f2
            ranks[index] = rank
        return ranks
    beats = np.ones((n, n), dtype=bool)  # [i, j]: i is no worse than j in every objective
    for column in points.T:
        beats &= column[:, None] <= column[None, :]
    np.fill_diagonal(beats, False)  # distinct points: no worse everywhere and not equal means dominates
    counts = beats.sum(axis=0)
    front = np.flatnonzero(counts == 0)
    rank = 0
    while front.size:
        ranks[front] = rank
        counts[front] = -1
        counts -= beats[front].sum(axis=0)
        front = np.flatnonzero(counts == 0)
        rank += 1
    return ranks


def non_dominated_ranks(values: ArrayLike, violations: ArrayLike | None = None) -> IntArray:
    """Each point's non-domination rank: 0 for the Pareto front, 1 for the front once rank 0 is removed, and so on.

    Equal points share a rank. With `violations` (totals, see `total_violation`) the ranks follow Deb's rule:
    every infeasible point ranks after every feasible one, and infeasible points rank by their violation alone.
    """
    points = _points(values)
    violation = _violations(violations, len(points))
    ranks = np.zeros(len(points), dtype=np.int64)
    if not len(points):
        return ranks
    feasible = violation == 0
    if feasible.any():
        distinct, inverse = np.unique(points[feasible], axis=0, return_inverse=True)
        ranks[feasible] = _pareto_ranks(distinct)[inverse.reshape(-1)]
    if not feasible.all():
        first = int(ranks[feasible].max()) + 1 if feasible.any() else 0
        ranks[~feasible] = first + np.unique(violation[~feasible], return_inverse=True)[1].reshape(-1)
    return ranks


def pareto_front_mask(values: ArrayLike, violations: ArrayLike | None = None) -> BoolArray:
    """Which points no other point dominates (rank 0 of `non_dominated_ranks`, with the same constraint rule)."""
    return np.asarray(non_dominated_ranks(values, violations) == 0)


def crowding_distance(values: ArrayLike) -> FloatArray:
    """NSGA-II's crowding distance of the points of one front: the sum over objectives of the gap between each
    point's two neighbours in that objective, divided by the objective's range.

    The first and last point in each objective's order are at infinity (so a front of one or two points is all
    infinite); an objective whose range is zero adds 0 to the others. Ties are ordered by position.
    """
    points = _points(values)
    n = len(points)
    distance = np.zeros(n)
    if n == 0:
        return distance
    for column in points.T:
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        spread = ordered[-1] - ordered[0]
        if n > 2 and np.isfinite(spread) and spread > 0:
            distance[order[1:-1]] += (ordered[2:] - ordered[:-2]) / spread
        distance[order[[0, -1]]] = np.inf
    return distance


def _reference(reference: ArrayLike) -> FloatArray:
    point = np.asarray(reference, dtype=np.float64).reshape(-1)
    if point.size == 0 or not np.isfinite(point).all():
        raise ValueError(f"the reference point must be finite numbers, one per objective; got {shown(point.tolist())}")
    return point


def _inside(points: FloatArray, reference: FloatArray) -> FloatArray:
    """The distinct non-dominated points strictly better than `reference` in every objective."""
    inside = points[(points < reference).all(axis=1)]
    if not len(inside):
        return inside
    if np.isneginf(inside).any():
        raise ValueError("values inside the reference box must not contain -inf: the hypervolume would be infinite")
    ordered = inside[np.lexsort(inside.T[::-1])]  # np.unique(axis=0) does the same, three times slower
    front = ordered[np.append(True, (ordered[1:] != ordered[:-1]).any(axis=1))]
    return np.asarray(front[_pareto_ranks(front) == 0], dtype=np.float64)


def _hypervolume_2d(front: FloatArray, reference: FloatArray) -> float:
    """Staircase sum; `front` is non-dominated and distinct, so sorted by f1 its f2 strictly decreases."""
    ordered = front[np.argsort(front[:, 0])]
    widths = np.append(ordered[1:, 0], reference[0]) - ordered[:, 0]
    return float(np.dot(widths, reference[1] - ordered[:, 1]))


def _hypervolume_3d(front: FloatArray, reference: FloatArray) -> float:
    """Sweep in f3: insert the points into a 2-D staircase one by one, keeping its area up to date."""
    xs: list[float] = []  # the staircase of (f1, f2) so far, f1 increasing and f2 decreasing
    ys: list[float] = []
    volume, area = 0.0, 0.0
    ordered = front[np.argsort(front[:, 2], kind="stable")]
    heights = np.append(ordered[1:, 2], reference[2]) - ordered[:, 2]
    for (x, y, _), height in zip(ordered.tolist(), heights.tolist(), strict=True):
        start, left = bisect.bisect_left(xs, x), bisect.bisect_right(xs, x)
        ceiling = ys[left - 1] if left else float(reference[1])
        if ceiling > y:  # not dominated by the staircase: add the strip between it and the staircase
            cursor, end = x, left
            while end < len(xs) and ys[end] >= y:
                area += (xs[end] - cursor) * (ceiling - y)
                cursor, ceiling = xs[end], ys[end]
                end += 1
            area += ((xs[end] if end < len(xs) else float(reference[0])) - cursor) * (ceiling - y)
            xs[start:end], ys[start:end] = [x], [y]  # it replaces the points it dominates
        volume += area * height
    return volume


def _hypervolume_front(front: FloatArray, reference: FloatArray) -> float:
    """Exact hypervolume of distinct non-dominated points, all strictly inside the reference box."""
    if not len(front):
        return 0.0
    m = front.shape[1]
    if m == 1:
        return float(reference[0] - front[:, 0].min())
    if m == 2:
        return _hypervolume_2d(front, reference)
    if m == 3:
        return _hypervolume_3d(front, reference)
    # Slice along the last objective: between consecutive values the cross-section is the (m-1)-D hypervolume
    # of the points already passed.
    ordered = front[np.argsort(front[:, -1], kind="stable")]
    heights = np.append(ordered[1:, -1], reference[-1]) - ordered[:, -1]
    volume = 0.0
    for count in range(1, len(ordered) + 1):
        if heights[count - 1] > 0:
            passed = np.unique(ordered[:count, :-1], axis=0)
            volume += heights[count - 1] * _hypervolume_front(passed[_pareto_ranks(passed) == 0], reference[:-1])
    return volume


def hypervolume(values: ArrayLike, reference: ArrayLike) -> float:
    """The exact volume of the region the points dominate inside the box bounded by `reference` (minimisation).

    A point not strictly better than the reference in every objective adds nothing. Exact in any number of
    objectives: a staircase sum in 2-D, a sweep over the third objective in 3-D, slicing beyond.
    """
    point = _reference(reference)
    return _hypervolume_front(_inside(_points(values, len(point)), point), point)


def hypervolume_contributions(values: ArrayLike, reference: ArrayLike) -> FloatArray:
    """Each point's exclusive contribution: the hypervolume of all points minus that of all points but it.

    A dominated point, or one of several equal points, contributes 0.
    """
    point = _reference(reference)
    points = _points(values, len(point))
    total = hypervolume(points, point)
    contributions = np.zeros(len(points))
    for index in np.flatnonzero((points < point).all(axis=1) & pareto_front_mask(points)):
        contributions[index] = total - hypervolume(np.delete(points, index, axis=0), point)
    return np.maximum(contributions, 0.0)


def normalized_hypervolume(values: ArrayLike, reference: ArrayLike, ideal: ArrayLike) -> float:
    """Hypervolume in [0, 1]: values are mapped by ``(v - ideal) / (reference - ideal)``, so the box between the
    ideal point and the reference becomes the unit cube; a value better than the ideal counts as the ideal.

    1 means a point at the ideal; it lets problems with different scales be compared and averaged.
    """
    point, best = _reference(reference), _reference(ideal)
    if best.shape != point.shape or not (best < point).all():
        raise ValueError(f"ideal must be below the reference in every objective; got ideal {shown(best.tolist())}, "
                         f"reference {shown(point.tolist())}")
    scaled = np.maximum((_points(values, len(point)) - best) / (point - best), 0.0)
    return min(hypervolume(scaled, np.ones_like(point)), 1.0)
