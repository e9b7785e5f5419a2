"""What an objective hands back, and writes that fail: a trial never stays RUNNING because of either.

Values that are not numbers (a string, a 400-digit integer), user attributes that are not JSON and
enqueued values that are not plain end as one clear error naming the field. When the result's write
fails (the file may not grow: a real `RLIMIT_FSIZE` in a subprocess, which SQLite meets exactly as a
full disk), the trial ends FAILED with the reason; when even that write fails, the run exits 2 with
one line and the next process reaps the trial after three heartbeats.
"""

import logging
import os
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import zoomtune as zt
from zoomtune.records import FailureCause, TrialState
from tests.helpers import wait_for


def one_trial(objective, **study_kwargs):
    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=0), **study_kwargs)
    study.optimize(objective, n_trials=1)
    return study.trials[-1]


@pytest.mark.parametrize("value, fragment", [
    ("0.5", "got str '0.5', not a number"),
    (b"0.5", "got bytes b'0.5', not a number"),
    (True, "got bool True, not a number"),
    (10 ** 400, "too large for a float"),
    ([0.5], "got list [0.5], not a number"),
    (float("nan"), "objective returned nan"),
])
def test_an_objective_returning_a_non_number_fails_the_trial_saying_why(value, fragment):
    trial = one_trial(lambda t: value)
    assert trial.state is TrialState.FAILED and trial.cause is FailureCause.BAD_VALUE
    assert fragment in trial.error and len(trial.error) < 200, trial.error


@pytest.mark.parametrize("value", [0.5, 2, np.float32(0.25), np.int64(3)])
def test_real_numbers_of_any_kind_complete(value):
    trial = one_trial(lambda t: value)
    assert trial.state is TrialState.COMPLETE and trial.value == float(value)


@pytest.mark.parametrize("value, fragment", [("0.5", "got str '0.5'"), (10 ** 400, "too large for a float")])
def test_a_report_that_is_not_a_number_fails_the_trial(value, fragment):
    def objective(trial):
        trial.report(value)
        return 0.0

    trial = one_trial(objective)
    assert trial.state is TrialState.FAILED and "report() needs a number" in trial.error and fragment in trial.error


def test_a_user_attribute_that_is_not_json_is_refused_naming_it(sqlite_url):
    def objective(trial):
        trial.set_user_attr("model", object())
        return 0.0

    trial = one_trial(objective, storage=sqlite_url)
    assert trial.state is TrialState.FAILED
    assert "user attribute 'model' must be JSON-serialisable" in trial.error
    assert zt.load_study(zt.list_studies(sqlite_url)[0].name, sqlite_url).trials[0].state is TrialState.FAILED


@pytest.mark.parametrize("key", ["", "  ", 3])
def test_a_user_attribute_needs_a_name(key):
    def objective(trial):
        trial.set_user_attr(key, 1)
        return 0.0

    assert "user attribute's name must be a non-empty string" in one_trial(objective).error


SPACE = {"learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"}}


@pytest.mark.parametrize("params, fragment", [
    ({"learning_rate": object()}, "parameter 'learning_rate': enqueued values must be a number, string, bool or None"),
    ({"learning_rate": 5.0}, "enqueued values must lie in Float(0.0001, 1.0"),
    ({"learning_rate": float("nan")}, "enqueued numbers must be finite"),
    ({"lerning_rate": 0.01}, "did you mean 'learning_rate'?"),
    ({"": 0.01}, "parameter names must"),
    ({7: 0.01}, "parameter names must"),
])
def test_enqueue_refuses_what_cannot_be_a_parameter(params, fragment, sqlite_url):
    study = zt.create_study("s", storage=sqlite_url, space=SPACE)
    with pytest.raises(zt.SearchSpaceError) as raised:
        study.enqueue(params)
    assert fragment in str(raised.value)
    assert study.trials == []  # nothing half-done


def test_enqueue_without_a_space_names_the_bad_field_and_learns_names_from_trials():
    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=0))
    with pytest.raises(zt.SearchSpaceError, match="parameter 'x': enqueued values must be a number"):
        study.enqueue({"x": object()})
    study.enqueue({"momentum": 0.9})  # a new parameter, before any trial: fine
    study.optimize(lambda t: t.suggest_float("momentum", 0.0, 0.99), n_trials=1)
    with pytest.raises(zt.SearchSpaceError, match="did you mean 'momentum'"):
        study.enqueue({"momentun": 0.5})


def test_an_enqueued_parameter_the_objective_never_asks_for_is_named_in_a_warning(caplog):
    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=0))
    study.enqueue({"dropuot": 0.1})
    with caplog.at_level(logging.WARNING, logger="zoomtune"):
        study.optimize(lambda t: t.suggest_float("dropout", 0.0, 0.5), n_trials=1)
    assert "enqueued parameter(s) 'dropuot' never asked for by the objective (it asked for: dropout)" in caplog.text


