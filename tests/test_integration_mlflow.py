"""MLflowCallback against a real local MLflow store (SQLite, and the file store MLflow 3 only allows on
request): the runs read back with MlflowClient hold the params, values, metric histories, tags and nesting."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import zoomtune as zt

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")  # MLflow's SQLite store
pytest.importorskip("alembic")

from mlflow import MlflowClient
from mlflow.entities import ViewType

from zoomtune.integrations.mlflow import MLflowCallback

PARENT = "mlflow.parentRunId"


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module (creating its tables takes a second or two)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def objective(trial: zt.Trial) -> float:
    """Three reports of a curve; trial 2 fails, trial 3 is stopped after its reports."""
    lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    trial.suggest_categorical("act", ["relu", "tanh"])
    trial.set_user_attr("note", f"run {trial.number}")
    for step in range(3):
        trial.report(lr * (step + 1), step=step)
    if trial.number == 2:
        raise ValueError("diverged")
    if trial.number == 3:
        raise zt.TrialStopped()
    return lr


def runs_of(client: MlflowClient, experiment: str, kind: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    runs = client.search_runs([found.experiment_id], f"tags.`zoomtune.kind` = '{kind}'")
    return sorted(runs, key=lambda r: int(r.data.tags.get("zoomtune.trial", -1)))


def test_each_trial_is_a_nested_run_with_params_values_history_and_tags(uri: str) -> None:
    study = zt.create_study("nested", direction="maximize")
    study.optimize(objective, n_trials=4, callbacks=[MLflowCallback(tracking_uri=uri, tags={"team": "bn"})])
    client = MlflowClient(uri)
    (parent,) = runs_of(client, "nested", "study")
    assert parent.data.tags["zoomtune.study"] == "nested" and parent.data.tags["team"] == "bn"
    assert parent.data.tags["zoomtune.directions"] == "maximize"
    runs = runs_of(client, "nested", "trial")
    assert len(runs) == 4
    for run, trial in zip(runs, study.trials, strict=True):
        tags = run.data.tags
        assert tags[PARENT] == parent.info.run_id
        assert tags["zoomtune.trial"] == str(trial.number) and tags["zoomtune.state"] == trial.state.value
        assert tags["zoomtune.user_attrs.note"] == f"run {trial.number}" and tags["team"] == "bn"
        assert run.info.run_name == f"trial {trial.number}"
        assert run.data.params == {"lr": str(trial.params["lr"]), "act": trial.params["act"]}
        history = client.get_metric_history(run.info.run_id, "intermediate/value")
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == \
            sorted(trial.intermediate_values.items())
        assert run.info.start_time == int(trial.datetime_start.timestamp() * 1000)  # type: ignore[union-attr]
    complete, _, failed, stopped = runs
    assert complete.data.metrics["value"] == pytest.approx(study.trials[0].value)
    assert complete.info.status == "FINISHED" and "zoomtune.error" not in complete.data.tags
    assert failed.info.status == "FAILED" and "value" not in failed.data.metrics
    assert "diverged" in failed.data.tags["zoomtune.error"] and failed.data.tags["zoomtune.cause"] == "error"
    assert stopped.data.tags["zoomtune.state"] == "STOPPED" and stopped.info.status == "FINISHED"
    assert stopped.data.metrics["value"] == pytest.approx(study.trials[3].intermediate_values[2])


def test_a_later_callback_finds_the_parent_and_logs_no_trial_twice(uri: str) -> None:
    study = zt.create_study("resumed", direction="maximize")
    study.optimize(objective, n_trials=2, callbacks=[MLflowCallback(tracking_uri=uri)])
    later = MLflowCallback(tracking_uri=uri)  # another process, say, or a rerun
    running = study.ask()
    for trial in study.trials:  # backfilling what is logged already adds nothing, nor does a running trial
        later(study, trial)
    study.tell(running, 0.5)
    study.optimize(objective, n_trials=1, callbacks=[later])
    client = MlflowClient(uri)
    (parent,) = runs_of(client, "resumed", "study")
    runs = runs_of(client, "resumed", "trial")
    assert [r.data.tags["zoomtune.trial"] for r in runs] == ["0", "1", "3"]
    assert {r.data.tags[PARENT] for r in runs} == {parent.info.run_id}
    again = zt.create_study("resumed", direction="maximize")  # another study of the same name: other trials
    again.optimize(objective, n_trials=1, callbacks=[MLflowCallback(tracking_uri=uri)])
    assert [r.data.tags["zoomtune.trial"] for r in runs_of(client, "resumed", "trial")] == ["0", "0", "1", "3"]


def test_several_objectives_get_one_metric_and_one_history_each(uri: str) -> None:
    def two(trial: zt.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.report([x, 1 - x], step=0)
        trial.report(x / 2, step=1)  # a single number is the first objective's
        trial.set_constraint("budget", x - 0.5)
        return x, 1 - x

    study = zt.create_study("pareto", directions=["maximize", "minimize"], metric_names=["acc", "size"])
    study.optimize(two, n_trials=2, callbacks=[MLflowCallback(tracking_uri=uri, experiment_name="mo",
                                                              metric_name=["accuracy", "params"])])
    study.optimize(two, n_trials=1, callbacks=[MLflowCallback(tracking_uri=uri, experiment_name="mo-named")])
    client = MlflowClient(uri)
    for run, trial in zip(runs_of(client, "mo", "trial"), study.trials, strict=False):
        x = trial.params["x"]
        assert run.data.metrics["accuracy"] == pytest.approx(x) and run.data.metrics["params"] == pytest.approx(1 - x)
        assert run.data.metrics["constraint/budget"] == pytest.approx(x - 0.5)
        accuracy = client.get_metric_history(run.info.run_id, "intermediate/accuracy")
        assert sorted((m.step, m.value) for m in accuracy) == [(0, pytest.approx(x)), (1, pytest.approx(x / 2))]
        assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "intermediate/params")] == \
            [(0, pytest.approx(1 - x))]
    (named,) = runs_of(client, "mo-named", "trial")
    assert {"value_acc", "value_size"} <= set(named.data.metrics)
    with pytest.raises(zt.ConfigError, match="one name per objective"):
        MLflowCallback(tracking_uri=uri, metric_name=["only"])(study, study.trials[0])


def parents_ever_made(client: MlflowClient, experiment: str) -> int:
    """How many parent runs were created in `experiment`, deleted ones too."""
    found = client.get_experiment_by_name(experiment)
    return len(client.search_runs([found.experiment_id], "tags.`zoomtune.kind` = 'study'",
                                  run_view_type=ViewType.ALL))


def test_a_parent_another_process_created_meanwhile_wins_and_ours_is_deleted(uri: str) -> None:
    study = zt.create_study("raced", direction="maximize")
    study.optimize(objective, n_trials=1)
    callback = MLflowCallback(tracking_uri=uri)
    create, other = callback.client.create_run, MlflowClient(uri)
    theirs: list[str] = []

    def create_just_after_another_process(*args: Any, **kwargs: Any) -> Any:
        if kwargs["tags"].get("zoomtune.kind") == "study" and not theirs:  # it found none; the other makes one now
            earlier = int(time.time() * 1000) - 1000  # so that it is the older even within one millisecond
            theirs.append(other.create_run(*args, **{**kwargs, "start_time": earlier}).info.run_id)
        return create(*args, **kwargs)

    callback.client.create_run = create_just_after_another_process  # type: ignore[method-assign]
    callback(study, study.trials[0])
    client = MlflowClient(uri)
    (parent,) = runs_of(client, "raced", "study")
    assert parent.info.run_id == theirs[0] and parents_ever_made(client, "raced") == 2
    assert [r.data.tags[PARENT] for r in runs_of(client, "raced", "trial")] == theirs


def test_callbacks_logging_at_once_in_one_process_make_one_parent(uri: str) -> None:
    study = zt.create_study("threads", direction="maximize")
    study.optimize(objective, n_trials=4)
    callbacks = [MLflowCallback(tracking_uri=uri) for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=30)

    def log(callback: MLflowCallback, trials: list[zt.TrialRecord]) -> None:
        try:
            start.wait()
            for trial in trials:
                callback(study, trial)
        except BaseException as error:  # noqa: BLE001 - checked below, in the test's thread
            errors.append(error)

    trials = study.trials
    threads = [threading.Thread(target=log, args=(callback, trials[i::2])) for i, callback in enumerate(callbacks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    client = MlflowClient(uri)
    (parent,) = runs_of(client, "threads", "study")
    assert parents_ever_made(client, "threads") == 1
    assert [r.data.tags[PARENT] for r in runs_of(client, "threads", "trial")] == [parent.info.run_id] * 4


@pytest.mark.parametrize("storage", ["memory", "sqlite"])  # n_jobs=2 runs trials in threads, in processes
def test_flat_runs_and_n_jobs(uri: str, storage: str, tmp_path: Path) -> None:
    study = zt.create_study("flat", direction="maximize",
                            storage=f"sqlite:///{tmp_path / 'zt.db'}" if storage == "sqlite" else None)
    study.optimize(objective, n_trials=6, n_jobs=2,
                   callbacks=[MLflowCallback(tracking_uri=uri, experiment_name=f"flat-{storage}",
                                             nest_trials=False)])
    client = MlflowClient(uri)
    assert runs_of(client, f"flat-{storage}", "study") == []
    runs = runs_of(client, f"flat-{storage}", "trial")
    assert sorted(int(r.data.tags["zoomtune.trial"]) for r in runs) == list(range(6))
    assert all(PARENT not in r.data.tags for r in runs)


def test_the_file_store_works_when_mlflow_is_told_to_allow_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store in maintenance mode
    store = (tmp_path / "mlruns").as_uri()
    study = zt.create_study("files", direction="maximize")
    study.optimize(objective, n_trials=2, callbacks=[MLflowCallback(tracking_uri=store)])
    client = MlflowClient(store)
    (parent,) = runs_of(client, "files", "study")
    assert [r.data.tags[PARENT] for r in runs_of(client, "files", "trial")] == [parent.info.run_id] * 2


def test_a_big_trial_is_logged_in_batches_mlflow_accepts(uri: str) -> None:
    def big(trial: zt.Trial) -> float:
        for i in range(150):  # more than one batch of params (100) and of metrics (1000)
            trial.suggest_float(f"p{i}", 0.0, 1.0)
        trial.suggest_categorical("long", ["x" * 7000])  # longer than MLflow takes (6000)
        trial.set_user_attr("log", "y" * 9000)  # longer than a tag takes (8000)
        for step in range(1500):
            trial.report(float(step), step=step)
        return 1.0

    study = zt.create_study("big", direction="maximize")
    study.optimize(big, n_trials=1, callbacks=[MLflowCallback(tracking_uri=uri)])
    client = MlflowClient(uri)
    (run,) = runs_of(client, "big", "trial")
    assert len(run.data.params) == 151 and run.data.params["long"].endswith("...")
    assert len(run.data.params["long"]) <= 6000 and len(run.data.tags["zoomtune.user_attrs.log"]) <= 8000
    assert len(client.get_metric_history(run.info.run_id, "intermediate/value")) == 1500


def test_bad_metric_names_are_refused_at_once() -> None:
    with pytest.raises(zt.ConfigError, match="metric_name"):
        MLflowCallback(metric_name="")
    with pytest.raises(zt.ConfigError, match="distinct"):
        MLflowCallback(metric_name=["a", "a"])
