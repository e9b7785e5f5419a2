"""zoomtune.pareto against brute force (pairwise dominance, inclusion-exclusion) and against pymoo's
hypervolume indicator, the reference implementation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymoo.indicators.hv import HV

from zoomtune.pareto import (
    crowding_distance,
    dominates,
    hypervolume,
    hypervolume_contributions,
    non_dominated_ranks,
    normalized_hypervolume,
    pareto_front_mask,
    total_violation,
)

SETTINGS = settings(max_examples=150, deadline=None)


@st.composite
def point_sets(draw: st.DrawFn, max_points: int = 25, max_objectives: int = 4,
               min_objectives: int = 1) -> np.ndarray:
    """Points on a coarse grid, so that ties and equal points are common."""
    m = draw(st.integers(min_objectives, max_objectives))
    n = draw(st.integers(0, max_points))
    cells = draw(st.lists(st.lists(st.integers(0, 5), min_size=m, max_size=m), min_size=n, max_size=n))
    return np.array(cells, dtype=float).reshape(n, m) / 5


def brute_dominates(a: np.ndarray, b: np.ndarray, va: float, vb: float) -> bool:
    if va > 0 or vb > 0:
        return va < vb
    return bool(all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True)))


def brute_ranks(points: np.ndarray, violations: np.ndarray) -> list[int]:
    """Peel fronts: each round, the points no remaining point dominates."""
    remaining, ranks, rank = set(range(len(points))), [0] * len(points), 0
    while remaining:
        front = {j for j in remaining if not any(
            brute_dominates(points[i], points[j], violations[i], violations[j]) for i in remaining)}
        for j in front:
            ranks[j] = rank
        remaining -= front
        rank += 1
    return ranks


def brute_hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Inclusion-exclusion over every subset: the union of the boxes [point, reference]."""
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(range(len(points)), size):
            corner = points[list(subset)].max(axis=0)
            total += (-1) ** (size + 1) * float(np.prod(np.maximum(reference - corner, 0.0)))
    return total


@SETTINGS
@given(point_sets(), st.data())
def test_ranks_and_front_match_pairwise_dominance(points, data):
    violations = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0]), min_size=len(points),
                                             max_size=len(points))))
    for given_violations in (None, violations):
        expected = brute_ranks(points, violations if given_violations is not None else np.zeros(len(points)))
        assert non_dominated_ranks(points, given_violations).tolist() == expected
        assert pareto_front_mask(points, given_violations).tolist() == [rank == 0 for rank in expected]


@SETTINGS
@given(point_sets(max_points=8))
def test_dominates_matches_the_definition(points):
    for a, b in itertools.product(points, repeat=2):
        assert dominates(a, b) == brute_dominates(a, b, 0.0, 0.0)


def test_constraint_domination_follows_debs_rule():
    good, bad = [0.0, 0.0], [1.0, 1.0]
    assert dominates(bad, good, violation_a=0.0, violation_b=0.1)  # feasible beats infeasible, whatever the values
    assert not dominates(good, bad, violation_a=0.1, violation_b=0.0)
    assert dominates(bad, good, violation_a=0.2, violation_b=0.5)  # two infeasible: the smaller violation wins
    assert not dominates(good, bad, violation_a=0.5, violation_b=0.5)
    assert not dominates(bad, good, violation_a=0.5, violation_b=0.5)
    assert dominates(good, bad) and not dominates(bad, good)
    ranks = non_dominated_ranks([good, bad, good, bad], violations=[0.3, 0.0, 0.1, 0.3])
    assert ranks.tolist() == [2, 0, 1, 2]


def test_total_violation_sums_the_positive_parts():
    assert total_violation([[-1.0, 0.0], [0.5, -2.0], [0.5, 1.5]]).tolist() == [0.0, 0.5, 2.0]
    with pytest.raises(ValueError, match="NaN"):
        total_violation([[math.nan]])


def test_equal_points_share_a_rank_and_the_front():
    points = [[1.0, 2.0, 3.0]] * 3 + [[2.0, 3.0, 4.0]] * 2
    assert non_dominated_ranks(points).tolist() == [0, 0, 0, 1, 1]
    assert non_dominated_ranks(np.array(points)[:, :2]).tolist() == [0, 0, 0, 1, 1]
    assert hypervolume_contributions(points, [5.0, 5.0, 5.0]).tolist() == [0.0] * 5


def test_empty_and_single_inputs():
    assert non_dominated_ranks(np.empty((0, 2))).tolist() == []
    assert non_dominated_ranks([]).tolist() == []
    assert pareto_front_mask(np.empty((0, 3))).tolist() == []
    assert crowding_distance(np.empty((0, 2))).tolist() == []
    assert hypervolume([], [1.0, 1.0]) == 0.0
    assert hypervolume_contributions(np.empty((0, 2)), [1.0, 1.0]).tolist() == []
    assert non_dominated_ranks([[0.3, 0.4]]).tolist() == [0]
    assert crowding_distance([[0.3, 0.4]]).tolist() == [math.inf]
    assert hypervolume([[0.5, 0.25, 0.0]], [1.0, 1.0, 1.0]) == pytest.approx(0.375)
    assert hypervolume_contributions([[0.5, 0.25]], [1.0, 1.0]).tolist() == [0.375]


