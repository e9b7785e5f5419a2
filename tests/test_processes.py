"""SQLite across real processes: a study written in one process reloads in another with every trial."""

import subprocess
import sys
import textwrap

import pytest

import zoomtune as zt
from helpers import ran_at_the_same_time, wait_for

WRITER = textwrap.dedent("""
    import sys, zoomtune as zt
    study = zt.create_study("shared", storage=sys.argv[1], sampler=zt.samplers.RandomSampler(seed=4))
    def objective(trial):
        x = trial.suggest_float("x", 1e-3, 1.0, scale="log")
        trial.suggest_categorical("act", ["relu", "tanh"])
        for step in range(3):
            trial.report(x * step, step)
        if trial.number == 7:
            raise ValueError("bad luck")
        return x
    study.optimize(objective, n_trials=25)
""")


def test_study_reloads_in_another_process_with_every_trial(sqlite_url):
    subprocess.run([sys.executable, "-c", WRITER, sqlite_url], check=True, timeout=120)
    study = zt.load_study("shared", storage=sqlite_url)
    trials = study.trials
    assert len(trials) == 25 and [t.number for t in trials] == list(range(25))
    assert trials[7].state is zt.TrialState.FAILED and trials[7].error == "ValueError: bad luck"
    complete = [t for t in trials if t.state is zt.TrialState.COMPLETE]
    assert len(complete) == 24
    assert all(t.value == t.params["x"] and len(t.intermediate_values) == 3 for t in complete)
    assert set(trials[0].distributions) == {"x", "act"}
    # the same seed in this process reproduces the other process's trials
    again = zt.create_study(sampler=zt.samplers.RandomSampler(seed=4))
    again.optimize(lambda t: t.suggest_float("x", 1e-3, 1.0, scale="log"), n_trials=25)
    assert [t.params["x"] for t in again.trials] == [t.params["x"] for t in trials]


def test_concurrent_processes_share_one_sqlite_file(sqlite_url):
    zt.create_study("shared", storage=sqlite_url, sampler=zt.samplers.RandomSampler(seed=4))
    loader = WRITER.replace('zt.create_study("shared", storage=sys.argv[1],',
                            'zt.load_study("shared", storage=sys.argv[1],')
    workers = [subprocess.Popen([sys.executable, "-c", loader, sqlite_url]) for _ in range(3)]
    assert all(w.wait(timeout=120) == 0 for w in workers)
    trials = zt.load_study("shared", storage=sqlite_url).trials
    assert len(trials) == 75 and sorted(t.number for t in trials) == list(range(75))
    assert all(t.state.is_finished for t in trials)


def test_n_jobs_on_sqlite_runs_worker_processes(sqlite_url):
    import multiprocessing as mp
    import os

    study = zt.create_study("par", storage=sqlite_url)
    both_running = mp.get_context("fork").Barrier(2)  # the workers are forked: they share it

    def objective(trial):
        if trial.number < 2:  # trials 0 and 1 get past this only if two processes run them at once
            both_running.wait(timeout=60)
        return os.getpid()

    seen = []
    study.optimize(objective, n_trials=8, n_jobs=2, callbacks=[lambda s, record: seen.append(record.number)])
    trials = study.trials
    assert sorted(seen) == list(range(8)) and len(trials) == 8
    assert all(t.state is zt.TrialState.COMPLETE for t in trials), [t.error for t in trials]
    assert ran_at_the_same_time(trials[:2]) and trials[0].value != trials[1].value
    assert len({t.value for t in trials}) == 2 and os.getpid() not in {t.value for t in trials}


def test_errors_in_worker_processes_reach_the_caller(sqlite_url):
    import pytest

    study = zt.create_study("bad", storage=sqlite_url)
    with pytest.raises(zt.SearchSpaceError, match="parameter 'lr'"):
        study.optimize(lambda t: t.suggest_float("lr", 0, 1, scale="log"), n_trials=20, n_jobs=2)
    assert all(t.state is zt.TrialState.FAILED for t in study.trials) and len(study.trials) <= 4


