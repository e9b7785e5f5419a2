"""TPESampler with several objectives and with constraints: the good/bad split (rank, then hypervolume), the
conformance suite in a two-objective study, a ZDT1 front better than random search's, constraints steering the
search into the feasible region, and single-objective ranking unchanged."""

from __future__ import annotations

import itertools
import math

import numpy as np

import zoomtune as zt
from zoomtune.pareto import hypervolume, normalized_hypervolume
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.samplers import RandomSampler, Sampler, TPESampler
from zoomtune.samplers.ranking import REFERENCE, greedy_hypervolume_subset, hypervolume_weights, preference_order
from zoomtune.testing.sampler_suite import MultiObjectiveSamplerConformance

ZDT_SPACE = zt.Space({f"x{i}": zt.Float(0.0, 1.0) for i in range(6)})
MIN_MAX = (Direction.MINIMIZE, Direction.MAXIMIZE)


class TestTPEMultiObjectiveConformance(MultiObjectiveSamplerConformance):
    def make_sampler(self, seed: int) -> Sampler:
        return TPESampler(seed=seed, n_startup_trials=5)


def records(values: list[tuple[float, float]], violations: list[float] | None = None) -> list[TrialRecord]:
    """Two-objective COMPLETE trials (one parameter, x = its number / 100), optionally with one constraint each."""
    space = zt.Space(x=zt.Float(0.0, 1.0))
    out = []
    for number, vector in enumerate(values):
        constraints = {} if violations is None else {"c": violations[number]}
        out.append(TrialRecord(number, TrialState.COMPLETE, {"x": number / 100}, dict(space.items()), value=vector[0],
                               objective_values=vector, constraints=constraints))
    return out


def test_split_fills_the_good_group_rank_by_rank_and_cuts_the_last_rank_by_hypervolume() -> None:
    front = [(0.0, 10.0), (5.0, 5.0), (10.0, 0.0)]  # minimised objective, maximised one negated below
    second = [(2.0, 12.0), (2.1, 11.9), (7.0, 7.0), (12.0, 2.0), (6.9, 7.1)]  # every one dominated by the front
    third = [(20.0, 20.0)]
    values = front + second + third
    history = records([(a, -b) for a, b in values])  # the second objective is maximised in the study
    groups = TPESampler(gamma=lambda n: 5).groups(zt.Space(x=zt.Float(0.0, 1.0)), history, MIN_MAX)
    good = [t.number for t in groups.good]
    assert len(good) == 5 and good[:3] == [0, 1, 2]
    # the two rank-1 trials are the pair with the largest hypervolume (normalised to the rank's extent)
    points = np.array(second)
    scaled = (points - points.min(axis=0)) / (points.max(axis=0) - points.min(axis=0))
    best_pair = max(itertools.combinations(range(len(second)), 2),
                    key=lambda pair: hypervolume(scaled[list(pair)], (REFERENCE, REFERENCE)))
    assert sorted(good[3:]) == sorted(3 + i for i in best_pair)
    assert {t.number for t in groups.bad} == set(range(len(values))) - set(good)
    # the weights: the front's points by hypervolume contribution (the largest is 1), the dominated ones at the floor
    assert groups.good_weights is not None
    assert groups.good_weights[:3].max() == 1.0 and (groups.good_weights[:3] > 0.01).all()
    assert (groups.good_weights[3:] < 0.01).all()


def test_greedy_subset_takes_the_point_that_adds_most_first_and_skips_a_near_twin() -> None:
    values = np.array([(0.0, 1.0), (0.5, 0.5), (0.51, 0.49), (1.0, 0.0)])
    order = greedy_hypervolume_subset(values, 3)
    assert order[0] in (1, 2)  # the knee's box is the largest alone
    assert not {1, 2} <= set(order.tolist())  # its twin adds almost nothing once it is taken
    assert len(greedy_hypervolume_subset(values, 10)) == 4