def test_nan_and_bad_shapes_are_refused_clearly():
    with pytest.raises(ValueError, match="NaN in row 1"):
        non_dominated_ranks([[0.0, 1.0], [math.nan, 0.0]])
    with pytest.raises(ValueError, match="NaN"):
        hypervolume([[math.nan, 0.0]], [1.0, 1.0])
    with pytest.raises(ValueError, match="2-D"):
        non_dominated_ranks([1.0, 2.0])
    with pytest.raises(ValueError, match=">= 0"):
        non_dominated_ranks([[0.0], [1.0]], violations=[0.0, -1.0])
    with pytest.raises(ValueError, match="one total per point"):
        non_dominated_ranks([[0.0], [1.0]], violations=[0.0])
    with pytest.raises(ValueError, match="reference point has 3"):
        hypervolume([[0.0, 0.0]], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        hypervolume([[0.0, 0.0]], [1.0, math.inf])
    with pytest.raises(ValueError, match="as many objectives"):
        dominates([0.0], [0.0, 1.0])


@st.composite
def distinct_columns(draw: st.DrawFn) -> np.ndarray:
    m, n = draw(st.integers(1, 4)), draw(st.integers(1, 12))
    columns = [draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n, unique=True)) for _ in range(m)]
    return np.array(columns, dtype=float).T


@SETTINGS
@given(distinct_columns())
def test_crowding_distance_matches_the_neighbour_formula(points):
    expected = np.zeros(len(points))
    for i, j in itertools.product(range(len(points)), range(points.shape[1])):
        column, value = points[:, j], points[i, j]
        below, above = column[column < value], column[column > value]
        if not below.size or not above.size:
            expected[i] = math.inf
        else:
            expected[i] += (above.min() - below.max()) / (column.max() - column.min())
    np.testing.assert_allclose(crowding_distance(points), expected, rtol=1e-12)


def test_an_objective_of_zero_range_adds_nothing_to_crowding():
    points = [[0.0, 7.0], [0.25, 7.0], [1.0, 7.0]]
    assert crowding_distance(points).tolist() == [math.inf, 1.0, math.inf]


@SETTINGS
@given(point_sets(max_points=8, min_objectives=2), st.sampled_from([0.8, 1.0, 1.2]))
def test_hypervolume_matches_inclusion_exclusion(points, bound):
    reference = np.full(points.shape[1], bound)
    assert hypervolume(points, reference) == pytest.approx(brute_hypervolume(points, reference), abs=1e-12)
    expected = [brute_hypervolume(points, reference) - brute_hypervolume(np.delete(points, i, axis=0), reference)
                for i in range(len(points))]
    np.testing.assert_allclose(hypervolume_contributions(points, reference), expected, atol=1e-12)


@pytest.mark.parametrize("objectives, count", [(2, 60), (3, 60), (4, 40)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hypervolume_matches_pymoo(objectives, count, seed):
    rng = np.random.default_rng(seed)
    directions = np.abs(rng.normal(size=(count, objectives)))
    front = directions / np.linalg.norm(directions, axis=1, keepdims=True)  # a concave front, all non-dominated
    points = np.vstack([front, front[: count // 4] + rng.uniform(0, 0.3, size=(count // 4, objectives))])
    reference = np.full(objectives, 1.1)
    expected = float(HV(ref_point=reference)(points))
    assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-9)
    ideal = np.zeros(objectives)
    assert normalized_hypervolume(points, reference, ideal) == pytest.approx(expected / 1.1 ** objectives, rel=1e-9)


def test_hypervolume_of_a_dense_zdt1_front_approaches_two_thirds():
    f1 = np.linspace(0.0, 1.0, 10_001)
    volume = hypervolume(np.column_stack([f1, 1.0 - np.sqrt(f1)]), [1.0, 1.0])
    assert 2 / 3 - 1e-4 < volume < 2 / 3


def test_points_outside_the_reference_box_add_nothing():
    assert hypervolume([[0.5, 1.0], [1.0, 0.5], [2.0, -5.0], [-math.inf, 3.0]], [1.0, 1.0]) == 0.0
    assert hypervolume([[0.5, 0.5], [0.5, 1.0]], [1.0, 1.0]) == pytest.approx(0.25)


def test_normalized_hypervolume_maps_the_box_to_the_unit_cube():
    reference, ideal = np.array([10.0, 3.0]), np.array([2.0, 1.0])
    assert normalized_hypervolume([ideal], reference, ideal) == 1.0
    assert normalized_hypervolume([ideal - 5.0], reference, ideal) == 1.0  # better than the ideal counts as it
    assert normalized_hypervolume([[6.0, 2.0]], reference, ideal) == pytest.approx(0.25)
    assert normalized_hypervolume([[11.0, 0.0]], reference, ideal) == 0.0
    with pytest.raises(ValueError, match="ideal must be below the reference"):
        normalized_hypervolume([[6.0, 2.0]], reference, [2.0, 3.0])
