"""Cluster executors on real engines: a Dask LocalCluster and a local Ray, two workers each.

Objectives are defined inside the tests so that cloudpickle sends them by value (Ray workers
cannot import this test module). Each engine's tests are skipped when it is not installed.
"""

import importlib.util
import os
import time

import pytest

import zoomtune as zt
from helpers import ran_at_the_same_time
from zoomtune.executors import make_executor

HAS_DASK = importlib.util.find_spec("distributed") is not None
HAS_RAY = importlib.util.find_spec("ray") is not None
ENGINES = [pytest.param("dask", marks=pytest.mark.skipif(not HAS_DASK, reason="needs dask[distributed]")),
           pytest.param("ray", marks=pytest.mark.skipif(not HAS_RAY, reason="needs ray"))]


@pytest.fixture(autouse=True)
def _ray_on_loopback(monkeypatch):
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="module")
def shared_ray():
    """A Ray started by the test, for the executor to use and leave running (saves ~10 s a test)."""
    import ray

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        started = not ray.is_initialized()
        if started:
            ray.init(address="local", include_dashboard=False, num_cpus=2)
        yield ray
        if started:
            ray.shutdown()


def executor_for(engine, request=None):
    """Two workers on this machine, whatever the core count; with `request`, Ray runs on `shared_ray`."""
    if engine == "ray" and request is not None:
        request.getfixturevalue("shared_ray")
    if engine == "dask":
        from zoomtune.executors.dask import DaskExecutor

        return DaskExecutor(n_jobs=2)
    from zoomtune.executors.ray import RayExecutor

    return RayExecutor(n_jobs=2, num_cpus=1)


@pytest.mark.parametrize("engine", ENGINES)
def test_trials_run_on_the_cluster_and_reach_storage(engine, sqlite_url, tmp_path):
    study = zt.create_study("eng", storage=sqlite_url, sampler=zt.samplers.RandomSampler(seed=1),
                            space=zt.Space(lr=zt.Float(1e-4, 1.0, scale="log")))
    seen = []

    def objective(trial):
        lr = trial.params["lr"]  # sampled by the driver, stored before the task started
        units = trial.suggest_int("units", 8, 64)  # sampled in the worker
        for step in range(3):
            trial.report(lr * step, step)
        trial.set_user_attr("pid", os.getpid())
        if trial.number < 2:  # trials 0 and 1 wait for each other: they end only if two workers run them at once
            (tmp_path / f"arrived-{trial.number}").touch()
            deadline = time.monotonic() + 60
            while not (tmp_path / f"arrived-{1 - trial.number}").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"trial {1 - trial.number} never ran beside trial {trial.number}")
                time.sleep(0.01)
        return lr + units

    ray_was_running = engine == "ray" and __import__("ray").is_initialized()
    study.optimize(objective, n_trials=12, n_jobs=2, executor=engine,  # by name: started and stopped here
                   callbacks=[lambda s, record: seen.append(record.number)])
    trials = study.trials
    assert [t.number for t in trials] == list(range(12)) and sorted(seen) == list(range(12))
    assert all(t.state is zt.TrialState.COMPLETE for t in trials)
    assert all(t.value == pytest.approx(t.params["lr"] + t.params["units"]) for t in trials)
    assert all(t.intermediate_values == {s: pytest.approx(t.params["lr"] * s) for s in range(3)} for t in trials)
    assert all(set(t.distributions) == {"lr", "units"} for t in trials)
    pids = {t.user_attrs["pid"] for t in trials}
    assert os.getpid() not in pids  # ran in worker processes
    assert ran_at_the_same_time(trials[:2]) and trials[0].user_attrs["pid"] != trials[1].user_attrs["pid"]
    # the seed decides every value, wherever it was drawn
    again = zt.create_study(sampler=zt.samplers.RandomSampler(seed=1),
                            space=zt.Space(lr=zt.Float(1e-4, 1.0, scale="log")))
    again.optimize(lambda t: t.suggest_int("units", 8, 64), n_trials=12)
    assert [t.params for t in again.trials] == [t.params for t in trials]
    assert not study._heartbeat._trial_ids  # the driver beats only the trials in flight
    if engine == "ray" and not ray_was_running:
        import ray

        assert not ray.is_initialized()  # shut down what it started


