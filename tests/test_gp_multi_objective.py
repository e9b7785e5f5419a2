import math

import numpy as np
import pytest

import zoomtune as zt
from zoomtune import pareto
from zoomtune.records import Direction
from zoomtune.samplers import GPSampler, RandomSampler
from zoomtune.samplers import _gp_math as gpm
from zoomtune.samplers.gp import observations
from zoomtune.testing.sampler_suite import MultiObjectiveSamplerConformance


class TestGPMultiObjectiveConformance(MultiObjectiveSamplerConformance):
    n_trials = 10

    def make_sampler(self, seed):
        return GPSampler(seed=seed, n_startup_trials=6, n_candidates=64, n_polish=2)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with gpm.one_blas_thread():
        yield


def zdt1(u):
    g = 1.0 + 9.0 * float(np.mean(u[1:]))
    return u[0], g * (1.0 - math.sqrt(u[0] / g))


ZDT_SPACE = zt.Space({f"x{i}": zt.Float(0.0, 1.0) for i in range(4)})


def zdt_hypervolume(sampler, n_trials):
    study = zt.create_study(directions=["minimize", "minimize"], sampler=sampler, space=ZDT_SPACE)
    study.optimize(lambda t: zdt1(np.array([t.params[f"x{i}"] for i in range(4)])), n_trials=n_trials)
    values = np.array([t.values for t in study.trials])
    return pareto.normalized_hypervolume(values, (1.1, 11.0), (0.0, 0.0))


# -- the maths --------------------------------------------------------------------------------

@pytest.mark.parametrize("objectives", [2, 3, 4])
def test_boxes_cover_exactly_what_the_front_does_not_dominate(objectives):
    rng = np.random.default_rng(objectives)
    points = rng.random((40, objectives))
    front = points[pareto.pareto_front_mask(points)]
    reference = np.full(objectives, 1.1)
    lower, upper = gpm.non_dominated_boxes(points, reference)  # dominated points may be passed too
    assert (lower < upper).all()
    ideal = np.full(objectives, -0.5)
    volume = float(np.prod(upper - np.maximum(lower, ideal), axis=1).sum())
    assert volume == pytest.approx(np.prod(reference - ideal) - pareto.hypervolume(front, reference), rel=1e-12)
    # disjoint: a random point of the box lies in at most one box, and in none iff the front dominates it
    z = ideal + rng.random((500, objectives)) * (reference - ideal)
    count = ((z[:, None, :] >= lower[None]) & (z[:, None, :] < upper[None])).all(axis=2).sum(axis=1)
    dominated = (z[:, None, :] >= front[None]).all(axis=2).any(axis=1)
    assert (count <= 1).all() and ((count == 0) == dominated).all()


def test_log_ehvi_is_the_mean_hypervolume_improvement():
    rng = np.random.default_rng(0)
    front = np.array([[0.1, 0.9], [0.4, 0.5], [0.8, 0.2]])
    reference = np.array([1.0, 1.0])
    lower, upper = gpm.non_dominated_boxes(front, reference)
    means = np.array([[0.3, 0.4], [0.9, 0.9], [0.05, 0.95]])
    variances = np.array([[0.01, 0.02], [0.003, 0.003], [0.001, 0.004]])
    exact = np.exp(gpm.log_ehvi(means, variances, lower, upper))
    base = pareto.hypervolume(front, reference)
    for mean, var, value in zip(means, variances, exact, strict=True):
        samples = mean + np.sqrt(var) * rng.standard_normal((1500, 2))
        estimate = np.mean([pareto.hypervolume(np.vstack([front, s]), reference) - base for s in samples])
        assert value == pytest.approx(estimate, rel=0.15, abs=1e-4)
    far = gpm.log_ehvi(np.array([[40.0, 40.0]]), np.array([[1e-4, 1e-4]]), lower, upper)
    assert np.isfinite(far).all() or far[0] == -np.inf  # no NaN far from every box


# -- the sampler ------------------------------------------------------------------------------

def test_observations_flip_maximised_objectives_and_keep_constraints():
    study = zt.create_study(directions=["minimize", "maximize"], space=ZDT_SPACE)
    for i in range(3):
        trial = study.ask()
        trial.set_constraint("c", i - 1.0)
        study.tell(trial, (float(i), 10.0 * i))
    observed = observations(ZDT_SPACE, study.trials, (Direction.MINIMIZE, Direction.MAXIMIZE))
    assert observed.y.tolist() == [[0.0, 0.0], [1.0, -10.0], [2.0, -20.0]]
    assert observed.violations().tolist() == [0.0, 0.0, 1.0]
    assert observed.order().tolist() == [0, 1, 2]  # two feasible non-dominated, then the infeasible one


def test_beats_random_on_zdt1_at_a_small_budget():
    ours = [zdt_hypervolume(GPSampler(seed=s, n_startup_trials=8, n_candidates=128, n_polish=2), 20) for s in (0, 1)]
    random = [zdt_hypervolume(RandomSampler(seed=s), 20) for s in (0, 1)]
    assert min(ours) > max(random), (ours, random)


def test_feasible_points_are_preferred_under_a_constraint():
    # the unconstrained front wants x0 small; only x0 >= 0.6 is feasible (40% of a uniform draw)
    study = zt.create_study(directions=["minimize", "minimize"], space=ZDT_SPACE,
                            sampler=GPSampler(seed=0, n_startup_trials=8, n_candidates=128, n_polish=2))

    def objective(trial):
        u = np.array([trial.params[f"x{i}"] for i in range(4)])
        trial.set_constraint("x0_at_least_0.6", 0.6 - u[0])
        return zdt1(u)

    study.optimize(objective, n_trials=22)
    later = study.trials[8:]
    assert sum(t.feasible for t in later) >= 0.8 * len(later), [round(t.params["x0"], 2) for t in later]
    assert study.best_trials and all(t.feasible for t in study.best_trials)


def test_single_objective_constraint_is_respected():
    space = zt.Space(x=zt.Float(0.0, 1.0), y=zt.Float(0.0, 1.0))
    study = zt.create_study(space=space, sampler=GPSampler(seed=1, n_startup_trials=6, n_candidates=128))

    def objective(trial):
        trial.set_constraint("x_at_least_0.5", 0.5 - trial.params["x"])  # the unconstrained optimum is x = 0
        return trial.params["x"] ** 2 + (trial.params["y"] - 0.3) ** 2

    study.optimize(objective, n_trials=18)
    later = study.trials[6:]
    assert sum(t.feasible for t in later) >= 0.75 * len(later)
    assert study.best_trial.feasible and study.best_value < 0.25 + 0.02
