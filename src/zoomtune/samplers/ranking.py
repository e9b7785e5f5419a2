"""Which finished trials are the good ones: the order a density-ratio sampler (TPE) splits its history by.

Rows are trials' objective values, every objective minimised (negate a maximised one), in tie-break
order (trial number). The order is by constrained non-domination rank (`zoomtune.pareto`): with one
objective that is the value; with several it is the Pareto front first, then the front once that is
removed, and so on; with constraints, Deb's rule puts every feasible trial first and the infeasible ones
after, by total violation. The good group is filled rank by rank; when the next rank does not fit whole,
its members are chosen by greedy hypervolume subset selection (Ozaki et al. 2020/2022, "Multiobjective
tree-structured Parzen estimator"): the point that adds the most hypervolume to those already chosen,
again and again. Hypervolume is measured with each objective normalised to the extent of the points
being compared ((v - min) / (max - min)) and the reference point at 1.1 in every normalised objective,
so objectives on different scales weigh alike and the extreme points of a front still add volume.
"""

from __future__ import annotations

import heapq
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from zoomtune.pareto import hypervolume, hypervolume_contributions, non_dominated_ranks

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: the reference point in normalised objectives: 10 % beyond the worst of the points compared
REFERENCE = 1.1


def _normalised(points: FloatArray) -> FloatArray:
    """Each column mapped to [0, 1] by its own min and max (a constant column to 0)."""
    low, high = points.min(axis=0), points.max(axis=0)
    return np.asarray((points - low) / np.where(high > low, high - low, 1.0), dtype=np.float64)


def greedy_hypervolume_subset(values: FloatArray, size: int) -> IntArray:
    """Indices of `size` rows of `values` (minimised) chosen greedily by hypervolume: each step takes the row
    that adds the most to the hypervolume of the rows taken so far (ties: the earlier row), in that order.

    Hypervolume gains only shrink as rows are taken (it is submodular), so a row's last gain bounds its next
    one and most rows are never recomputed (lazy greedy); the result is the plain greedy's. Consecutive
    proposals mostly cut the same rank, so the last few answers are kept (keyed by the values' bytes)."""
    points = np.ascontiguousarray(values, dtype=np.float64)
    return np.array(_greedy_subset(points.tobytes(), points.shape, size), dtype=np.int64)


@lru_cache(maxsize=16)
def _greedy_subset(data: bytes, shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    points = _normalised(np.frombuffer(data, dtype=np.float64).reshape(shape))
    reference = np.full(points.shape[1], REFERENCE)
    heap = [(-float(gain), index) for index, gain in enumerate(np.prod(reference - points, axis=1))]
    heapq.heapify(heap)
    chosen: list[int] = []
    volume = 0.0
    while len(chosen) < min(size, len(points)):
        _, index = heapq.heappop(heap)
        with_it = hypervolume(points[[*chosen, index]], reference)
        if not heap or with_it - volume >= -heap[0][0]:
            chosen.append(index)
            volume = with_it
        else:
            heapq.heappush(heap, (-(with_it - volume), index))
    return tuple(chosen)


def preference_order(values: npt.ArrayLike, violations: npt.ArrayLike | None, n_good: int) -> IntArray:
    """A permutation of the rows, best first, whose first `n_good` are the good group (see the module).

    Outside the rank cut by `n_good` rows follow (rank, position); inside it the chosen rows come first, in
    greedy order, then the others by position. An infeasible rank (equal violations) is cut by position."""
    points = np.asarray(values, dtype=np.float64)
    ranks = non_dominated_ranks(points, violations)
    order = np.lexsort((np.arange(len(points)), ranks))
    if not 0 < n_good < len(points) or points.shape[1] < 2:
        return np.asarray(order, dtype=np.int64)
    cut = ranks[order[n_good - 1]]
    members = order[ranks[order] == cut]
    start = int(np.searchsorted(ranks[order], cut))
    infeasible = violations is not None and float(np.asarray(violations, dtype=np.float64)[members[0]]) > 0
    if start + len(members) <= n_good or infeasible:
        return np.asarray(order, dtype=np.int64)
    picked = members[greedy_hypervolume_subset(points[members], n_good - start)]
    rest = np.setdiff1d(members, picked)  # sorted: by position
    return np.asarray(np.concatenate([order[:start], picked, rest, order[start + len(members):]]), dtype=np.int64)


def hypervolume_weights(values: npt.ArrayLike, violations: npt.ArrayLike | None, floor: float) -> FloatArray:
    """A weight per row in [floor, 1]: its exclusive hypervolume contribution among the feasible rows (normalised
    objectives, see the module) over the largest one; a dominated or infeasible row gets `floor`. With fewer than
    two feasible rows there is no front to compare: the feasible row, or with none every row, weighs 1."""
    points = np.asarray(values, dtype=np.float64)
    weights = np.full(len(points), floor)
    feasible = np.ones(len(points), dtype=bool) if violations is None else np.asarray(violations) == 0
    if feasible.sum() < 2:
        weights[feasible if feasible.any() else slice(None)] = 1.0
        return weights
    scaled = np.ascontiguousarray(_normalised(points[feasible]))
    weights[feasible] = np.maximum(_relative_contributions(scaled.tobytes(), scaled.shape), floor)
    return weights


@lru_cache(maxsize=16)
def _relative_contributions(data: bytes, shape: tuple[int, ...]) -> FloatArray:
    """Exclusive hypervolume contributions over the largest (all 0 when none contributes); cached as above."""
    points = np.frombuffer(data, dtype=np.float64).reshape(shape)
    contributions = hypervolume_contributions(points, np.full(shape[1], REFERENCE))
    top = contributions.max()
    relative = np.asarray(contributions / top if top > 0 else contributions, dtype=np.float64)
    relative.setflags(write=False)  # shared by every caller of the cache
    return relative


__all__ = ["REFERENCE", "greedy_hypervolume_subset", "hypervolume_weights", "preference_order"]