@pytest.mark.parametrize("engine", ENGINES)
def test_a_search_space_error_propagates(engine, sqlite_url, request):
    study = zt.create_study("eng", storage=sqlite_url)

    def objective(trial):
        if trial.number in (2, 3):  # trial 2 fails while trial 3 is in flight; trial 3 ends after that
            other = zt.load_study("eng", storage=sqlite_url)
            deadline = time.monotonic() + 60
            while not (len(other.trials) > 3 if trial.number == 2 else other.trial(2).state.is_finished):
                if time.monotonic() > deadline:
                    raise RuntimeError("trial 2 never saw trial 3 start" if trial.number == 2 else
                                       "trial 3 never saw trial 2 fail")
                time.sleep(0.01)
        if trial.number == 2:
            return trial.suggest_float("lr", 0.0, 1.0, scale="log")  # log scale needs low > 0
        return trial.suggest_float("x", 0, 1)

    with pytest.raises(zt.SearchSpaceError, match="lr") as raised:
        study.optimize(objective, n_trials=20, executor=executor_for(engine, request))
    assert type(raised.value) is zt.SearchSpaceError and raised.value.param == "lr"  # not an engine's wrapper
    trials = study.trials
    assert len(trials) < 20 and not any(t.state is zt.TrialState.RUNNING for t in trials)
    assert trials[2].state is zt.TrialState.FAILED and trials[2].error.startswith("SearchSpaceError")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_killed_worker_fails_its_trial_and_the_study_goes_on(engine, sqlite_url, request):
    study = zt.create_study("eng", storage=sqlite_url)
    failed = []

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.report(x, 0)
        if trial.number == 3:
            os.kill(os.getpid(), 9)
        time.sleep(0.1)
        return x

    study.optimize(objective, n_trials=8, executor=executor_for(engine, request),
                   callbacks=[lambda s, r: r.state is zt.TrialState.FAILED and failed.append(r.number)])
    trials = study.trials
    assert len(trials) == 8 and failed == [3]
    assert trials[3].state is zt.TrialState.FAILED and trials[3].error.startswith("worker lost: ")
    assert trials[3].intermediate_values == {0: trials[3].params["x"]}  # what it stored before it died
    assert all(t.state is zt.TrialState.COMPLETE for t in trials if t.number != 3)


def test_a_lost_trial_fails_once_and_is_queued_again_while_retries_allow(sqlite_url):
    lost_worker = zt.FailureCause.WORKER_LOST
    study = zt.create_study("eng", storage=sqlite_url, max_retries=1)
    lost = study.ask()
    lost.suggest_float("x", 0, 1)
    lost.flush()
    record = study.fail_trial(lost.number, "worker lost: gone", lost_worker, retry=True)
    assert record.state is zt.TrialState.FAILED and record.error == "worker lost: gone" and record.cause is lost_worker
    assert study.fail_trial(lost.number, "worker lost: again", lost_worker, retry=True).error == "worker lost: gone"
    retry = study.ask()  # the queued copy, with the same parameters
    assert retry.parent == lost.number and retry.params == lost.params and retry.user_attrs["retries"] == 1
    study.fail_trial(retry.number, "worker lost: again", lost_worker, retry=True)  # retries spent: not queued
    done = study.ask()
    study.tell(done, 1.0)
    assert study.fail_trial(done.number, "worker lost: late", lost_worker, retry=True).state is zt.TrialState.COMPLETE
    assert [t.state for t in study.trials] == [zt.TrialState.FAILED, zt.TrialState.FAILED, zt.TrialState.COMPLETE]


def test_an_unknown_executor_is_a_config_error(sqlite_url):
    study = zt.create_study("eng", storage=sqlite_url)
    with pytest.raises(zt.ConfigError, match=r"executor.*'dask'.*'ray'"):
        study.optimize(lambda t: 0.0, n_trials=1, executor="spark")
    assert study.trials == []
    # (an in-memory study is served to local workers: see test_an_in_memory_study_is_served_to_the_workers)
    # "local" is the default choice
    assert type(make_executor(study, 1, "local")).__name__ == "InlineExecutor"


