"""NSGA2Sampler: conformance, seeded reproducibility, a ZDT1 front better than random search's, constraint
domination steering towards the feasible half, and categorical coordinates that stay on their choices."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

import zoomtune as zt
from zoomtune.errors import ConfigError
from zoomtune.pareto import normalized_hypervolume
from zoomtune.samplers import NSGA2Sampler, RandomSampler, SampleContext, Sampler
from zoomtune.samplers.nsga2 import polynomial_mutation, sbx_pair, select_elite
from zoomtune.testing.sampler_suite import MultiObjectiveSamplerConformance, SamplerConformance

ZDT_SPACE = zt.Space({f"x{i}": zt.Float(0.0, 1.0) for i in range(6)})


class TestNSGA2Conformance(SamplerConformance):
    def make_sampler(self, seed: int) -> Sampler:
        return NSGA2Sampler(population_size=8, seed=seed)


class TestNSGA2MultiObjectiveConformance(MultiObjectiveSamplerConformance):
    def make_sampler(self, seed: int) -> Sampler:
        return NSGA2Sampler(population_size=8, seed=seed)


def zdt1(trial: zt.Trial) -> tuple[float, float]:
    """ZDT1 in six dimensions: the front is f2 = 1 - sqrt(f1), reached where x1..x5 are 0."""
    x = [trial.params[f"x{i}"] for i in range(6)]
    g = 1.0 + 9.0 * sum(x[1:]) / 5.0
    return x[0], g * (1.0 - math.sqrt(x[0] / g))


def zdt1_study(sampler: Sampler, n_trials: int) -> zt.Study:
    study = zt.create_study(sampler=sampler, space=ZDT_SPACE, directions=["minimize", "minimize"])
    study.optimize(zdt1, n_trials=n_trials)
    return study


def front_quality(study: zt.Study) -> float:
    values = [t.values for t in study.trials if t.values is not None]
    return normalized_hypervolume(values, (1.1, 11.0), (0.0, 0.0))


def test_same_seed_same_trials_in_a_multi_objective_study() -> None:
    first = [t.params for t in zdt1_study(NSGA2Sampler(population_size=10, seed=5), 40).trials]
    again = [t.params for t in zdt1_study(NSGA2Sampler(population_size=10, seed=5), 40).trials]
    other = [t.params for t in zdt1_study(NSGA2Sampler(population_size=10, seed=6), 40).trials]
    assert first == again
    assert first[30:] != other[30:]


def test_proposal_does_not_depend_on_the_order_trials_finished_in() -> None:
    sampler = NSGA2Sampler(population_size=10, seed=2)
    history = zdt1_study(NSGA2Sampler(population_size=10, seed=9), 20).trials
    directions = (zt.Direction.MINIMIZE, zt.Direction.MINIMIZE)

    def propose(trials: list[zt.TrialRecord]) -> list[float]:
        context = SampleContext(25, zt.Direction.MINIMIZE, ZDT_SPACE, history=lambda: trials, directions=directions)
        return list(sampler.sample(ZDT_SPACE, context))

    assert propose(history) == propose(list(reversed(history)))
    # trials of the proposal's own generation (20..29) do not count
    later = zdt1_study(NSGA2Sampler(population_size=10, seed=9), 24).trials
    assert propose(later) == propose(history)


def test_zdt1_front_beats_random_search_median() -> None:
    nsga = front_quality(zdt1_study(NSGA2Sampler(population_size=20, seed=0), 200))
    random = sorted(front_quality(zdt1_study(RandomSampler(seed=s), 200)) for s in range(3))
    assert nsga > random[1], (nsga, random)


def test_constraint_steers_later_generations_to_the_feasible_half() -> None:
    def objective(trial: zt.Trial) -> tuple[float, float]:
        trial.set_constraint("x0_at_least_half", 0.5 - trial.params["x0"])  # excludes x0 < 0.5
        return zdt1(trial)

    study = zt.create_study(sampler=NSGA2Sampler(population_size=20, seed=1), space=ZDT_SPACE,
                            directions=["minimize", "minimize"])
    study.optimize(objective, n_trials=120)
    feasible = [t.feasible for t in study.trials]
    assert 0.2 < np.mean(feasible[:20]) < 0.8  # generation 0 is uniform: about half
    assert np.mean(feasible[80:]) > 0.85
    assert all(t.feasible for t in study.best_trials)


def test_categorical_coordinates_are_swapped_never_blended() -> None:
    space = zt.Space(x=zt.Float(0.0, 1.0), act=zt.Categorical(("relu", "tanh", "gelu")))
    history = [zt.TrialRecord(i, zt.TrialState.COMPLETE, {"x": i / 10, "act": ("relu", "gelu")[i % 2]},
                              dict(space.items()), value=float(i)) for i in range(10)]
    sampler = NSGA2Sampler(population_size=10, mutation_prob=0.0, crossover_prob=1.0, seed=0)
    seen = set()
    for number in range(10, 60):
        context = SampleContext(number, zt.Direction.MINIMIZE, space, history=lambda: history)
        point = sampler.sample(space, context)
        assert point[1] in (0.5 / 3, 1.5 / 3, 2.5 / 3)  # exactly a cell centre
        seen.add(space["act"].from_unit(point[1]))
    # blending relu's and gelu's cells would land in tanh's; swapping cannot
    assert seen == {"relu", "gelu"}


def test_categorical_params_stay_on_their_choices_in_a_study() -> None:
    space = zt.Space(x=zt.Float(-2.0, 2.0), width=zt.Categorical((8, 16, 32.5)))
    study = zt.create_study(sampler=NSGA2Sampler(population_size=6, seed=3), space=space)
    study.optimize(lambda t: (t.params["x"] - 1) ** 2 + (t.params["width"] != 16), n_trials=40)
    widths = [t.params["width"] for t in study.trials]
    assert set(widths) <= {8, 16, 32.5} and all(type(w) in (int, float) for w in widths)
    assert study.best_value < 0.2  # single-objective: it still minimises


def test_select_elite_keeps_the_front_and_its_extremes() -> None:
    values = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [0.45, 0.55], [2.0, 2.0], [0.0, 0.0]])
    chosen, ranks, _ = select_elite(values, np.array([0, 0, 0, 0, 0, 1.0]), 4)
    # the infeasible (0, 0) ranks last whatever its values; of the front the crowded middle point is cut
    assert sorted(chosen.tolist()) == [0, 1, 2, 3] and ranks.tolist() == [0, 0, 0, 0]
    chosen, _, _ = select_elite(values, np.zeros(6), 3)
    assert chosen.tolist()[0] == 5 and set(chosen.tolist()[1:]) <= {0, 2}


@pytest.mark.parametrize("eta", [0.5, 20.0])
def test_variation_operators_stay_in_the_unit_interval(eta: float) -> None:
    rng = np.random.default_rng(0)
    for x1, x2, u in rng.random((500, 3)):
        children: Sequence[float] = sbx_pair(float(x1), float(x2), float(u), eta)
        assert all(0.0 <= c <= 1.0 for c in children)
        assert 0.0 <= polynomial_mutation(float(x1), float(u), eta) <= 1.0
    assert sbx_pair(0.3, 0.3, 0.9, eta) == (0.3, 0.3)


@pytest.mark.parametrize("kwargs", [{"population_size": 1}, {"crossover_prob": 1.5}, {"swap_prob": -0.1},
                                    {"mutation_prob": 2}, {"eta_c": -1}, {"eta_m": float("nan")}])
def test_bad_arguments_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=f"NSGA2Sampler: {next(iter(kwargs))}"):
        NSGA2Sampler(**kwargs)  # type: ignore[arg-type]


def test_repr_names_every_setting() -> None:
    assert repr(NSGA2Sampler(seed=4)) == ("NSGA2Sampler(population_size=50, crossover_prob=0.9, swap_prob=0.5, "
                                           "mutation_prob=1/d, eta_c=20, eta_m=20, seed=4)")


def test_children_do_not_repeat_the_population_in_a_small_discrete_space() -> None:
    """Without crossover and mutation (or with integer coordinates rounding back) a child would copy its
    parent and spend a trial on a known result; NSGA-II mutates such a child until it is new."""
    space = zt.Space({"layers": zt.Int(1, 4), "units": zt.Int(16, 512, scale="log"),
                      "batchnorm": zt.Categorical([True, False]), "lr": zt.Float(1e-4, 1e-1, scale="log")})

    def objective(trial: zt.Trial) -> tuple[float, float]:
        p = trial.params
        size = p["layers"] * p["units"] + (0 if p["batchnorm"] else 50)
        return size, abs(math.log10(p["lr"]) + 2.5) + 1 / p["layers"]

    repeats = 0
    for seed in range(3):
        study = zt.create_study(directions=["minimize", "minimize"], space=space,
                                sampler=NSGA2Sampler(population_size=10, seed=seed))
        study.optimize(objective, n_trials=100)
        seen = [tuple(sorted(t.params.items())) for t in study.trials]
        repeats += len(seen) - len(set(seen))
    assert repeats <= 5, repeats  # 41 before children were checked against the population


def branchy(trial: zt.Trial) -> tuple[float, float]:
    """Three branches, each with its own parameters (some log-scaled); branch "a" near xa = 0.8 is best."""
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    if kind == "a":
        x = trial.suggest_float("xa", 0.0, 1.0)
        return (x - 0.8) ** 2, 1.0 - x
    if kind == "b":
        lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
        return 1.0 + lr, 1.0 - lr
    depth = trial.suggest_int("depth", 1, 64, scale="log")
    return 2.0 + trial.suggest_float("xc", 0.0, 1.0), 1.0 / depth


ASKED = {"a": {"kind", "xa"}, "b": {"kind", "lr"}, "c": {"kind", "depth", "xc"}}


@pytest.mark.parametrize("n_objectives", [1, 2])
def test_trials_keep_only_the_parameters_their_branch_asked_for(n_objectives: int) -> None:
    study = zt.create_study(sampler=NSGA2Sampler(population_size=8, seed=4),
                            directions=["minimize"] * n_objectives)
    study.optimize((lambda t: branchy(t)[0]) if n_objectives == 1 else branchy, n_trials=48)
    assert {t.params["kind"] for t in study.trials[8:]} == {"a", "b", "c"}  # children of every branch
    for t in study.trials:
        assert set(t.params) == ASKED[t.params["kind"]] == set(t.distributions), t.params
    best = study.best_params if n_objectives == 1 else study.best_trials[0].params
    assert set(best) == ASKED[best["kind"]]
    if n_objectives == 1:  # the best branch takes over the later generations (random: a third, 5 of 16)
        assert sum(t.params["kind"] == "a" for t in study.trials[32:]) >= 10


def test_a_parent_lacking_a_coordinate_takes_a_donors() -> None:
    space = zt.Space(kind=zt.Categorical(("a", "b")), xa=zt.Float(0.0, 1.0), xb=zt.Float(0.0, 1.0),
                     xc=zt.Float(0.0, 1.0))
    history = [zt.TrialRecord(i, zt.TrialState.COMPLETE,
                              {"kind": "a", "xa": 0.25} if i % 2 else {"kind": "b", "xb": 0.75},
                              dict(space.items()), value=float(i)) for i in range(10)]
    # no crossover and no mutation: a child copies its first parent, each coordinate it lacks from a member that
    # has it (every "a" has xa = 0.25, every "b" xb = 0.75), and xc, which no member has, from a fresh draw
    sampler = NSGA2Sampler(population_size=10, mutation_prob=0.0, crossover_prob=0.0, seed=0)
    children = [sampler.sample(space, SampleContext(number, zt.Direction.MINIMIZE, history=lambda: history))
                for number in range(10, 40)]
    assert {(child[1], child[2]) for child in children} == {(0.25, 0.75)}
    assert {space["kind"].from_unit(child[0]) for child in children} == {"a", "b"}
    assert len({child[3] for child in children}) == len(children) and not any(math.isnan(c[3]) for c in children)
