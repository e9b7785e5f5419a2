import itertools

import numpy as np
import pytest
from scipy.stats import qmc

import zoomtune as zt
from zoomtune.samplers import GridSampler, RandomSampler, SobolSampler
from zoomtune.testing.sampler_suite import SPACE, SamplerConformance


class TestRandom(SamplerConformance):
    def make_sampler(self, seed):
        return RandomSampler(seed=seed)


class TestSobol(SamplerConformance):
    def make_sampler(self, seed):
        return SobolSampler(seed=seed)


class TestGrid(SamplerConformance):
    def make_sampler(self, seed):
        return GridSampler(SPACE, points=3, seed=seed)


def test_random_values_do_not_depend_on_suggest_order():
    def forward(t):
        return t.suggest_float("a", 0, 1) + t.suggest_float("b", 0, 1)

    def backward(t):
        return t.suggest_float("b", 0, 1) + t.suggest_float("a", 0, 1)

    runs = []
    for objective in (forward, backward):
        study = zt.create_study(sampler=RandomSampler(seed=5))
        study.optimize(objective, n_trials=5)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_unseeded_sampler_records_its_seed_so_a_run_can_be_repeated():
    first = zt.create_study(sampler=RandomSampler())
    first.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    again = zt.create_study(sampler=RandomSampler(seed=first.sampler.seed))
    again.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]


def test_grid_visits_every_lattice_point_once_per_cycle():
    space = zt.Space(lr=zt.Float(1e-4, 1.0, scale="log"), act=zt.Categorical(("relu", "tanh")))
    sampler = GridSampler(space, points=5, seed=2)
    assert sampler.size() == 10
    study = zt.create_study(sampler=sampler, space=space)
    study.optimize(lambda t: 0.0, n_trials=10)
    seen = {(t.params["lr"], t.params["act"]) for t in study.trials}
    expected = set(itertools.product([1e-4, 1e-3, 1e-2, 1e-1, 1.0], ["relu", "tanh"]))
    assert len(seen) == 10
    assert {(round(lr, 12), act) for lr, act in seen} == {(round(lr, 12), act) for lr, act in expected}


def test_grid_needs_a_space():
    study = zt.create_study(sampler=GridSampler())
    with pytest.raises(zt.SearchSpaceError, match="needs a declared space"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)


def test_sobol_covers_the_cube_more_evenly_than_random():
    space = zt.Space(**{f"x{i}": zt.Float(0, 1) for i in range(4)})

    def points(sampler):
        study = zt.create_study(sampler=sampler, space=space)
        study.optimize(lambda t: 0.0, n_trials=64)
        return np.array([[t.params[n] for n in space] for t in study.trials])

    sobol = qmc.discrepancy(points(SobolSampler(seed=0)))
    randoms = [qmc.discrepancy(points(RandomSampler(seed=s))) for s in range(5)]
    assert sobol < min(randoms)


class RecordingSampler(RandomSampler):
    uses_history = True

    def __init__(self, seed):
        super().__init__(seed)
        self.seen = []

    def sample(self, space, context):
        self.seen.append(tuple(space))
        return super().sample(space, context)


def test_history_samplers_get_the_inferred_joint_space_and_ranges_may_change():
    sampler = RecordingSampler(seed=0)
    study = zt.create_study(sampler=sampler)

    def objective(trial):
        high = 1.0 if trial.number < 3 else 0.5
        x = trial.suggest_float("x", 0.0, high)
        trial.suggest_int("k", 1, 3)
        if trial.number == 1:
            trial.suggest_float("only_once", 0, 1)
        return x

    study.optimize(objective, n_trials=5)
    assert ("x", "k") in sampler.seen  # after the first trials, x and k are sampled jointly
    assert all(t.state is zt.TrialState.COMPLETE for t in study.trials)
    assert all(t.params["x"] <= 0.5 for t in study.trials[3:])
    assert study.trials[4].distributions["x"] == zt.Float(0.0, 0.5)
