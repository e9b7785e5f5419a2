import math
from collections import Counter

import pytest

import zoomtune as zt
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.schedulers import ASHA, Decision, Hyperband, MedianStopping, ScheduleContext
from zoomtune.schedulers.asha import is_rung

MIN, MAX = Direction.MINIMIZE, Direction.MAXIMIZE
CONTINUE, STOP = Decision.CONTINUE, Decision.STOP


def rec(number, values, state=TrialState.COMPLETE):
    """A trial record; `values` is a list (steps 0, 1, ...) or a dict step -> value."""
    values = dict(enumerate(values)) if isinstance(values, list) else dict(values)
    return TrialRecord(number, state, {}, {}, intermediate_values=values)


def running(number, values):
    return rec(number, values, TrialState.RUNNING)


def ctx(direction, history):
    return ScheduleContext(direction, lambda: list(history))


def flip(values):
    """The same ranking for MAXIMIZE: negate everything."""
    return [-v for v in values] if isinstance(values, list) else {s: -v for s, v in values.items()}


# -- MedianStopping ------------------------------------------------------------------------------

FIVE_DONE = [rec(i, [1.0 + i, 0.5 + i]) for i in range(5)]  # at step 0: 1..5 (median 3); step 1 best: 0.5..4.5


@pytest.mark.parametrize("direction", [MIN, MAX])
def test_median_stops_a_trial_worse_than_the_median_at_its_step(direction):
    sign = 1 if direction is MIN else -1
    history = [rec(t.number, flip(t.intermediate_values) if sign < 0 else t.intermediate_values) for t in FIVE_DONE]
    rule = MedianStopping(n_startup_trials=5, seed=0)
    assert rule.decide(running(9, [sign * 3.5]), ctx(direction, history)) is STOP
    assert rule.decide(running(9, [sign * 2.5]), ctx(direction, history)) is CONTINUE
    assert rule.decide(running(9, [sign * 3.0]), ctx(direction, history)) is CONTINUE  # equal is not worse
    # best so far counts, not the latest value: 2.0 at step 0 beats the step-1 median 2.5
    assert rule.decide(running(9, [sign * 2.0, sign * 9.0]), ctx(direction, history)) is CONTINUE
    assert rule.decide(running(9, [sign * 2.8, sign * 2.7]), ctx(direction, history)) is STOP


def test_median_uses_the_others_best_so_far_and_only_trials_that_reached_the_step():
    history = [*FIVE_DONE, rec(5, [0.0]), rec(6, [0.0]), rec(7, [0.0])]  # good, but never reported step 1
    rule = MedianStopping(n_startup_trials=5, seed=0)
    assert rule.decide(running(9, [2.5]), ctx(MIN, history)) is STOP  # step 0: median of 0, 0, 0, 1..5 is 1.5
    assert rule.decide(running(9, [9.0, 2.4]), ctx(MIN, history)) is CONTINUE  # step 1: median 2.5
    # a peer's best so far at step 1 is min(its step 0, step 1): 0.0 then 7.0 gives 0.0
    history += [rec(10, [0.0, 7.0]), rec(11, [0.0, 7.0])]
    assert rule.decide(running(9, [9.0, 2.4]), ctx(MIN, history)) is STOP  # step 1: median of 0, 0, 0.5..4.5 is 1.5


def test_median_waits_for_finished_startup_trials():
    rule = MedianStopping(n_startup_trials=3, seed=0)
    history = [rec(0, [1.0]), rec(1, [1.0], TrialState.STOPPED), rec(2, [1.0], TrialState.RUNNING),
               rec(3, [1.0], TrialState.FAILED)]
    assert rule.decide(running(9, [5.0]), ctx(MIN, history)) is CONTINUE  # 2 finished (COMPLETE, STOPPED)
    history.append(rec(4, [1.0], TrialState.STOPPED))
    assert rule.decide(running(9, [5.0]), ctx(MIN, history)) is STOP
    assert rule.decide(running(9, [5.0]), ctx(MIN, [])) is CONTINUE


def test_median_warmup_and_interval():
    history = [rec(i, [1.0] * 10) for i in range(5)]
    rule = MedianStopping(n_startup_trials=5, n_warmup_steps=2, interval_steps=2, seed=0)
    decisions = [rule.decide(running(9, [5.0] * (s + 1)), ctx(MIN, history)) for s in range(7)]
    assert decisions == [CONTINUE, CONTINUE, STOP, CONTINUE, STOP, CONTINUE, STOP]


