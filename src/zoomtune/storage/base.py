"""The storage interface: the single source of truth for studies, trials and events.

A backend implements these methods so that each one is atomic: a call that returns has
committed. Every backend passes the conformance suite in `zoomtune.testing.storage_suite`.
"""

from __future__ import annotations

import enum
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from zoomtune.errors import StorageError, TrialStateError, shown
from zoomtune.records import (Direction, Event, EventKind, FailureCause, StudyInfo, StudySummary, TrialRecord,
                              TrialState)
from zoomtune.space import Distribution

ParamWrite = Mapping[str, tuple[Distribution, Any]]

#: the key of `StudyInfo.attrs` under which a study keeps its user attributes (`AttrScope.USER`)
USER_ATTRS_KEY = "user_attrs"


class AttrScope(enum.Enum):
    """Whose a study attribute is, and so where `Storage.set_study_attr` keeps it."""

    USER = "user"  # the user's (`study.set_user_attr`): a key of `attrs["user_attrs"]`
    SYSTEM = "system"  # zoomtune's own (heartbeat interval, sampler seed, import origin): a key of `attrs`


def check_attr(owner: str, key: Any, value: Any) -> None:
    """Refuse an attribute a storage cannot keep, naming it: `key` must be a non-empty string and `value`
    JSON-serialisable (the rule trial user attributes follow). `owner` starts the message ("study 'a'")."""
    if not isinstance(key, str) or not key.strip():
        raise TypeError(f"{owner}: an attribute's name must be a non-empty string; got {shown(key)}")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{owner}: attribute {key!r} must be JSON-serialisable (a str, number, bool, None, or a "
                        f"list / dict of them); got {shown(value)} ({error})") from None


def user_attrs_of(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The user attributes (those set in `AttrScope.USER`) among a study's `attrs`, a copy."""
    found = attrs.get(USER_ATTRS_KEY)
    return dict(found) if isinstance(found, dict) else {}


def with_attr(attrs: Mapping[str, Any], key: str, value: Any, scope: AttrScope) -> dict[str, Any]:
    """A study's `attrs` with `key` set to `value` in `scope` (the storages' shared rule; `attrs` is left as it
    is). A system attribute cannot take the name that holds the user's."""
    if scope is AttrScope.USER:
        return {**attrs, USER_ATTRS_KEY: {**user_attrs_of(attrs), key: value}}
    if key == USER_ATTRS_KEY:
        raise ValueError(f"study attribute {USER_ATTRS_KEY!r} holds the user attributes; set one with "
                         "scope=AttrScope.USER, or name the system attribute otherwise")
    return {**attrs, key: value}


def _utc(moment: datetime | None) -> datetime | None:
    """`moment` as an aware UTC time; a naive one is read as local time (as `datetime.timestamp` reads it)."""
    return moment.astimezone(timezone.utc) if moment is not None else None


@dataclass(frozen=True)
class FinishedTrial:
    """A whole finished trial for `Storage.add_finished_trial` to write at once, with its own times: one copied
    from another tool or storage. The storage gives it the next trial number.

    `params` are name -> (distribution, value), as `update_trial` takes them; `intermediate_vectors` (a
    multi-objective study's reports of every objective) are kept for steps in `intermediate_values` (their first
    objective's), and `objective_values` beside `value` (the first). Times are stored as UTC (a naive time is read
    as local time); a `datetime_complete` of None is stamped when the trial is written.
    """

    state: TrialState
    params: ParamWrite = field(default_factory=dict)
    value: float | None = None
    objective_values: tuple[float, ...] | None = None
    intermediate_values: Mapping[int, float] = field(default_factory=dict)
    intermediate_vectors: Mapping[int, tuple[float, ...]] = field(default_factory=dict)
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    constraints: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    cause: FailureCause | None = None
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None

    def __post_init__(self) -> None:
        state = TrialState(self.state)
        if not state.is_finished:
            raise TrialStateError(f"a finished trial is COMPLETE, STOPPED or FAILED; got {state.value}")
        for key, value in self.user_attrs.items():
            check_attr("finished trial", key, value)
        stray = sorted(set(self.intermediate_vectors) - set(self.intermediate_values))
        if stray:
            raise ValueError(f"finished trial: intermediate_vectors at steps {stray} need intermediate_values there "
                             "(their first objective's) too")
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "datetime_start", _utc(self.datetime_start))
        object.__setattr__(self, "datetime_complete", _utc(self.datetime_complete))


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

    @abstractmethod
    def set_study_attr(self, study_id: int, key: str, value: Any, *, scope: AttrScope = AttrScope.USER) -> StudyInfo:
        """Set one attribute of a study after its creation (a JSON-serialisable value, refused by `check_attr`
        otherwise), in one commit that leaves its other attributes as they are even with concurrent writers;
        the study as now stored. Raises `StudyNotFoundError`."""

    # -- trials ------------------------------------------------------------------------------
    @abstractmethod
    def create_trial(self, study_id: int, state: TrialState = TrialState.RUNNING,
                     fixed_params: dict[str, Any] | None = None, parent: int | None = None,
                     user_attrs: dict[str, Any] | None = None) -> TrialRecord:
        """Add a trial with the next free number (unique even with concurrent writers)."""

    @abstractmethod
    def add_finished_trial(self, study_id: int, trial: FinishedTrial) -> TrialRecord:
        """Write a whole finished trial, with its own start and end times, in one commit under the next free
        number (as `create_trial` takes it); the record as stored. An interrupted call leaves no trial or the
        whole one, never a RUNNING one."""

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


__all__ = ["USER_ATTRS_KEY", "AttrScope", "FinishedTrial", "ParamWrite", "Storage", "StorageFailure", "StorageFault",
           "check_attr", "user_attrs_of", "with_attr"]
