"""A per-study cache of trial records that refreshes incrementally.

Finished trials never change, so after the first full load a refresh reads only what can
have changed: the RUNNING and WAITING trials, trials that finished since, new trials, and the
study's zoom / branch / nudge events. A study's payload is rebuilt (and its revision bumped)
only when something it shows changed, so a live page polling an idle study costs two small
queries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from zoomtune.dashboard.payload import study_payload
from zoomtune.plot.data import curve, shown_events
from zoomtune.records import Event, TrialRecord, TrialState
from zoomtune.storage.base import Storage
from zoomtune.study import Study, load_study

_OPEN = (TrialState.RUNNING, TrialState.WAITING)
MAX_SINGLE_RELOADS = 200


def _fingerprint(t: TrialRecord) -> tuple[Any, ...]:
    """What the page shows of a trial, to tell whether it changed."""
    last = t.intermediate_values.get(t.last_step) if t.last_step is not None else None
    return (t.state, repr(t.value), repr(t.objective_values), repr(sorted(t.constraints.items())),
            len(t.intermediate_values), t.last_step, repr(last), repr(sorted(t.params.items())), len(t.events), t.error)


@dataclass
class _Entry:
    study: Study
    trials: dict[int, TrialRecord]
    events: list[Event]
    rev: int = 1
    body: bytes | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class StudyCache:
    """Trial records of the studies in one storage, kept fresh on demand (thread-safe)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def _entry(self, name: str) -> tuple[_Entry, bool]:
        """(entry, just loaded) for `name`, loaded in full the first time (raises StudyNotFoundError)."""
        with self._lock:
            entry = self._entries.get(name)
            loading = self._loading.setdefault(name, threading.Lock())
        if entry is not None:
            return entry, False
        with loading:  # one full load per study, however many requests wait for it
            with self._lock:
                entry = self._entries.get(name)
            if entry is not None:
                return entry, False
            study = load_study(name, self.storage)
            entry = _Entry(study, {t.number: t for t in study.trials}, shown_events(study))
            with self._lock:
                self._entries[name] = entry
        return entry, True

    def _refresh(self, name: str, entry: _Entry) -> _Entry:
        """Reload what may have changed; bump `rev` when anything did. Call with entry.lock held."""
        study = entry.study
        if self.storage.get_study(name).study_id != study.study_id:  # deleted, then created again
            self.forget(name)
            return self._entry(name)[0]
        changed = {t.number: t for t in study.get_trials(_OPEN)}
        summary = next((s for s in self.storage.list_studies() if s.name == name), None)
        n_total = max(summary.n_trials if summary is not None else 0, max(changed, default=-1) + 1)
        reload = [n for n, t in entry.trials.items() if t.state in _OPEN and n not in changed]
        reload += [n for n in range(max(entry.trials, default=-1) + 1, n_total) if n not in changed]
        if len(reload) > MAX_SINGLE_RELOADS:
            trials = {t.number: t for t in study.trials}
        else:
            for number in reload:
                try:
                    changed[number] = study.trial(number)
                except KeyError:
                    continue
            trials = {**entry.trials, **changed}
        events = shown_events(study)
        differs = len(trials) != len(entry.trials) or len(events) != len(entry.events) or any(
            _fingerprint(t) != _fingerprint(entry.trials[n]) if n in entry.trials else True
            for n, t in changed.items())
        if differs or len(reload) > MAX_SINGLE_RELOADS:
            entry.trials, entry.events = trials, events
            entry.rev += 1
            entry.body = None
        return entry

    def study_json(self, name: str, rev: int | None = None) -> tuple[int, bytes]:
        """(revision, JSON body) of a study's page data; a tiny body when `rev` is current."""
        entry, fresh = self._entry(name)
        with entry.lock:
            if not fresh:
                entry = self._refresh(name, entry)
            if rev is not None and rev == entry.rev:
                return entry.rev, json.dumps({"rev": entry.rev, "unchanged": True}).encode()
            if entry.body is None:
                ordered = [entry.trials[n] for n in sorted(entry.trials)]
                info = self.storage.get_study(name)
                data = study_payload(name, info.directions, ordered, entry.events,
                                     objective_names=info.objective_names())
                data["rev"] = entry.rev
                entry.body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
            return entry.rev, entry.body

    def trial(self, name: str, number: int) -> TrialRecord:
        """One trial, read fresh from storage."""
        return self._entry(name)[0].study.trial(number)

    def curves(self, name: str, numbers: Iterable[int]) -> dict[str, Any]:
        """Learning curves of the given trials (fresh for open ones, cached for finished ones)."""
        entry = self._entry(name)[0]
        out: dict[str, Any] = {}
        for number in numbers:
            trial = entry.trials.get(number)
            if trial is None or trial.state in _OPEN:
                try:
                    trial = entry.study.trial(number)
                except KeyError:
                    continue
            out[str(number)] = curve(trial)
        return out

    def study(self, name: str) -> Study:
        """The loaded study (for control calls)."""
        return self._entry(name)[0].study

    def forget(self, name: str) -> None:
        """Drop a study's cache, so the next read reloads it."""
        with self._lock:
            self._entries.pop(name, None)


__all__ = ["StudyCache"]
