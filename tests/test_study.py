import math
import time

import pytest

import zoomtune as zt
from helpers import ran_at_the_same_time, wait_for
from zoomtune.schedulers import Decision, Scheduler


def quadratic(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


def test_optimize_finds_the_minimum_and_records_everything():
    study = zt.create_study(direction="minimize", sampler=zt.samplers.RandomSampler(seed=0))
    study.optimize(quadratic, n_trials=100)
    assert len(study.trials) == 100
    assert abs(study.best_params["x"] - 2) < 0.3
    assert study.best_value == min(t.value for t in study.trials)
    assert [t.number for t in study.trials] == list(range(100))


def test_maximize_picks_the_largest_value():
    study = zt.create_study(direction="maximize", sampler=zt.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: -quadratic(t), n_trials=30)
    assert study.best_value == max(t.value for t in study.trials)


def test_same_name_same_value_and_conflicts_are_errors():
    trial = zt.create_study().ask()
    a = trial.suggest_float("lr", 1e-4, 1, scale="log")
    assert trial.suggest_float("lr", 1e-4, 1, log=True) == a
    with pytest.raises(zt.SearchSpaceError, match="parameter 'lr': it was already defined"):
        trial.suggest_float("lr", 1e-3, 1, scale="log")
    with pytest.raises(zt.SearchSpaceError, match="parameter 'lr'"):
        trial.suggest_int("lr", 1, 10)


def test_exceptions_and_nan_fail_the_trial_and_the_study_goes_on():
    def objective(trial):
        x = trial.suggest_int("x", 0, 2)
        trial.report(0.5, step=0)
        if trial.number == 1:
            raise RuntimeError("out of memory")
        if trial.number == 2:
            return float("nan")
        if trial.number == 3:
            return None
        return x

    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=6)
    states = [t.state for t in study.trials]
    assert states.count(zt.TrialState.FAILED) == 3 and states.count(zt.TrialState.COMPLETE) == 3
    assert study.trial(1).error == "RuntimeError: out of memory"
    assert study.trial(2).error == "objective returned nan"
    assert "objective returned None" in study.trial(3).error
    assert study.trial(1).params == {"x": study.trial(1).params["x"]} and study.trial(1).intermediate_values == {0: 0.5}


def test_exceptions_outside_catch_propagate_after_marking_failed():
    study = zt.create_study()
    with pytest.raises(KeyError):
        study.optimize(lambda t: {}["missing"], n_trials=3, catch=(ValueError,))
    assert [t.state for t in study.trials] == [zt.TrialState.FAILED]


def test_search_space_error_raises_at_once_instead_of_failing_every_trial():
    study = zt.create_study()
    with pytest.raises(zt.SearchSpaceError, match="parameter 'lr'"):
        study.optimize(lambda t: t.suggest_float("lr", 0, 1, scale="log"), n_trials=50)
    assert len(study.trials) == 1 and study.trials[0].state is zt.TrialState.FAILED


def test_trial_stopped_keeps_the_last_value():
    def objective(trial):
        for step in range(5):
            trial.report(step * 1.5, step)
            if step == 2:
                raise zt.TrialStopped()
        return 99.0

    study = zt.create_study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state is zt.TrialState.STOPPED and trial.value == 3.0 and trial.intermediate_values == {
        0: 0.0, 1: 1.5, 2: 3.0}


class StopAfterTwoReports(Scheduler):
    def decide(self, trial, context):
        return Decision.STOP if len(trial.intermediate_values) >= 2 else Decision.CONTINUE


def test_should_stop_reflects_the_scheduler():
    def objective(trial):
        for step in range(10):
            trial.report(float(step), step)
            if trial.should_stop():
                raise zt.TrialStopped()
        return 10.0

    study = zt.create_study(scheduler=StopAfterTwoReports(seed=0))
    study.optimize(objective, n_trials=2)
    assert all(t.state is zt.TrialState.STOPPED and len(t.intermediate_values) == 2 for t in study.trials)
    assert zt.create_study().ask().should_stop() is False


def test_ask_tell_and_enqueue():
    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=1))
    number = study.enqueue({"x": 0.25})
    assert study.trial(number).state is zt.TrialState.WAITING
    trial = study.ask()
    assert trial.number == number and trial.suggest_float("x", 0, 1) == 0.25
    record = study.tell(trial, 1.0)
    assert record.state is zt.TrialState.COMPLETE and study.trial(number).params == {"x": 0.25}
    fresh = study.ask()
    assert fresh.number == number + 1
    with pytest.raises(RuntimeError, match="trial 0 is COMPLETE"):
        trial.report(1.0, 1)


