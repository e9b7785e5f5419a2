"""Regression tests for the joins between Study, Trial, the executors and storage (issue 10)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import zoomtune as zt
from zoomtune import panda
from zoomtune.records import FailureCause, TrialState
from zoomtune.storage.sql import SQLStorage

from helpers import wait_for


def test_the_record_tell_returns_carries_the_error_and_the_log_names_it(caplog):
    study = zt.create_study()

    def boom(trial: zt.Trial) -> float:
        raise ValueError("boom")

    with caplog.at_level(logging.WARNING, logger="zoomtune"):
        study.optimize(boom, n_trials=1)
    [record] = study.trials
    assert record.error == "ValueError: boom" and record.cause is FailureCause.ERROR
    assert "trial 0 failed: ValueError: boom" in caplog.text and "None" not in caplog.text


def test_failure_causes_are_recorded_where_they_happen():
    study = zt.create_study()
    study.optimize(lambda t: float("nan"), n_trials=1)
    assert study.trial(0).cause is FailureCause.BAD_VALUE

    def interrupted(trial: zt.Trial) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.optimize(interrupted, n_trials=1)
    assert study.trial(1).state is TrialState.FAILED and study.trial(1).cause is FailureCause.INTERRUPTED
    assert panda.interrupted(study.trial(1)) and not panda.interrupted(study.trial(0))


def test_the_heartbeat_interval_is_stored_with_the_study(sqlite_url):
    zt.create_study("hb", storage=sqlite_url, heartbeat_interval=0.2)
    assert zt.load_study("hb", storage=sqlite_url).heartbeat_interval == 0.2
    assert zt.load_study("hb", storage=sqlite_url, heartbeat_interval=5.0).heartbeat_interval == 5.0
    zt.create_study("off", storage=sqlite_url, heartbeat_interval=None)
    assert zt.load_study("off", storage=sqlite_url).heartbeat_interval is None
    again = zt.create_study("hb", storage=sqlite_url, load_if_exists=True)
    assert again.heartbeat_interval == 0.2


def test_a_dead_trial_is_reaped_with_the_studys_own_interval(sqlite_url):
    study = zt.create_study("dead", storage=sqlite_url, heartbeat_interval=0.1)
    storage = SQLStorage(sqlite_url)
    orphan = storage.start_trial(study.study_id)  # RUNNING, and nobody sends its heartbeat
    reopened = zt.load_study("dead", storage=sqlite_url)
    wait_for(lambda: reopened.reap_stale_trials() == [orphan.number], timeout=10,
             what="the orphaned trial to be reaped after three 0.1 s intervals")
    assert reopened.trial(orphan.number).cause is FailureCause.WORKER_LOST


def test_an_unseeded_sampler_keeps_its_seed_across_processes(sqlite_url):
    first = zt.create_study("seeded", storage=sqlite_url)
    seed = first.sampler.seed
    assert first.attrs["sampler_seed"] == seed
    assert zt.load_study("seeded", storage=sqlite_url).sampler.seed == seed
    assert zt.create_study("seeded", storage=sqlite_url, load_if_exists=True).sampler.seed == seed


def test_bad_settings_leave_no_study_behind(sqlite_url):
    for bad in (0, -1.0, "30"):
        with pytest.raises(zt.ConfigError, match="heartbeat_interval"):
            zt.create_study("orphan", storage=sqlite_url, heartbeat_interval=bad)
    with pytest.raises(zt.ConfigError, match="max_retries"):
        zt.create_study("orphan", storage=sqlite_url, max_retries=-1)
    assert zt.list_studies(sqlite_url) == []


def test_messages_name_the_study_not_its_internal_id(sqlite_url):
    study = zt.create_study("named", storage=sqlite_url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    with pytest.raises(zt.TrialNotFoundError) as caught:
        study.trial(7)
    assert "'named'" in str(caught.value) and "#" not in str(caught.value) and "2 trials" in str(caught.value)


def test_ask_starts_exactly_the_queued_trial_asked_for():
    study = zt.create_study()
    older = study.enqueue({"x": 0.1})
    wanted = study.enqueue({"x": 0.2})
    trial = study.ask(wanted)
    assert trial.number == wanted and trial.suggest_float("x", 0, 1) == 0.2
    assert study.trial(older).state is TrialState.WAITING
    with pytest.raises(zt.TrialStateError, match="not waiting"):
        study.ask(wanted)


def test_babysit_runs_its_own_trial_and_leaves_the_queue_alone():
    study = zt.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    queued = study.branch(0, overrides={"x": 0.9})
    record = panda.babysit(study, lambda t: t.suggest_float("x", 0, 1), {"x": 0.25}, live=False)
    assert record.number != queued and record.params == {"x": 0.25} and record.value == 0.25
    assert study.trial(queued).state is TrialState.WAITING


def test_branching_past_the_parents_last_step_is_refused():
    study = zt.create_study()

    def objective(trial: zt.Trial) -> float:
        for step in range(3):
            trial.report(float(step), step)
            trial.save_checkpoint({"step": step}, step)
        return 1.0

    study.optimize(objective, n_trials=1)
    with pytest.raises(zt.ConfigError, match="reported up to step 2"):
        study.branch(0, step=10)
    number = study.branch(0, step=2)
    [event] = study.events(zt.EventKind.BRANCH)
    assert event.trial_number == number and event.payload.from_step == 2


def test_a_worker_lost_trial_is_retried_by_the_one_retry_policy(sqlite_url):
    study = zt.create_study("retry", storage=sqlite_url, max_retries=1)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.flush()
    record = study.fail_trial(trial.number, "its worker process died", FailureCause.WORKER_LOST, retry=True)
    assert record.state is TrialState.FAILED and record.cause is FailureCause.WORKER_LOST
    [child] = [t for t in study.trials if t.parent == trial.number]
    assert child.state is TrialState.WAITING and child.user_attrs["retries"] == 1
    assert study.retry(child.number) is None  # one retry allowed, and it is taken


SIGTERM_SCRIPT = """
import os, sys, time
import zoomtune as zt

def objective(trial):
    trial.set_user_attr("pid", os.getpid())
    trial.report(0.0, 0)  # stores the pid: the test waits for two of these
    time.sleep(120)
    return 1.0

if __name__ == "__main__":
    study = zt.create_study("term", storage=sys.argv[1])
    study.optimize(objective, n_trials=4, n_jobs=2)
"""


def test_sigterm_stops_the_workers_and_fails_their_trials_at_once(tmp_path, sqlite_url):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SIGTERM_SCRIPT))
    process = subprocess.Popen([sys.executable, str(script), sqlite_url], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        def running() -> list[zt.TrialRecord]:
            try:
                study = zt.load_study("term", storage=sqlite_url)
            except zt.StudyNotFoundError:
                return []
            return [t for t in study.trials if t.state is TrialState.RUNNING and "pid" in t.user_attrs]

        wait_for(lambda: len(running()) == 2, timeout=60, what="two trials running in two workers")
        pids = [t.user_attrs["pid"] for t in running()]
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode != 0 and "Interrupted" in stderr
    trials = zt.load_study("term", storage=sqlite_url).trials
    assert not [t for t in trials if t.state is TrialState.RUNNING]
    failed = [t for t in trials if t.state is TrialState.FAILED]
    assert len(failed) == 2 and all(t.cause is FailureCause.INTERRUPTED for t in failed)
    for pid in pids:
        assert not _alive(pid), f"worker {pid} outlived the run"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().split()[2] != "Z"
