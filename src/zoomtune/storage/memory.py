"""In-memory storage: the API's default, fast and thread-safe, gone when the process ends."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from zoomtune.errors import DuplicatedStudyError, StudyNotFoundError, TrialNotFoundError, TrialStateError
from zoomtune.records import (Direction, Event, EventKind, FailureCause, StudyInfo, StudySummary, TrialRecord,
                              TrialState, best_of)
from zoomtune.space import Distribution
from zoomtune.storage.base import AttrScope, FinishedTrial, ParamWrite, Storage, check_attr, with_attr


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Trial:
    """Mutable twin of a TrialRecord, kept only inside this storage."""

    trial_id: int
    number: int
    state: TrialState
    started: datetime | None
    parent: int | None
    params: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    values: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    error: str | None = None
    cause: FailureCause | None = None
    finished: datetime | None = None
    heartbeat: float = field(default_factory=time.time)
    vectors: dict[int, tuple[float, ...]] = field(default_factory=dict)
    objective_values: tuple[float, ...] | None = None
    constraints: dict[str, float] = field(default_factory=dict)

    def record(self, events: tuple[Event, ...]) -> TrialRecord:
        return TrialRecord(number=self.number, state=self.state, params=dict(self.params),
                           distributions=dict(self.distributions), value=self.value,
                           intermediate_values=dict(self.values), user_attrs=dict(self.user_attrs),
                           error=self.error, parent=self.parent, events=events, cause=self.cause,
                           datetime_start=self.started, datetime_complete=self.finished, trial_id=self.trial_id,
                           objective_values=self.objective_values, constraints=dict(self.constraints),
                           intermediate_vectors=dict(self.vectors))


@dataclass
class _Study:
    info: StudyInfo
    trials: list[_Trial] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    waiting: deque[_Trial] = field(default_factory=deque)  # enqueued trials, oldest first


class InMemoryStorage(Storage):
    """Keeps everything in dictionaries guarded by one lock."""

    url = "memory"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._studies: dict[str, _Study] = {}
        self._by_id: dict[int, _Study] = {}
        self._trials: dict[int, tuple[_Study, _Trial]] = {}
        self._next_study_id = 0
        self._trial_ids = itertools.count()

    def create_study(self, name: str, direction: Direction, space: dict[str, Any] | None = None,
                     attrs: dict[str, Any] | None = None, *, directions: tuple[Direction, ...] = (),
                     metric_names: tuple[str, ...] = ()) -> StudyInfo:
        with self._lock:
            if name in self._studies:
                raise DuplicatedStudyError(f"a study named {name!r} already exists in {self.url}")
            info = StudyInfo(self._next_study_id, name, Direction(direction), space, dict(attrs or {}), _now(),
                             tuple(Direction(d) for d in directions), tuple(metric_names))
            self._next_study_id += 1
            self._studies[name] = self._by_id[info.study_id] = _Study(info)
            return info

    def get_study(self, name: str) -> StudyInfo:
        with self._lock:
            if name not in self._studies:
                raise StudyNotFoundError(name, self.url)
            return self._studies[name].info

    def list_studies(self) -> list[StudySummary]:
        with self._lock:
            out = []
            for study in self._studies.values():
                counts = dict.fromkeys(TrialState, 0)
                for t in study.trials:
                    counts[t.state] += 1
                best = best_of([t.record(()) for t in study.trials if t.state is TrialState.COMPLETE],
                               study.info.direction)
                out.append(StudySummary(study.info.name, study.info.direction, len(study.trials), counts,
                                        best.value if best and not study.info.is_multi_objective else None,
                                        study.info.created, study.info.directions))
            return out

    def delete_study(self, name: str) -> None:
        with self._lock:
            study = self._studies.pop(name, None)
            if study is None:
                raise StudyNotFoundError(name, self.url)
            del self._by_id[study.info.study_id]
            for t in study.trials:
                self._trials.pop(t.trial_id, None)

    def set_study_attr(self, study_id: int, key: str, value: Any, *, scope: AttrScope = AttrScope.USER) -> StudyInfo:
        with self._lock:
            study = self._study(study_id)
            check_attr(f"study {study.info.name!r}", key, value)
            kept = json.loads(json.dumps(value))  # a copy, as a SQL storage reads it back (tuples as lists)
            study.info = replace(study.info, attrs=with_attr(study.info.attrs, key, kept, AttrScope(scope)))
            return study.info

    def _study(self, study_id: int) -> _Study:
        try:
            return self._by_id[study_id]
        except KeyError:
            raise StudyNotFoundError(f"#{study_id}", self.url) from None

    def create_trial(self, study_id: int, state: TrialState = TrialState.RUNNING,
                     fixed_params: dict[str, Any] | None = None, parent: int | None = None,
                     user_attrs: dict[str, Any] | None = None) -> TrialRecord:
        with self._lock:
            study = self._study(study_id)
            trial = _Trial(next(self._trial_ids), len(study.trials), TrialState(state),
                           _now() if state is TrialState.RUNNING else None, parent, dict(fixed_params or {}),
                           user_attrs=dict(user_attrs or {}))
            study.trials.append(trial)
            if trial.state is TrialState.WAITING:
                study.waiting.append(trial)
            self._trials[trial.trial_id] = (study, trial)
            return trial.record(())

    def add_finished_trial(self, study_id: int, trial: FinishedTrial) -> TrialRecord:
        with self._lock:
            study = self._study(study_id)
            stored = _Trial(next(self._trial_ids), len(study.trials), trial.state, trial.datetime_start, None,
                            {name: v for name, (_, v) in trial.params.items()},
                            {name: dist for name, (dist, _) in trial.params.items()},
                            dict(trial.intermediate_values), dict(trial.user_attrs), trial.value, trial.error,
                            trial.cause, trial.datetime_complete or _now(),
                            vectors={step: tuple(v) for step, v in trial.intermediate_vectors.items()},
                            objective_values=None if trial.objective_values is None else tuple(trial.objective_values),
                            constraints=dict(trial.constraints))
            study.trials.append(stored)
            self._trials[stored.trial_id] = (study, stored)
            return stored.record(())

    def start_trial(self, study_id: int, number: int | None = None) -> TrialRecord:
        with self._lock:
            study = self._study(study_id)
            waiting = study.waiting
            if number is not None:
                chosen = [t for t in waiting if t.number == number]
                if not chosen:
                    raise TrialStateError(f"trial {number} of study {study.info.name!r} is not waiting to run")
                waiting.remove(chosen[0])
                trial = chosen[0]
            elif waiting:
                trial = waiting.popleft()
            else:
                return self.create_trial(study_id)
            trial.state, trial.started, trial.heartbeat = TrialState.RUNNING, _now(), time.time()
            return trial.record(())

    def update_trial(self, trial_id: int, *, params: ParamWrite | None = None,
                     values: Mapping[int, float] | None = None, user_attrs: Mapping[str, Any] | None = None,
                     state: TrialState | None = None, value: float | None = None,
                     error: str | None = None, cause: FailureCause | None = None,
                     vectors: Mapping[int, tuple[float, ...]] | None = None,
                     objective_values: tuple[float, ...] | None = None,
                     constraints: Mapping[str, float] | None = None) -> None:
        with self._lock:
            if trial_id not in self._trials:
                raise TrialNotFoundError(f"no trial with id {trial_id} in {self.url}")
            _, trial = self._trials[trial_id]
            for name, (dist, v) in (params or {}).items():
                trial.params[name], trial.distributions[name] = v, dist
            trial.values.update(values or {})
            trial.user_attrs.update(user_attrs or {})
            trial.vectors.update({step: tuple(v) for step, v in (vectors or {}).items()})
            trial.constraints.update(constraints or {})
            trial.heartbeat = time.time()  # a trial that writes is alive
            if state is not None:
                trial.state, trial.value, trial.error, trial.finished = TrialState(state), value, error, _now()
                trial.cause = cause
                trial.objective_values = tuple(objective_values) if objective_values is not None else None

    def get_trial(self, study_id: int, number: int) -> TrialRecord:
        with self._lock:
            study = self._study(study_id)
            if not 0 <= number < len(study.trials):
                raise TrialNotFoundError(f"study {study.info.name!r} has no trial {number}")
            return study.trials[number].record(self._events_of(study, number))

    def get_trials(self, study_id: int, states: Collection[TrialState] | None = None, *,
                   from_number: int = 0) -> list[TrialRecord]:
        with self._lock:
            study = self._study(study_id)
            return [t.record(self._events_of(study, t.number)) for t in study.trials[max(from_number, 0):]
                    if states is None or t.state in states]

    def heartbeat(self, trial_ids: Collection[int]) -> None:
        now = time.time()
        with self._lock:
            for trial_id in trial_ids:
                if trial_id in self._trials and self._trials[trial_id][1].state is TrialState.RUNNING:
                    self._trials[trial_id][1].heartbeat = now

    def fail_stale_trials(self, study_id: int, older_than: float, error: str) -> list[int]:
        cutoff = time.time() - older_than
        with self._lock:
            failed = []
            for trial in self._study(study_id).trials:
                if trial.state is TrialState.RUNNING and trial.heartbeat < cutoff:
                    trial.state, trial.error, trial.finished = TrialState.FAILED, error, _now()
                    trial.cause = FailureCause.WORKER_LOST
                    failed.append(trial.number)
            return failed

    @staticmethod
    def _events_of(study: _Study, number: int) -> tuple[Event, ...]:
        return tuple(e for e in study.events if e.trial_number == number) if study.events else ()

    def add_event(self, study_id: int, event: Event) -> None:
        with self._lock:
            self._study(study_id).events.append(replace(event, time=event.time or _now()))

    def get_events(self, study_id: int, kind: EventKind | None = None,
                   trial_number: int | None = None) -> list[Event]:
        with self._lock:
            return [e for e in self._study(study_id).events
                    if (kind is None or e.kind is kind) and (trial_number is None or e.trial_number == trial_number)]


__all__ = ["InMemoryStorage"]
