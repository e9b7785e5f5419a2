"""MLflow: log every finished trial as an MLflow run, nested under one parent run per study.

```python
study.optimize(objective, n_trials=50, callbacks=[MLflowCallback(tracking_uri="sqlite:///mlflow.db")])
```

A trial's run holds its parameters, its value (one metric per objective), its intermediate values as the
history of ``intermediate/<metric>`` (step by step), its constraints as ``constraint/<name>``, and tags for
its number, state, error and cause (FAILED), the trial it branched from and its user attributes
(``zoomtune.user_attrs.<key>``). Its start and end times are the trial's.

The parent run is found by its tags (``zoomtune.study=<name>``, ``zoomtune.kind=study``), so a later call, a
second process or a rerun of the study reuses it; a trial already logged (same study, number and start
time) is not logged twice, nor one that has not finished, which makes backfilling safe
(``for t in study.trials: callback(study, t)``).
Everything goes through `mlflow.MlflowClient`, never MLflow's global active run, so it works from `optimize`
with any `n_jobs` (callbacks run in the process that called `optimize`, one at a time). An error from MLflow (a
parameter name it refuses, a tracking server that is down) propagates and ends `optimize`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from enum import Enum
from itertools import islice
from typing import Any, TypeVar

from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from mlflow.utils.validation import (MAX_METRICS_PER_BATCH, MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH,
                                     MAX_TAG_VAL_LENGTH)

from zoomtune.errors import ConfigError
from zoomtune.records import TrialRecord, TrialState
from zoomtune.study import Study

STUDY_TAG, KIND_TAG, TRIAL_TAG = "zoomtune.study", "zoomtune.kind", "zoomtune.trial"
STATE_TAG, ERROR_TAG, CAUSE_TAG, PARENT_TAG = "zoomtune.state", "zoomtune.error", "zoomtune.cause", "zoomtune.parent"
DIRECTIONS_TAG, USER_ATTR_PREFIX = "zoomtune.directions", "zoomtune.user_attrs."
INTERMEDIATE_PREFIX, CONSTRAINT_PREFIX = "intermediate/", "constraint/"
#: the MLflow status of a trial's run: a STOPPED trial finished with a valid (early) result
RUN_STATUS = {TrialState.COMPLETE: "FINISHED", TrialState.STOPPED: "FINISHED", TrialState.FAILED: "FAILED"}

T = TypeVar("T")

#: (tracking URI, experiment id, study name) -> the study's parent run, shared by every callback of this process
#: (under `_PARENTS_LOCK`) so that two of them never create two parents
_PARENTS: dict[tuple[str, str, str], str] = {}
_PARENTS_LOCK = threading.Lock()


class RunKind(str, Enum):
    """What a zoomtune run in MLflow stands for (its ``zoomtune.kind`` tag)."""

    STUDY = "study"
    TRIAL = "trial"


def millis(moment: datetime | None) -> int:
    """A time as MLflow's milliseconds since the epoch; now when unknown."""
    return int((moment.timestamp() if moment is not None else time.time()) * 1000)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in "..." when cut (MLflow refuses longer values)."""
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size` (MLflow caps what one batch may carry)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class MLflowCallback:
    """A study callback (``study.optimize(objective, callbacks=[MLflowCallback()])``) that logs each finished
    trial as an MLflow run.

    `tracking_uri` is MLflow's (None: MLflow's default, e.g. ``$MLFLOW_TRACKING_URI``); `experiment_name`
    defaults to the study's name and is created when missing. `metric_name` names the value's metric: in a
    study of several objectives, one name per objective, or one prefix (``value_<objective>``, by the study's
    `metric_names` or index). `nest_trials` puts the trial runs under one parent run per study; `tags` go on
    every run.
    """

    def __init__(self, tracking_uri: str | None = None, experiment_name: str | None = None,
                 metric_name: str | Sequence[str] = "value", nest_trials: bool = True,
                 tags: Mapping[str, Any] | None = None) -> None:
        if isinstance(metric_name, str):
            if not metric_name:
                raise ConfigError("metric_name", "must be a non-empty string or one per objective", metric_name,
                                  "MLflowCallback")
        elif not metric_name or not all(isinstance(n, str) and n for n in metric_name) \
                or len(set(metric_name)) != len(metric_name):
            raise ConfigError("metric_name", "must be a non-empty string or distinct non-empty strings, one per "
                                             "objective", metric_name, "MLflowCallback")
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.experiment_name = experiment_name
        self.metric_name = metric_name
        self.nest_trials = nest_trials
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self._lock = threading.Lock()
        self._experiments: dict[str, str] = {}

    def __call__(self, study: Study, record: TrialRecord) -> None:
        if not record.state.is_finished:  # backfilling from `study.trials` meets running and waiting ones
            return
        with self._lock:
            experiment_id = self._experiment(self.experiment_name or study.name)
            parent = self._parent(study, experiment_id) if self.nest_trials else None
            if self._logged(experiment_id, study.name, record, parent):
                return
            self._log_trial(study, record, experiment_id, parent)

    # -- the metrics' names ------------------------------------------------------------------------
    def metric_names(self, study: Study) -> list[str]:
        """One metric name per objective of `study`."""
        count = len(study.directions)
        if not isinstance(self.metric_name, str):
            if len(self.metric_name) != count:
                raise ConfigError("metric_name", f"needs one name per objective of study {study.name!r} ({count})",
                                  list(self.metric_name), "MLflowCallback")
            return list(self.metric_name)
        if count == 1:
            return [self.metric_name]
        objectives = study.metric_names or tuple(str(i) for i in range(count))
        return [f"{self.metric_name}_{name}" for name in objectives]

    # -- finding or creating the experiment and the study's parent run ----------------------------
    def _experiment(self, name: str) -> str:
        if name in self._experiments:
            return self._experiments[name]
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                experiment_id: str = self.client.create_experiment(name)
            except MlflowException:  # another process created it first: use theirs
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
                experiment_id = found.experiment_id
        elif found.lifecycle_stage != "active":
            raise ConfigError("experiment_name", "names an MLflow experiment that was deleted: restore it "
                                                 "(mlflow experiments restore) or pick another name", name,
                              "MLflowCallback")
        else:
            experiment_id = found.experiment_id
        self._experiments[name] = experiment_id
        return experiment_id

    def _find(self, experiment_id: str, study_name: str, kind: RunKind, extra: str = "") -> list[Any]:
        """The study's runs of `kind` (filtered by the study tag here: a study's name may hold characters
        that MLflow's filter syntax cannot quote), oldest first."""
        runs = self.client.search_runs([experiment_id], f"tags.`{KIND_TAG}` = '{kind.value}'{extra}")
        return sorted((r for r in runs if r.data.tags.get(STUDY_TAG) == study_name),
                      key=lambda r: (r.info.start_time, r.info.run_id))

    def _parent(self, study: Study, experiment_id: str) -> str:
        key = (str(self.client.tracking_uri), experiment_id, study.name)
        with _PARENTS_LOCK:
            if key not in _PARENTS:
                found = self._find(experiment_id, study.name, RunKind.STUDY)
                _PARENTS[key] = found[0].info.run_id if found else self._create_parent(study, experiment_id)
            return _PARENTS[key]

    def _create_parent(self, study: Study, experiment_id: str) -> str:
        """A new parent run; when another process created one at the same time, the older one is kept by both
        and this one deleted. (The older by start time: should one process stall between taking its start time
        and writing its run for longer than the other takes to create and look again, each keeps its own; MLflow
        has no atomic create-if-absent to close that window.)"""
        tags = {**self.tags, STUDY_TAG: study.name, KIND_TAG: RunKind.STUDY.value,
                DIRECTIONS_TAG: ",".join(d.value for d in study.directions)}
        run = self.client.create_run(experiment_id, tags=tags, run_name=study.name)
        self.client.set_terminated(run.info.run_id, "FINISHED")  # a container: its trials run in their own runs
        oldest = self._find(experiment_id, study.name, RunKind.STUDY)[0].info.run_id
        if oldest != run.info.run_id:
            self.client.delete_run(run.info.run_id)
        return str(oldest)

    def _logged(self, experiment_id: str, study_name: str, record: TrialRecord, parent: str | None) -> bool:
        """Whether this very trial has a run: same study, number and start time (a study of the same name run
        again, in memory say, numbers its trials from 0 again: those are other trials)."""
        extra = f" and tags.`{TRIAL_TAG}` = '{record.number}'"
        if parent is not None:
            extra += f" and tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent}'"
        start = millis(record.datetime_start)
        return any(run.info.start_time == start for run in self._find(experiment_id, study_name, RunKind.TRIAL, extra))

    # -- one trial's run ----------------------------------------------------------------------------
    def _log_trial(self, study: Study, record: TrialRecord, experiment_id: str, parent: str | None) -> None:
        tags = {**self.tags, **self._trial_tags(study, record)}
        if parent is not None:
            tags[MLFLOW_PARENT_RUN_ID] = parent
        run_id = self.client.create_run(experiment_id, start_time=millis(record.datetime_start), tags=tags,
                                        run_name=f"trial {record.number}").info.run_id
        params = [Param(name, clip(str(value), MAX_PARAM_VAL_LENGTH)) for name, value in record.params.items()]
        for batch in chunks(params, MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(run_id, params=batch)
        for metrics in chunks(self._metrics(study, record), MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=metrics)
        self.client.set_terminated(run_id, RUN_STATUS[record.state], millis(record.datetime_complete))

    def _trial_tags(self, study: Study, record: TrialRecord) -> dict[str, str]:
        tags = {STUDY_TAG: study.name, KIND_TAG: RunKind.TRIAL.value, TRIAL_TAG: str(record.number),
                STATE_TAG: record.state.value}
        if record.error is not None:
            tags[ERROR_TAG] = clip(record.error, MAX_TAG_VAL_LENGTH)
        if record.cause is not None:
            tags[CAUSE_TAG] = record.cause.value
        if record.parent is not None:
            tags[PARENT_TAG] = str(record.parent)
        tags.update({f"{USER_ATTR_PREFIX}{key}": clip(str(value), MAX_TAG_VAL_LENGTH)
                     for key, value in record.user_attrs.items()})
        return tags

    def _metrics(self, study: Study, record: TrialRecord) -> list[Metric]:
        names = self.metric_names(study)
        end = millis(record.datetime_complete)
        metrics = [Metric(name, value, end, 0) for name, value in zip(names, record.values or (), strict=False)]
        for step, value in sorted(record.intermediate_values.items()):
            vector = record.intermediate_vectors.get(step, (value,))  # a single report is the first objective's
            metrics += [Metric(f"{INTERMEDIATE_PREFIX}{name}", v, end, step) for name, v in zip(names, vector,
                                                                                               strict=False)]
        metrics += [Metric(f"{CONSTRAINT_PREFIX}{name}", value, end, 0) for name, value in record.constraints.items()]
        return metrics


__all__ = ["CONSTRAINT_PREFIX", "INTERMEDIATE_PREFIX", "KIND_TAG", "RUN_STATUS", "STUDY_TAG", "TRIAL_TAG",
           "MLflowCallback", "RunKind", "chunks", "clip", "millis"]
