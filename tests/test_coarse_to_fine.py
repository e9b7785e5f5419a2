import math

import numpy as np

import pytest

import zoomtune as zt
from zoomtune.records import Direction, Event, ZoomPayload
from zoomtune.samplers import CoarseToFineSampler, RandomSampler
from zoomtune.samplers.base import SampleContext
from zoomtune.testing.sampler_suite import SPACE, SamplerConformance, bowl, define_by_run

XY = zt.Space(x=zt.Float(0.0, 1.0), y=zt.Float(0.0, 1.0))  # unit coordinates are the values


def trial(number, x, y, value):
    return zt.TrialRecord(number, zt.TrialState.COMPLETE, {"x": x, "y": y}, dict(XY.items()), value=value)


def stored_box(width, successes=0, failures=0):
    """Round 1's ZOOM event: one box centred on (0.5, 0.5), both sides `width`."""
    box = {"unit": {n: [0.5 - width / 2, 0.5 + width / 2] for n in "xy"}, "choices": {},
           "centre": {"x": 0.5, "y": 0.5}, "width": {"x": width, "y": width},
           "successes": successes, "failures": failures, "change": "new", "why": ""}
    return Event(ZoomPayload(round=1, names=["x", "y"], boxes=[box], n_trials=6, best=0.0, described=[""]))


def context(number, history, events):
    return SampleContext(number, Direction.MINIMIZE, XY, history=lambda: list(history),
                         events=lambda kind=None: list(events), add_event=events.append)


def round_two(sampler, round_one, first_box=None):
    """Round 2's stored boxes after round 0 (best trial at the box's centre, value 1) and `round_one`."""
    history = [trial(0, 0.5, 0.5, 1.0), *(trial(i, 0.05 * i, 0.9, 5.0) for i in range(1, 6)), *round_one]
    events = [first_box or stored_box(0.4)]
    boxes = sampler.boxes_for(XY, context(12, history, events))
    assert [e.payload.round for e in events] == [1, 2]
    return boxes


def sampler(**options):
    return CoarseToFineSampler(seed=0, round_size=6, explore=0.0, max_boxes=1, **options)


def test_box_grows_after_successes_and_moves_to_the_best():
    improving = [trial(6 + i, 0.5 + 0.02 * i, 0.5, 0.9 - 0.1 * i) for i in range(6)]
    [box] = round_two(sampler(), improving)
    assert box["change"] == "grew" and box["width"] == {"x": 1.6, "y": 1.6}  # two doublings of 0.4
    assert box["centre"] == {"x": 0.6, "y": 0.5} and box["successes"] == 0
    assert box["why"] == "2 x 3 improvements in a row"


def test_box_shrinks_after_failures():
    failing = [trial(6 + i, 0.45 + 0.01 * i, 0.55, 2.0) for i in range(6)]
    [box] = round_two(sampler(), failing)  # 4 failures in a row (2 parameters) halve, 2 are carried over
    assert box["change"] == "shrank" and box["width"] == {"x": 0.2, "y": 0.2} and box["failures"] == 2
    assert box["centre"] == {"x": 0.5, "y": 0.5} and box["unit"]["x"] == [0.4, 0.6]


def test_counters_carry_over_rounds():
    one_failure = [trial(6, 0.5, 0.45, 2.0)]
    [box] = round_two(sampler(), one_failure, stored_box(0.4, failures=3))
    assert box["change"] == "shrank" and box["failures"] == 0
    [box] = round_two(sampler(), one_failure, stored_box(0.4, failures=2))
    assert box["change"] == "kept" and box["failures"] == 3


def test_a_collapsed_box_restarts_on_the_best_trials_outside_it():
    failing = [trial(6 + i, 0.5, 0.5 + 0.005 * i, 2.0) for i in range(6)]
    [box] = round_two(sampler(min_width=0.15), failing, stored_box(0.2))
    assert box["change"] == "restarted" and "collapsed" in box["why"]
    assert box["centre"] != {"x": 0.5, "y": 0.5} and box["successes"] == box["failures"] == 0


def test_the_best_trial_outside_every_box_restarts_one_there():
    [box] = round_two(sampler(), [trial(6, 0.95, 0.05, -1.0)])
    assert box["change"] == "restarted" and box["centre"] == {"x": 0.95, "y": 0.05}


def test_a_box_with_the_same_best_trial_as_an_earlier_one_restarts():
    two = stored_box(0.4)
    wide = {**two.payload.boxes[0], "width": {"x": 0.6, "y": 0.6}}
    two = Event(ZoomPayload(round=1, names=["x", "y"], boxes=[two.payload.boxes[0], wide], n_trials=6, best=1.0,
                            described=["", ""]))
    boxes = round_two(CoarseToFineSampler(seed=0, round_size=6, explore=0.0), [], two)
    assert [b["change"] for b in boxes] == ["kept", "restarted"]
    assert boxes[1]["why"] == "same best trial as an earlier box" and boxes[1]["centre"] != boxes[0]["centre"]


def test_a_box_stored_by_older_code_is_read():
    old = Event(ZoomPayload(round=1, names=["x", "y"], boxes=[{"unit": {"x": [0.3, 0.7], "y": [0.3, 0.7]},
                                                              "choices": {}}], n_trials=6, best=1.0, described=[""]))
    [box] = round_two(sampler(), [trial(6 + i, 0.5, 0.45, 2.0) for i in range(4)], old)
    assert box["change"] == "shrank" and box["width"] == {"x": pytest.approx(0.2), "y": pytest.approx(0.2)}


def test_the_first_stored_round_wins_for_every_sampler():
    history = [trial(i, *np.random.default_rng(i).random(2), float(i)) for i in range(12)]
    events = []
    first = CoarseToFineSampler(seed=0, round_size=6).boxes_for(XY, context(6, history[:6], events))
    # another process, with more history by now, reads the boxes the first one stored
    assert CoarseToFineSampler(seed=0, round_size=6).boxes_for(XY, context(7, history, events)) == first
    assert len(events) == 1


def test_proposals_lie_in_their_box_and_repeat():
    history = [trial(i, *np.random.default_rng(i).random(2), float(i)) for i in range(15)]
    events = [stored_box(0.2)]
    history[0] = trial(0, 0.5, 0.5, -1.0)
    for number in (6, 7, 8):
        points = [sampler().sample(XY, context(number, history, events)) for _ in range(2)]
        assert points[0] == points[1]
        assert all(0.4 - 1e-9 <= u <= 0.6 + 1e-9 for u in points[0])




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
    width = zooms[0].payload.boxes[0]["unit"]["lr"][1] - zooms[0].payload.boxes[0]["unit"]["lr"][0]
    assert width < 1.0 and zooms[0].payload.boxes[0]["change"] == "new"
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
