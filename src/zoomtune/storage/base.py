"""The storage interface: the single source of truth for studies, trials and events.

A backend implements these methods so that each one is atomic: a call that returns has
committed. Every backend passes the conformance suite in `zoomtune.testing.storage_suite`.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from typing import Any

from zoomtune.errors import StorageError
from zoomtune.records import (Direction, Event, EventKind, FailureCause, StudyInfo, StudySummary, TrialRecord,
                              TrialState)
from zoomtune.space import Distribution

ParamWrite = Mapping[str, tuple[Distribution, Any]]


class StorageFault(enum.Enum):
    """How a database failed, so that a caller can tell a full disk from a server that is down."""

    NOT_A_DATABASE = "not a database"
    DAMAGED = "damaged"
    FULL = "full"
    READ_ONLY = "read-only"
    VANISHED = "vanished"
    LOCKED = "locked"
    UNREACHABLE = "unreachable"
    OTHER = "other"


class StorageFailure(StorageError):
    """The database under a storage failed: `fault` says how. The message is one line that reads alone
    ("sqlite:///z.db: the disk is full; free some space, then `zoomtune resume`"); the driver's own
    exception, when there is one, is the `__cause__`."""

    def __init__(self, shown_url: str, fault: StorageFault, what: str, todo: str) -> None:
        self.shown_url, self.fault, self.what, self.todo = shown_url, fault, what, todo
        super().__init__(f"{shown_url}: {what}; {todo}")

    def __reduce__(self) -> tuple[Any, ...]:  # keeps the fault when sent between processes
        return (StorageFailure, (self.shown_url, self.fault, self.what, self.todo))


class Storage(ABC):
    """Where studies live. `url` names it in messages."""

    url: str = "storage"

    # -- studies -----------------------------------------------------------------------------
    @abstractmethod
    def create_study(self, name: str, direction: Direction, space: dict[str, Any] | None = None,
                     attrs: dict[str, Any] | None = None, *, directions: tuple[Direction, ...] = (),
                     metric_names: tuple[str, ...] = ()) -> StudyInfo:
        """Create a study; raises `DuplicatedStudyError` when the name is taken. A multi-objective study gives
        every objective's `directions` (`direction` is the first) and, optionally, their `metric_names`."""

    @abstractmethod
    def get_study(self, name: str) -> StudyInfo:
        """The study of that name; raises `StudyNotFoundError`."""

    @abstractmethod
    def list_studies(self) -> list[StudySummary]:
        """Every study with its trial counts and best value, oldest first."""

    @abstractmethod
    def delete_study(self, name: str) -> None:
        """Remove a study and everything in it; raises `StudyNotFoundError`."""

    # -- trials ------------------------------------------------------------------------------
    @abstractmethod
    def create_trial(self, study_id: int, state: TrialState = TrialState.RUNNING,
                     fixed_params: dict[str, Any] | None = None, parent: int | None = None,
                     user_attrs: dict[str, Any] | None = None) -> TrialRecord:
        """Add a trial with the next free number (unique even with concurrent writers)."""

    @abstractmethod
    def start_trial(self, study_id: int, number: int | None = None) -> TrialRecord:
        """In one atomic step, turn the oldest WAITING trial (or the WAITING trial `number`, else
        `TrialStateError`) into a RUNNING one, or else add a new RUNNING trial; return it. Two
        workers never get the same trial."""

    @abstractmethod
    def update_trial(self, trial_id: int, *, params: ParamWrite | None = None,
                     values: Mapping[int, float] | None = None, user_attrs: Mapping[str, Any] | None = None,
                     state: TrialState | None = None, value: float | None = None,
                     error: str | None = None, cause: FailureCause | None = None,
                     vectors: Mapping[int, tuple[float, ...]] | None = None,
                     objective_values: tuple[float, ...] | None = None,
                     constraints: Mapping[str, float] | None = None) -> None:
        """Write params, intermediate values, attributes, constraints and (last) a final state in one commit
        (a FAILED one with its `error` message and `cause`). In a multi-objective study `vectors` are reports
        of every objective (step -> values; `values` holds their first objective's) and `objective_values`
        the final ones (`value` their first); constraints merge into those already stored, as attributes do."""

    @abstractmethod
    def get_trial(self, study_id: int, number: int) -> TrialRecord:
        """One trial by number; raises `TrialNotFoundError`."""

    @abstractmethod
    def get_trials(self, study_id: int, states: Collection[TrialState] | None = None, *,
                   from_number: int = 0) -> list[TrialRecord]:
        """The study's trials in number order, optionally only those in `states`, and only those numbered
        `from_number` or above (the latest trials of a big study without reading the rest)."""

    # -- liveness ----------------------------------------------------------------------------
    @abstractmethod
    def heartbeat(self, trial_ids: Collection[int]) -> None:
        """Mark these RUNNING trials as alive now."""

    @abstractmethod
    def fail_stale_trials(self, study_id: int, older_than: float, error: str) -> list[int]:
        """Turn RUNNING trials whose last heartbeat is more than `older_than` seconds old into FAILED
        with `error` (cause WORKER_LOST); returns the numbers of the trials this call failed (so a concurrent caller
        never fails the same trial twice)."""

    # -- events ------------------------------------------------------------------------------
    @abstractmethod
    def add_event(self, study_id: int, event: Event) -> None:
        """Record an event (a nudge, a branch, a zoom round)."""

    @abstractmethod
    def get_events(self, study_id: int, kind: EventKind | None = None,
                   trial_number: int | None = None) -> list[Event]:
        """The study's events in the order they were added, optionally of one kind or one trial."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the storage must not be used afterwards."""


__all__ = ["ParamWrite", "Storage", "StorageFailure", "StorageFault"]