def test_feasible_trials_rank_before_infeasible_ones_by_violation() -> None:
    values = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0)]
    violations = [2.0, 0.0, 0.5, 0.0, 1.0]
    order = preference_order(np.array(values), np.array(violations), 3).tolist()
    assert order == [1, 3, 2, 4, 0]  # feasible by value; infeasible by violation, whatever their values
    groups = TPESampler().groups(zt.Space(x=zt.Float(0.0, 1.0)), records(values, violations),
                                        (Direction.MINIMIZE, Direction.MINIMIZE))
    assert [t.number for t in groups.good] == [1]  # gamma(5) = 1
    # one objective: feasible ones by value first as well
    single = preference_order(np.array([[3.0], [1.0], [2.0], [0.0]]), np.array([0.0, 0.0, 0.0, 1.0]), 2)
    assert single.tolist() == [1, 2, 0, 3]


def test_single_objective_order_is_by_value_then_trial_number() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 5, size=40).astype(float)  # many ties
    order = preference_order(values.reshape(-1, 1), None, 4)
    assert order.tolist() == sorted(range(40), key=lambda i: (values[i], i))


def test_weights_without_a_feasible_front() -> None:
    assert hypervolume_weights(np.array([(0.0, 1.0), (1.0, 0.0)]), np.array([1.0, 2.0]), 1e-3).tolist() == [1, 1]
    assert hypervolume_weights(np.array([(0.0, 1.0), (1.0, 0.0)]), np.array([0.0, 2.0]), 1e-3).tolist() == [1, 1e-3]


def zdt1(trial: zt.Trial) -> tuple[float, float]:
    """ZDT1 in six dimensions: the front is f2 = 1 - sqrt(f1), reached where x1..x5 are 0."""
    x = [trial.params[f"x{i}"] for i in range(6)]
    g = 1.0 + 9.0 * sum(x[1:]) / 5.0
    return x[0], g * (1.0 - math.sqrt(x[0] / g))


def zdt1_study(sampler: Sampler, n_trials: int, constrained: bool = False) -> zt.Study:
    def objective(trial: zt.Trial) -> tuple[float, float]:
        if constrained:
            trial.set_constraint("x0_at_least_half", 0.5 - trial.params["x0"])
        return zdt1(trial)

    study = zt.create_study(sampler=sampler, space=ZDT_SPACE, directions=["minimize", "minimize"])
    study.optimize(objective, n_trials=n_trials)
    return study


def front_quality(study: zt.Study) -> float:
    values = [t.values for t in study.trials if t.values is not None and t.feasible]
    return normalized_hypervolume(values, (1.1, 11.0), (0.0, 0.0))


def test_zdt1_front_beats_random_search() -> None:
    tpe = sorted(front_quality(zdt1_study(TPESampler(seed=s), 80)) for s in range(3))
    random = sorted(front_quality(zdt1_study(RandomSampler(seed=s), 80)) for s in range(3))
    assert tpe[1] > random[2], (tpe, random)


def test_constraint_steers_the_search_into_the_feasible_region() -> None:
    # the feasible part of the front starts on the boundary x0 = 0.5: the constraint's density ratio keeps the
    # good group's kernels from spilling over it (without it about a third of the late trials did)
    def late_feasible_share(sampler: Sampler) -> float:
        late = zdt1_study(sampler, 70, constrained=True).trials[40:]
        return sum(t.feasible for t in late) / len(late)

    tpe, random = late_feasible_share(TPESampler(seed=1)), late_feasible_share(RandomSampler(seed=1))
    assert tpe >= 0.9 and random < 0.7, (tpe, random)


def test_constraint_in_a_single_objective_study_leads_away_from_a_better_infeasible_basin() -> None:
    space = zt.Space(x=zt.Float(0.0, 1.0), y=zt.Float(0.0, 1.0))

    def run(told: bool) -> tuple[float, zt.Study]:
        def objective(trial: zt.Trial) -> float:
            x, y = trial.params["x"], trial.params["y"]
            if told:
                trial.set_constraint("x_at_least_half", 0.5 - x)  # the better basin, at x = 0.2, is infeasible
            return min((x - 0.2) ** 2, (x - 0.8) ** 2 + 0.05) + (y - 0.5) ** 2

        study = zt.create_study(sampler=TPESampler(seed=0), space=space)
        study.optimize(objective, n_trials=50)
        return sum(t.params["x"] >= 0.5 for t in study.trials[30:]) / 20, study

    share, study = run(told=True)
    blind, _ = run(told=False)
    assert share >= 0.7 and blind <= 0.3, (share, blind)
    assert study.best_trial.feasible and study.best_value < 0.05 + 0.01  # the feasible optimum: 0.05 at (0.8, 0.5)