def test_median_ignores_a_stale_copy_of_the_trial_itself_and_stops_nan():
    rule = MedianStopping(n_startup_trials=1, seed=0)
    history = [rec(0, [1.0, 1.0]), running(9, [9.0, 9.0, 9.0])]  # a stale copy of trial 9 would raise the median
    assert rule.decide(running(9, [2.0]), ctx(MIN, history)) is STOP
    assert rule.decide(running(9, [math.nan]), ctx(MAX, history)) is STOP
    assert rule.decide(running(9, [math.nan, 3.0]), ctx(MAX, history)) is CONTINUE


# -- ASHA ----------------------------------------------------------------------------------------

def test_rungs_are_min_resource_times_powers_of_eta_below_max():
    assert [r for r in range(1, 100) if is_rung(r, 1, 3, None)] == [1, 3, 9, 27, 81]
    assert [r for r in range(1, 100) if is_rung(r, 2, 2, 20)] == [2, 4, 8, 16]
    assert [r for r in range(1, 100) if is_rung(r, 1, 3, 27)] == [1, 3, 9]


@pytest.mark.parametrize("direction", [MIN, MAX])
def test_asha_keeps_the_top_third_at_a_rung(direction):
    sign = 1 if direction is MIN else -1
    # eight other trials reached resource 3 (step 2); smaller is better when minimizing
    history = [running(i, [9.0, 9.0, sign * float(i)]) for i in range(1, 9)]
    asha = ASHA(min_resource=1, reduction_factor=3, seed=0)
    at_rung = [asha.decide(running(20, [0.0, 0.0, sign * v]), ctx(direction, history)) for v in (0.5, 2.5, 3.5)]
    assert at_rung == [CONTINUE, CONTINUE, STOP]  # 9 values: 3 go on; 2.5 has two better, 3.5 three
    assert asha.decide(running(20, [0.0, sign * 99.0]), ctx(direction, history)) is CONTINUE  # between rungs
    assert asha.decide(running(20, [sign * 99.0]), ctx(direction, history[:2])) is STOP  # 3 values: only 1 goes on
    assert asha.decide(running(20, [sign * 99.0]), ctx(direction, history[:1])) is CONTINUE  # fewer than eta


def test_asha_first_rung_and_the_asynchronous_rule():
    asha = ASHA(min_resource=1, reduction_factor=3, seed=0)
    history = [running(0, [5.0]), running(1, [4.0])]
    assert asha.decide(running(2, [6.0]), ctx(MIN, history)) is STOP  # 3 values at step 0, worst of them
    assert asha.decide(running(2, [3.0]), ctx(MIN, history)) is CONTINUE
    assert asha.decide(running(2, [6.0]), ctx(MIN, history[:1])) is CONTINUE  # only 2 reached the rung
    # values at other steps and the trial's own stale copy don't count
    history = [running(0, {1: 0.0, 3: 0.0}), running(1, [1.0]), running(2, {0: 1.0})]
    assert asha.decide(running(2, [6.0]), ctx(MIN, history)) is CONTINUE


def test_asha_counts_stopped_and_complete_trials_and_respects_max_resource():
    history = [rec(i, [float(i)] * 9, state) for i, state in enumerate([TrialState.STOPPED, TrialState.COMPLETE])]
    assert ASHA(seed=0).decide(running(5, [7.0] * 9), ctx(MIN, history)) is STOP  # step 8 = resource 9
    assert ASHA(max_resource=9, seed=0).decide(running(5, [7.0] * 9), ctx(MIN, history)) is CONTINUE
    assert ASHA(min_resource=3, seed=0).decide(running(5, [7.0]), ctx(MIN, history)) is CONTINUE  # no rung at 1
    assert ASHA(min_resource=3, seed=0).decide(running(5, [7.0] * 3), ctx(MIN, history)) is STOP
    assert ASHA(seed=0).decide(running(5, [math.nan]), ctx(MAX, history)) is STOP


@pytest.mark.parametrize("kwargs, field", [({"min_resource": 0}, "min_resource"),
                                           ({"reduction_factor": 1}, "reduction_factor"),
                                           ({"min_resource": 3, "max_resource": 2}, "max_resource"),
                                           ({"min_resource": 1.5}, "min_resource")])
def test_asha_and_hyperband_validate_resources(kwargs, field):
    with pytest.raises(zt.ConfigError, match=f"^ASHA: {field}: must be an integer >= "):
        ASHA(**kwargs)
    with pytest.raises(zt.ConfigError, match=f"^Hyperband: {field}: must be an integer >= "):
        Hyperband(**{"max_resource": 81, **kwargs})


# -- Hyperband -----------------------------------------------------------------------------------

def test_hyperband_brackets_follow_the_paper():
    hb = Hyperband(min_resource=1, max_resource=81, reduction_factor=3, seed=0)
    assert hb.s_max == 4 and hb.bracket_min_resources() == [1, 3, 9, 27, 81]
    assert hb.bracket_weights() == [81, 34, 15, 8, 5]
    small = Hyperband(min_resource=2, max_resource=20, reduction_factor=2, seed=0)
    assert small.bracket_min_resources() == [2, 4, 8, 16]