KILLER = textwrap.dedent("""
    import os, sys, zoomtune as zt
    study = zt.load_study("k", storage=sys.argv[1], heartbeat_interval=0.2)
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.report(x, 0)
        trial.save_checkpoint({"x": x})
        if trial.number == 2:
            os.kill(os.getpid(), 9)  # the worker dies mid-trial, as after an out-of-memory kill
        return x
    study.optimize(objective, n_trials=int(sys.argv[2]))
""")


def test_a_killed_worker_leaves_a_failed_trial_never_a_running_one(sqlite_url, tmp_path):
    zt.create_study("k", storage=sqlite_url)
    killed = subprocess.run([sys.executable, "-c", KILLER, sqlite_url, "5"], timeout=120, check=False)
    assert killed.returncode == -9
    study = zt.load_study("k", storage=sqlite_url, heartbeat_interval=0.2)
    assert study.trial(2).state is zt.TrialState.RUNNING  # nobody has touched the study since
    # its worker is dead, so its heartbeat goes stale (three intervals: 0.6 s) and the reaper fails it
    assert wait_for(study.reap_stale_trials, "trial 2 of the killed worker to be reaped") == [2]
    failed = study.trial(2)
    assert failed.state is zt.TrialState.FAILED and "no heartbeat for 0.6 s" in failed.error
    # another worker carries on and the study reaches its trial count
    assert subprocess.run([sys.executable, "-c", KILLER.replace("trial.number == 2", "False"), sqlite_url, "7"],
                          timeout=120, check=False).returncode == 0
    trials = zt.load_study("k", storage=sqlite_url).trials
    assert len(trials) == 10 and not [t for t in trials if t.state is zt.TrialState.RUNNING]


def test_a_dead_workers_trial_is_retried_from_its_checkpoint(sqlite_url):
    zt.create_study("k", storage=sqlite_url)
    assert subprocess.run([sys.executable, "-c", KILLER, sqlite_url, "5"], timeout=120, check=False).returncode == -9
    import time

    # The worker is dead, so trial 2's last heartbeat is older than this instant, and three intervals
    # (0.6 s) later the trial is stale for sure. Only the clock tells; polling the reaper instead would
    # do the reaping that this test leaves to optimize (its first ask reaps).
    died = time.time()
    wait_for(lambda: time.time() > died + 3 * 0.2, "three heartbeat intervals after the worker died")
    study = zt.load_study("k", storage=sqlite_url, heartbeat_interval=0.2, max_retries=1)
    seen = []

    def objective(trial):
        seen.append((trial.number, trial.parent, trial.load_checkpoint()))
        return trial.suggest_float("x", 0, 1)

    study.optimize(objective, n_trials=1)
    [(number, parent, state)] = seen
    assert parent == 2 and state == {"x": study.trial(2).params["x"]}
    assert study.trial(number).user_attrs["retries"] == 1 and study.trial(number).state is zt.TrialState.COMPLETE


def test_heartbeats_keep_a_slow_trial_alive(sqlite_url, monkeypatch):
    import threading
    import time

    study = zt.create_study("slow", storage=sqlite_url, heartbeat_interval=0.1)
    beats = []  # (when, writing thread, trial ids) of every heartbeat this study writes
    write = study.storage.heartbeat

    def heartbeat(trial_ids):
        beats.append((time.monotonic(), threading.current_thread(), set(trial_ids)))
        write(trial_ids)

    monkeypatch.setattr(study.storage, "heartbeat", heartbeat)
    trial = study.ask()
    asked, trial_id = time.monotonic(), study.trial(trial.number).trial_id
    # the trial writes nothing itself; wait until its heartbeat is written twice the stale threshold
    # (3 x 0.1 s) after it started: only the heartbeat thread can have kept it alive that long
    wait_for(lambda: [b for b in beats if b[0] >= asked + 0.6 and trial_id in b[2]],
             "a heartbeat of the silent trial 0.6 s after it started")
    other = zt.load_study("slow", storage=sqlite_url, heartbeat_interval=0.1)
    assert other.reap_stale_trials() == []
    [writer] = {thread for _, thread, _ in beats}  # one thread wrote them all, and it still runs
    assert writer.name == "zoomtune-heartbeat" and writer.is_alive() and writer is not threading.current_thread()
    study.tell(trial, 1.0)
    assert study.trial(0).state is zt.TrialState.COMPLETE
    # a finished trial is no longer vouched for: the next beat that carries a new trial leaves it out
    told, second = len(beats), study.ask()
    second_id = study.trial(second.number).trial_id
    [beat, *_] = wait_for(lambda: [b for b in beats[told:] if second_id in b[2]], "a heartbeat of the second trial")
    assert trial_id not in beat[2]
    study.tell(second, 2.0)


