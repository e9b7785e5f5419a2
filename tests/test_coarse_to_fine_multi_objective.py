import math

import numpy as np

import zoomtune as zt
from zoomtune import pareto
from zoomtune.samplers import CoarseToFineSampler, RandomSampler
from zoomtune.samplers.coarse_to_fine import _Scores
from zoomtune.testing.sampler_suite import MultiObjectiveSamplerConformance


class TestCoarseToFineMultiObjectiveConformance(MultiObjectiveSamplerConformance):
    n_trials = 12

    def make_sampler(self, seed):
        return CoarseToFineSampler(seed=seed, round_size=4)


def zdt1(u):
    g = 1.0 + 9.0 * float(np.mean(u[1:]))
    return u[0], g * (1.0 - math.sqrt(u[0] / g))


SPACE = zt.Space({f"x{i}": zt.Float(0.0, 1.0) for i in range(4)})


def unit(trial):
    return np.array([trial.params[f"x{i}"] for i in range(4)])


def zdt_study(sampler, n_trials, constrained=False):
    study = zt.create_study(directions=["minimize", "minimize"], sampler=sampler, space=SPACE)

    def objective(trial):
        if constrained:
            trial.set_constraint("x0_at_least_0.6", 0.6 - trial.params["x0"])
        return zdt1(unit(trial))

    study.optimize(objective, n_trials=n_trials)
    return study


def test_the_first_box_contains_the_pareto_set():
    study = zdt_study(CoarseToFineSampler(seed=0, round_size=10, max_boxes=1), 11)
    zoom = study.events(zt.EventKind.ZOOM)[0].payload
    first = study.trials[:10]
    values = np.array([t.values for t in first])
    front = [t for t, on in zip(first, pareto.pareto_front_mask(values), strict=True) if on]
    assert len(front) >= 2
    (box,) = zoom.boxes
    for trial in front:
        for name, (lo, hi) in box["unit"].items():
            assert lo - 1e-12 <= trial.params[name] <= hi + 1e-12, (name, trial.params[name], lo, hi)
    # the box is narrower than the cube where the front agrees: not the whole space again
    assert math.prod(hi - lo for lo, hi in box["unit"].values()) < 0.5


def test_same_seed_same_boxes():
    studies = [zdt_study(CoarseToFineSampler(seed=3, round_size=5), 16) for _ in range(2)]
    boxes = [[e.payload.boxes for e in study.events(zt.EventKind.ZOOM)] for study in studies]
    assert boxes[0] == boxes[1] and len(boxes[0]) == 3


def test_a_trial_succeeds_when_it_joins_its_box_front():
    objectives = np.array([[0.2, 0.8], [0.5, 0.5], [0.6, 0.6], [0.1, 0.95], [0.3, 0.3]])
    violations = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    scores = _Scores(np.zeros((5, 1)), np.zeros(5), np.arange(5), objectives, violations)
    assert not scores.improves(2, [0, 1], 0.0)  # dominated by row 1
    assert scores.improves(3, [0, 1, 2], 0.0)  # the front's new extreme
    assert not scores.improves(4, [0, 1], 0.0)  # infeasible: dominated by Deb's rule
    assert scores.improves(0, [], 0.0)


def test_beats_random_on_zdt1_at_a_small_budget():
    def hv(study):
        return pareto.normalized_hypervolume(np.array([t.values for t in study.trials]), (1.1, 11.0), (0.0, 0.0))

    ours = [hv(zdt_study(CoarseToFineSampler(seed=s, round_size=8), 24)) for s in (0, 1)]
    random = [hv(zdt_study(RandomSampler(seed=s), 24)) for s in (0, 1)]
    assert min(ours) > max(random), (ours, random)


def test_feasible_points_are_preferred_under_a_constraint():
    study = zdt_study(CoarseToFineSampler(seed=0, round_size=8), 24, constrained=True)
    later = study.trials[12:]
    assert sum(t.feasible for t in later) >= 0.7 * len(later), [round(t.params["x0"], 2) for t in later]
    assert all(t.feasible for t in study.best_trials)