def test_hyperband_assignment_is_deterministic_and_proportional_to_budgets():
    numbers = range(6000)
    a = [Hyperband(seed=7).bracket(n) for n in numbers]
    assert a == [Hyperband(seed=7).bracket(n) for n in numbers]
    assert a != [Hyperband(seed=8).bracket(n) for n in numbers]
    counts = Counter(a)
    for b, weight in enumerate([81, 34, 15, 8, 5]):
        assert abs(counts[b] / len(numbers) - weight / 143) < 0.02


def numbers_in(hb, bracket, count):
    return [n for n in range(1000) if hb.bracket(n) == bracket][:count]


@pytest.mark.parametrize("direction", [MIN, MAX])
def test_hyperband_compares_only_within_a_bracket(direction):
    sign = 1 if direction is MIN else -1
    hb = Hyperband(min_resource=1, max_resource=27, reduction_factor=3, seed=3)
    me, *peers = numbers_in(hb, 0, 3)
    strangers = numbers_in(hb, 1, 2) + numbers_in(hb, 2, 2)
    same = [running(n, [sign * 1.0]) for n in peers]
    other = [running(n, [sign * 1.0]) for n in strangers]
    assert hb.decide(running(me, [sign * 2.0]), ctx(direction, same)) is STOP
    assert hb.decide(running(me, [sign * 0.5]), ctx(direction, same)) is CONTINUE
    assert hb.decide(running(me, [sign * 2.0]), ctx(direction, other)) is CONTINUE


def test_hyperband_bracket_sets_the_first_rung():
    hb = Hyperband(min_resource=1, max_resource=27, reduction_factor=3, seed=3)
    me, *peers = numbers_in(hb, 1, 3)  # bracket 1: rungs at resources 3 and 9
    history = [running(n, [1.0] * 9) for n in peers]
    assert hb.decide(running(me, [2.0]), ctx(MIN, history)) is CONTINUE
    assert hb.decide(running(me, [2.0] * 3), ctx(MIN, history)) is STOP
    assert hb.decide(running(me, [2.0] * 9), ctx(MIN, history)) is STOP
    top, *rest = numbers_in(hb, 3, 3)  # the last bracket never stops anyone
    assert all(hb.decide(running(top, [9.0] * s), ctx(MIN, [running(n, [0.0] * 27) for n in rest])) is CONTINUE
               for s in range(1, 28))


# -- end to end ----------------------------------------------------------------------------------

STEPS, TRIALS = 27, 40


def learning_curve(trial):
    """Validation accuracy that saturates; quality and speed depend on the learning rate."""
    lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    dropout = trial.suggest_float("dropout", 0.0, 0.8)
    quality = 0.95 - 0.06 * (math.log10(lr) + 2) ** 2 - 0.3 * (dropout - 0.3) ** 2
    rate = 0.2 * (1 + 0.1 * math.log10(lr))
    value = 0.0
    for step in range(STEPS):
        value = quality * (1 - math.exp(-rate * (step + 1))) + 0.003 * math.sin(3 * step + trial.number)
        trial.report(value, step)
        if trial.should_stop():
            raise zt.TrialStopped()
    return value


def run(scheduler):
    study = zt.create_study(direction="maximize", scheduler=scheduler, sampler=zt.samplers.RandomSampler(seed=0))
    study.optimize(learning_curve, n_trials=TRIALS)
    return study


@pytest.fixture(scope="module")
def baseline():
    study = run(None)
    assert all(t.state is zt.TrialState.COMPLETE for t in study.trials)
    return study


@pytest.mark.parametrize("scheduler", [
    ASHA(min_resource=1, reduction_factor=3, max_resource=STEPS, seed=0),
    MedianStopping(n_startup_trials=5, seed=0),
    Hyperband(min_resource=1, max_resource=STEPS, reduction_factor=3, seed=0),
], ids=repr)
def test_schedulers_stop_bad_trials_early_and_keep_a_good_one(scheduler, baseline):
    study = run(scheduler)
    trials = study.trials
    stopped = [t for t in trials if t.state is zt.TrialState.STOPPED]
    assert len(trials) == TRIALS and len(stopped) >= TRIALS // 2
    assert all(len(t.intermediate_values) < STEPS for t in stopped)
    assert sum(len(t.intermediate_values) for t in trials) < TRIALS * STEPS / 3
    assert study.best_trial.state is zt.TrialState.COMPLETE and len(study.best_trial.intermediate_values) == STEPS
    assert study.best_value >= baseline.best_value - 0.02
    # the same seeds give the same run
    assert [t.state for t in run(scheduler).trials] == [t.state for t in trials]