FLOOD = textwrap.dedent("""
    import sys, zoomtune as zt
    study = zt.load_study("flood", storage=sys.argv[1])
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("k", 1, 9), n_trials=250)
""")


@pytest.mark.slow
def test_four_processes_times_250_trials_on_one_sqlite_file(sqlite_url):
    zt.create_study("flood", storage=sqlite_url)
    workers = [subprocess.Popen([sys.executable, "-c", FLOOD, sqlite_url], stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    errors = [w.communicate(timeout=300)[1] for w in workers]
    assert all(w.returncode == 0 for w in workers), errors
    assert not any("locked" in e for e in errors)
    trials = zt.load_study("flood", storage=sqlite_url).trials
    assert len(trials) == 1000 and sorted(t.number for t in trials) == list(range(1000))
    assert all(t.state is zt.TrialState.COMPLETE and set(t.params) == {"x", "k"} for t in trials)


def test_each_worker_process_gets_its_own_gpu(sqlite_url, monkeypatch):
    import multiprocessing as mp

    from zoomtune.executors.processes import ProcessExecutor, visible_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"]
    study = zt.create_study("gpus", storage=sqlite_url)
    both_running = mp.get_context("fork").Barrier(2)  # shared by the forked workers

    def note_gpu(trial):
        import os

        trial.set_user_attr("gpu", os.environ["CUDA_VISIBLE_DEVICES"])
        if trial.number < 2:  # trials 0 and 1 get past this only together: both workers take a trial
            both_running.wait(timeout=60)
        return 0.0

    study.optimize(note_gpu, n_trials=6, n_jobs=2)
    assert all(t.state is zt.TrialState.COMPLETE for t in study.trials), [t.error for t in study.trials]
    assert {t.user_attrs["gpu"] for t in study.trials} == {"3", "5"}
    shared = ProcessExecutor(2, trials_per_gpu=2)
    budget = shared.make_budget(4, None)
    seen = []
    shared.run(zt.load_study("gpus", storage=sqlite_url),
               lambda t: t.set_user_attr("gpu", __import__("os").environ["CUDA_VISIBLE_DEVICES"]) or 0.0,
               budget, (Exception,), seen.append)
    assert {r.user_attrs["gpu"] for r in seen} == {"3"}


def test_a_worker_process_killed_mid_trial_is_failed_at_once_and_replaced(sqlite_url):
    import multiprocessing as mp
    import os

    study = zt.create_study("kill", storage=sqlite_url)
    last_two = mp.get_context("fork").Barrier(2)  # forked workers, replacements too, share it

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.set_user_attr("pid", os.getpid())
        if trial.number == 2:
            trial.flush()  # its pid is stored before it dies
            os.kill(os.getpid(), 9)
        if trial.number >= 6:  # the last two trials pass only together: two live workers after the kill
            last_two.wait(timeout=60)
        return x

    seen = []
    study.optimize(objective, n_trials=8, n_jobs=2, callbacks=[lambda s, r: seen.append(r.number)])
    trials = study.trials
    assert len(trials) == 8 and sorted(seen) == list(range(8))
    assert trials[2].state is zt.TrialState.FAILED and trials[2].error == "its worker process was killed by SIGKILL"
    assert sum(t.state is zt.TrialState.COMPLETE for t in trials) == 7, [t.error for t in trials]
    # trials 6 and 7 ran at the same time in two processes, neither of them the dead one: it was replaced
    assert ran_at_the_same_time(trials[6:])
    assert len({trials[2].user_attrs["pid"], trials[6].user_attrs["pid"], trials[7].user_attrs["pid"]}) == 3
    # and its trial was failed when it died, not at the end of the run: before the replacement's trial ended
    assert trials[2].datetime_complete < min(trials[6].datetime_complete, trials[7].datetime_complete)
