import math

import numpy as np

import zoomtune as zt
from zoomtune.samplers import CoarseToFineSampler, RandomSampler
from zoomtune.testing.sampler_suite import SPACE, bowl, define_by_run




from zoomtune.testing.sampler_suite import SamplerConformance  # noqa: E402


class TestCoarseToFineConformance(SamplerConformance):
    def make_sampler(self, seed):
        return CoarseToFineSampler(seed=seed, round_size=8)


def best_of_run(sampler, n_trials=60):
    study = zt.create_study(sampler=sampler, space=SPACE)
    study.optimize(lambda t: bowl(t.params), n_trials=n_trials)
    return study


def test_rounds_are_stored_and_zoom_in():
    study = best_of_run(CoarseToFineSampler(seed=1, round_size=15, margin=0.25, explore=0.0, max_boxes=1))
    zooms = study.events(zt.EventKind.ZOOM)
    assert [e.payload.round for e in zooms] == [1, 2, 3]
    widths = [e.payload.boxes[0]["unit"]["lr"][1] - e.payload.boxes[0]["unit"]["lr"][0] for e in zooms]
    assert widths[-1] < widths[0] < 1.0
    assert zooms[0].payload.described[0].startswith("lr in [")
    # every trial of a zoomed round lies in its box (explore=0)
    for event in zooms:
        box = event.payload.boxes[0]
        r = event.payload.round
        for trial in study.trials[15 * r:15 * (r + 1)]:
            u = SPACE["lr"].to_unit(trial.params["lr"])
            lo, hi = box["unit"]["lr"]
            assert lo - 1e-9 <= u <= hi + 1e-9
            assert SPACE["act"].index(trial.params["act"]) in box["choices"]["act"]


def test_coarse_to_fine_beats_random_on_the_same_budget():
    regrets = {"ctf": [], "random": []}
    for seed in range(7):
        regrets["ctf"].append(best_of_run(CoarseToFineSampler(seed=seed, round_size=15)).best_value)
        regrets["random"].append(best_of_run(RandomSampler(seed=seed)).best_value)
    assert np.median(regrets["ctf"]) < 0.6 * np.median(regrets["random"]), regrets


def test_two_separate_optima_get_two_boxes():
    def two_wells(trial):
        x = trial.suggest_float("x", 0, 1)
        y = trial.suggest_float("y", 0, 1)
        return min((x - 0.1) ** 2 + (y - 0.1) ** 2, (x - 0.9) ** 2 + (y - 0.9) ** 2)

    study = zt.create_study(sampler=CoarseToFineSampler(seed=3, round_size=40, top_fraction=0.25, margin=0.1))
    study.optimize(two_wells, n_trials=41)
    [zoom] = study.events(zt.EventKind.ZOOM)
    assert len(zoom.payload.boxes) == 2
    centres = sorted(np.mean(b["unit"]["x"]) for b in zoom.payload.boxes)
    assert centres[0] < 0.35 and centres[1] > 0.65


def test_worker_processes_share_each_rounds_box(sqlite_url):
    study = zt.create_study("ctf", storage=sqlite_url, sampler=CoarseToFineSampler(seed=0, round_size=6),
                            space=SPACE)
    study.optimize(lambda t: bowl(t.params), n_trials=24, n_jobs=2)
    assert len(study.trials) == 24
    rounds = [e.payload.round for e in study.events(zt.EventKind.ZOOM)]
    assert set(rounds) == {1, 2, 3}


def test_narrowing_the_space_keeps_old_trials():
    sampler = CoarseToFineSampler(seed=0, round_size=10, explore=0.0, max_boxes=1)
    study = zt.create_study(sampler=sampler)
    study.optimize(lambda t: abs(math.log10(t.suggest_float("lr", 1e-5, 1.0, scale="log")) + 2), n_trials=20)
    study.optimize(lambda t: abs(math.log10(t.suggest_float("lr", 1e-3, 1e-1, scale="log")) + 2), n_trials=10)
    assert len(study.trials) == 30
    assert all(1e-3 <= t.params["lr"] <= 1e-1 for t in study.trials[20:])
    last = study.events(zt.EventKind.ZOOM)[-1].payload
    assert last.round == 2 and last.n_trials > 10  # old trials inside the new range still count


def test_define_by_run_works():
    study = zt.create_study(sampler=CoarseToFineSampler(seed=0, round_size=10))
    study.optimize(define_by_run, n_trials=30)
    assert len(study.events(zt.EventKind.ZOOM)) == 2