def test_a_bad_heartbeat_leaves_no_study_behind(sqlite_url):
    for bad in (0, -1, float("nan"), True):
        with pytest.raises(zt.ConfigError, match="heartbeat_interval"):
            zt.create_study("orphan", storage=sqlite_url, heartbeat_interval=bad)
    assert [s.name for s in zt.list_studies(sqlite_url)] == []


# -- writes that fail, in a real subprocess whose files may not grow ---------------------------------
OBJECTIVE = textwrap.dedent("""
    import os, resource, signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG


    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number == 3:
            db = os.environ["DB"]
            if os.environ["MODE"] == "big":  # this result cannot be written; a small FAILED record still can
                size = sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))
                resource.setrlimit(resource.RLIMIT_FSIZE, (size + 65536, resource.RLIM_INFINITY))
                trial.set_user_attr("blob", "z" * 4_000_000)
            else:  # nothing can be written any more
                resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
        return x
""")


def run_limited(tmp_path, mode):
    """`zoomtune run` of 6 trials whose trial 3 stops its own process's files from growing."""
    (tmp_path / "limited.py").write_text(OBJECTIVE)
    (tmp_path / "s.yaml").write_text("study: s\nobjective: limited:objective\nn_trials: 6\nheartbeat_interval: 0.3\n")
    db = tmp_path / "full.db"
    result = subprocess.run([sys.executable, "-m", "zoomtune", "run", "s.yaml", "-q", "--storage", f"sqlite:///{db}"],
                            check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "DB": str(db), "MODE": mode})
    return f"sqlite:///{db}", result


def integrity(url):
    with sqlite3.connect(url[len("sqlite:///"):]) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_a_result_too_big_for_the_disk_ends_failed_with_the_reason_and_the_study_goes_on(tmp_path):
    url, result = run_limited(tmp_path, "big")
    assert result.returncode == 0, result.stderr
    trials = zt.load_study("s", url).trials
    assert [t.number for t in trials] == list(range(6))
    failed = trials[3]
    assert failed.state is TrialState.FAILED and failed.cause is FailureCause.STORAGE
    assert "its result could not be stored" in failed.error and "blob" not in failed.user_attrs
    assert all(t.state is TrialState.COMPLETE and t.value == t.params["x"] for t in trials[:3])
    assert integrity(url) == "ok"


def test_when_nothing_can_be_written_the_run_exits_2_in_one_line_and_the_next_process_reaps(tmp_path):
    url, result = run_limited(tmp_path, "none")
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "trial 3 of study 's'" in lines[0], result.stderr
    assert "stays RUNNING until a process that can write reaps it" in lines[0]
    study = zt.load_study("s", url)
    assert [t.state for t in study.trials[:3]] == [TrialState.COMPLETE] * 3  # told results kept
    assert study.trials[3].state is TrialState.RUNNING
    wait_for(lambda: study.reap_stale_trials() == [3] or study.trial(3).state is TrialState.FAILED,
             what="trial 3 reaped after three silent heartbeats")
    reaped = study.trial(3)
    assert reaped.state is TrialState.FAILED and reaped.cause is FailureCause.WORKER_LOST
    assert integrity(url) == "ok"


@pytest.mark.parametrize("name", ["", " lr", "l\x00r"])
def test_a_suggested_parameter_needs_a_name_anyone_could_type(name):
    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=0))
    with pytest.raises(zt.SearchSpaceError, match="parameter names must"):  # a bug in the objective: stop
        study.optimize(lambda t: t.suggest_float(name, 0.0, 1.0), n_trials=3)
    [trial] = study.trials
    assert trial.state is TrialState.FAILED and "parameter names must" in trial.error and trial.params == {}


def test_the_live_curve_draws_values_at_the_ends_of_the_float_range():
    from zoomtune.panda import curve_chart

    chart = curve_chart({0: -1e308, 1: 0.0, 2: 1e308}, height=2)
    assert "1e+308" in chart and "-1e+308" in chart
    assert curve_chart({0: 5.0, 1: 5.0}).count("\n") == 8  # a flat curve: one level, no division by zero


@pytest.mark.parametrize("args, fragment", [(["--jobs", "0"], "--jobs: must be -1 (all cores)"),
                                            (["--minutes", "inf"], "--minutes: must be a finite number")])
def test_demo_refuses_absurd_options_before_loading_anything(args, fragment, tmp_path):
    from click.testing import CliRunner

    from zoomtune.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--quick", "--storage", f"sqlite:///{tmp_path / 'd.db'}", *args])
    assert result.exit_code == 2 and fragment in result.stderr, result.output
    assert not (tmp_path / "d.db").exists()