def test_enqueued_value_outside_the_distribution_is_an_error():
    study = zt.create_study()
    study.enqueue({"x": 5.0})
    with pytest.raises(zt.SearchSpaceError, match="parameter 'x': the enqueued value must lie in"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    declared = zt.create_study(space=zt.Space(x=zt.Float(0, 1)))
    with pytest.raises(zt.SearchSpaceError, match="parameter 'x'"):
        declared.enqueue({"x": 5.0})


def test_declared_space_is_sampled_up_front_and_stored():
    space = zt.Space(lr=zt.Float(1e-4, 1, scale="log"), act=zt.Categorical(("relu", "tanh")))
    study = zt.create_study(space=space, sampler=zt.samplers.RandomSampler(seed=0))
    trial = study.ask()
    assert set(trial.params) == {"lr", "act"}
    assert trial.suggest_float("lr", 1e-4, 1, scale="log") == trial.params["lr"]
    study.tell(trial, 0.0)
    assert study.trials[0].distributions == dict(space)


def test_timeout_stops_starting_trials():
    study = zt.create_study()
    first_began = []

    def objective(trial):
        if trial.number == 0:  # after optimize started its clock: the timeout ends by this + 0.5 s
            first_began.append(time.monotonic())
        elif trial.number == 1:  # still running when the timeout passes, and left to finish
            wait_for(lambda: time.monotonic() > first_began[0] + 0.5, "the timeout to pass")
        else:  # a BaseException is not caught: optimize raises it and the test fails
            pytest.fail(f"trial {trial.number} started after the timeout")
        return 0.0

    study.optimize(objective, timeout=0.5)
    assert [(t.number, t.state) for t in study.trials] == [(0, zt.TrialState.COMPLETE), (1, zt.TrialState.COMPLETE)]


def test_callbacks_see_every_finished_trial():
    seen = []
    study = zt.create_study()
    study.optimize(quadratic, n_trials=7, callbacks=[lambda s, record: seen.append((s.name, record.number))])
    assert seen == [(study.name, n) for n in range(7)]


def test_threads_run_trials_side_by_side():
    import threading
    from collections import Counter

    study = zt.create_study()
    four_at_once = threading.Barrier(4)  # a trial gets past it only when four threads run a trial each

    def objective(trial):
        trial.set_user_attr("thread", threading.current_thread().name)
        four_at_once.wait(timeout=60)
        return trial.number

    before = set(threading.enumerate())
    study.optimize(objective, n_trials=8, n_jobs=4)
    trials = study.trials
    assert sorted(t.number for t in trials) == list(range(8))
    assert all(t.state is zt.TrialState.COMPLETE for t in trials), [t.error for t in trials]
    # two rounds of four trials, each round side by side in four threads
    assert ran_at_the_same_time(trials[:4]) and ran_at_the_same_time(trials[4:])
    ran_on = Counter(t.user_attrs["thread"] for t in trials)
    assert sorted(ran_on.values()) == [2, 2, 2, 2]
    # no worker thread is left behind (the study's heartbeat thread, a daemon, lives on by design)
    alive = set(threading.enumerate())
    assert not set(ran_on) & {t.name for t in alive}
    assert [t.name for t in alive - before] in ([], ["zoomtune-heartbeat"])


def test_bad_optimize_arguments_are_config_errors():
    study = zt.create_study()
    with pytest.raises(zt.ConfigError, match="n_jobs"):
        study.optimize(quadratic, n_trials=1, n_jobs=0)
    with pytest.raises(zt.ConfigError, match="n_trials"):
        study.optimize(quadratic, n_trials=-1)
    with pytest.raises(zt.ConfigError, match="direction: must be 'minimize' or 'maximize'; got 'up'"):
        zt.create_study(direction="up")


def test_best_trial_without_results_is_a_clear_error():
    with pytest.raises(ValueError, match="has no COMPLETE trial"):
        _ = zt.create_study(name="empty").best_trial


def test_user_attrs_and_dataframe():
    def objective(trial):
        trial.set_user_attr("note", f"n{trial.number}")
        return trial.suggest_float("x", 0, 1)

    study = zt.create_study()
    study.optimize(objective, n_trials=3)
    frame = study.to_dataframe()
    assert list(frame["number"]) == [0, 1, 2]
    assert list(frame["user_attrs_note"]) == ["n0", "n1", "n2"]
    assert math.isclose(frame["params_x"][1], study.trial(1).params["x"])


def test_create_load_and_list_on_sqlite(sqlite_url):
    study = zt.create_study("s", storage=sqlite_url, direction="maximize")
    study.optimize(quadratic, n_trials=4)
    with pytest.raises(zt.DuplicatedStudyError):
        zt.create_study("s", storage=sqlite_url)
    again = zt.create_study("s", storage=sqlite_url, load_if_exists=True, direction="maximize")
    again.optimize(quadratic, n_trials=2)
    assert len(zt.load_study("s", storage=sqlite_url).trials) == 6
    [summary] = zt.list_studies(sqlite_url)
    assert summary.name == "s" and summary.n_trials == 6
    with pytest.raises(zt.StudyNotFoundError, match="no study named 'nope'"):
        zt.load_study("nope", storage=sqlite_url)
    with pytest.raises(zt.ConfigError, match="created to maximize"):
        zt.load_study("s", storage=sqlite_url, direction="minimize")
    zt.delete_study("s", storage=sqlite_url)
    assert zt.list_studies(sqlite_url) == []


def test_unhashable_choices_get_the_validation_message():
    trial = zt.create_study().ask()
    with pytest.raises(zt.SearchSpaceError, match="parameter 'layers': choices must be None, bool, int, float or str"):
        trial.suggest_categorical("layers", [[64, 64], [128]])