def test_a_missing_engine_says_which_extra_to_install(sqlite_url, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_engines(name, *args, **kwargs):
        if name.split(".")[0] in ("distributed", "ray"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_engines)
    study = zt.create_study("eng", storage=sqlite_url)
    for name in ("dask", "ray"):
        with pytest.raises(zt.ConfigError, match=rf"pip install 'zoomtune\[{name}\]'"):
            study.optimize(lambda t: 0.0, n_trials=1, executor=name)
    assert study.trials == []


@pytest.mark.skipif(importlib.util.find_spec("cloudpickle") is None, reason="needs dask or ray")
def test_an_objective_that_cannot_be_pickled_is_a_config_error_before_any_trial(sqlite_url):
    import threading

    from zoomtune.executors.remote import RemoteExecutor

    class Never(RemoteExecutor):  # fails the test if it gets as far as starting an engine
        def _open(self):
            raise AssertionError("started an engine")

        _close = _slots = _share = _submit = _wait = _result = _lost = _cancel = _open

    lock = threading.Lock()
    study = zt.create_study("eng", storage=sqlite_url)
    with pytest.raises(zt.ConfigError, match="picklable"):
        study.optimize(lambda t: lock.locked() or 0.0, n_trials=1, executor=Never(1))
    assert study.trials == []


# -- an in-memory study, served to the workers ------------------------------------------------------
def storage_server_threads():
    import threading

    from zoomtune.storage.served import THREAD_PREFIX

    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_in_memory_study_is_served_to_the_workers(engine, request):
    if engine == "ray":
        request.getfixturevalue("shared_ray")  # "ray" by name then uses it, and leaves it running
    study = zt.create_study(direction="maximize", sampler=zt.samplers.RandomSampler(seed=3))
    memory = study.storage
    seen = []

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(3):
            trial.report(x * step, step)
        trial.set_user_attr("pid", os.getpid())
        return x

    study.optimize(objective, n_trials=4, n_jobs=2, executor=engine,
                   callbacks=[lambda s, record: seen.append((record.number, record.state))])
    trials = study.trials
    assert study.storage is memory and memory.url == "memory"
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert sorted(seen) == [(n, zt.TrialState.COMPLETE) for n in range(4)]
    assert all(t.state is zt.TrialState.COMPLETE and t.value == t.params["x"] for t in trials)
    assert all(t.intermediate_values == {s: pytest.approx(t.params["x"] * s) for s in range(3)} for t in trials)
    assert all(t.user_attrs["pid"] != os.getpid() for t in trials)  # ran in the engine's worker processes
    assert study.best_trial.value == max(t.value for t in trials)
    assert storage_server_threads() == []  # the server stopped with the run


@pytest.mark.skipif(not HAS_DASK, reason="needs dask[distributed]")
def test_dask_worker_threads_serve_an_in_memory_study_too():
    from zoomtune.executors.dask import DaskExecutor

    study = zt.create_study()  # processes=False: what the error for a script without a main guard suggests
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2, executor=DaskExecutor(n_jobs=1, processes=False))
    assert [t.state for t in study.trials] == [zt.TrialState.COMPLETE] * 2 and storage_server_threads() == []


@pytest.mark.skipif(not HAS_DASK, reason="needs dask[distributed]")
def test_an_in_memory_study_is_refused_by_a_dask_cluster_elsewhere():
    from types import SimpleNamespace

    from zoomtune.executors.dask import DaskExecutor

    study = zt.create_study()
    remote = DaskExecutor(n_jobs=1, address="tcp://10.255.255.1:8786")  # refused before connecting
    with pytest.raises(zt.ConfigError, match=r"storage: .*'tcp://10\.255\.255\.1:8786'.*SQL storage that every worker"):
        study.optimize(lambda t: 0.0, n_trials=1, executor=remote)
    client = SimpleNamespace(scheduler=SimpleNamespace(address="tls://192.0.2.7:8786"))  # a connected Client's look
    with pytest.raises(zt.ConfigError, match=r"192\.0\.2\.7.*SQL storage"):
        study.optimize(lambda t: 0.0, n_trials=1, executor=DaskExecutor(client=client))
    assert study.trials == [] and storage_server_threads() == []
    for address in ("tcp://127.0.0.1:8786", "localhost:8786", "inproc://10.1.2.3/99/1"):
        local = SimpleNamespace(scheduler=SimpleNamespace(address=address))
        assert DaskExecutor(client=local)._workers_here() and DaskExecutor(address=address)._workers_here()
    assert DaskExecutor()._workers_here()  # the LocalCluster it starts


@pytest.mark.skipif(not HAS_RAY, reason="needs ray")
def test_an_in_memory_study_is_refused_by_a_ray_cluster_elsewhere():
    from zoomtune.executors.ray import RayExecutor

    study = zt.create_study()
    with pytest.raises(zt.ConfigError, match=r"'ray://10\.255\.255\.1:10001'.*SQL storage"):
        study.optimize(lambda t: 0.0, n_trials=1, executor=RayExecutor(address="ray://10.255.255.1:10001"))
    assert study.trials == [] and storage_server_threads() == []
    assert RayExecutor(address="ray://127.0.0.1:10001")._workers_here() is None  # known once connected
    assert RayExecutor(address="auto")._workers_here() is None


NO_GUARD_SCRIPT = """
import zoomtune as zt

study = zt.create_study()
study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2, executor="dask")
print("finished")
"""


@pytest.mark.skipif(not HAS_DASK, reason="needs dask[distributed]")
def test_a_script_without_a_main_guard_is_told_to_add_one(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "tune.py"
    script.write_text(NO_GUARD_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240, check=False)  # a safety net: it fails in about 15 s
    assert done.returncode != 0 and "finished" not in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("zoomtune.errors.ConfigError: executor: the Dask workers failed to start"), last
    assert 'if __name__ == "__main__":' in last and str(script) in last and "processes=False" in last
