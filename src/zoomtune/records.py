"""Plain records every layer shares: trial states, directions, events and finished-trial records.

They sit at the bottom of the layer order so samplers, schedulers and storages can all read
trial history without importing the study layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum
from typing import Any

from zoomtune.space import Distribution


class TrialState(str, Enum):
    """Where a trial is in its life."""

    WAITING = "WAITING"  # enqueued, not yet picked up by a worker
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    STOPPED = "STOPPED"  # stopped early by a scheduler; keeps its last reported value
    FAILED = "FAILED"  # exception, NaN/inf value, or a worker that died

    @property
    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.STOPPED, TrialState.FAILED)


class Direction(str, Enum):
    """Whether the objective is minimised or maximised."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether value `a` is strictly better than `b`."""
        return a < b if self is Direction.MINIMIZE else a > b


class EventKind(str, Enum):
    """What an event records (its payload's type says the same; see `PAYLOADS`)."""

    NUDGE = "nudge"  # a running trial's hyperparameters were changed
    CONTROL = "control"  # a request to a running trial: nudge it or stop it
    BRANCH = "branch"  # a trial was started from another's checkpoint
    ZOOM = "zoom"  # a coarse-to-fine round's boxes
    CHECKPOINT = "checkpoint"  # a trial saved its state at a step
    NOTE = "note"


class ControlAction(str, Enum):
    """What a CONTROL event asks of a running trial."""

    NUDGE = "nudge"
    STOP = "stop"


class BranchReason(str, Enum):
    """Why a trial was branched from another."""

    BRANCH = "branch"  # by hand (`study.branch`, `zoomtune branch`)
    PBT = "pbt"  # population-based training's exploit step
    RETRY = "retry"  # its parent's worker died and `max_retries` allowed another go
    RESUME = "resume"  # `zoomtune resume` continued an interrupted trial


class FailureCause(str, Enum):
    """Why a FAILED trial failed, recorded where it happened."""

    ERROR = "error"  # the objective raised
    BAD_VALUE = "bad_value"  # the objective returned NaN, inf or something that is not a number
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM while it ran
    WORKER_LOST = "worker_lost"  # its worker process died or its heartbeat went stale
    CANCELLED = "cancelled"  # the run stopped before the trial could run
    STORAGE = "storage"  # its result could not be written (not JSON, out of range, disk full...)

    @property
    def resumable(self) -> bool:
        """Whether continuing the trial from its checkpoint makes sense (it did not fail by itself)."""
        return self in (FailureCause.INTERRUPTED, FailureCause.WORKER_LOST, FailureCause.CANCELLED)


@dataclass(frozen=True)
class NudgePayload:
    """A running trial took new values at a step: `old` and `new` values of the changed parameters."""

    old: dict[str, Any]
    new: dict[str, Any]


@dataclass(frozen=True)
class ControlPayload:
    """A request to a running trial, seen at its next report."""

    action: ControlAction
    params: dict[str, Any] = field(default_factory=dict)  # the new values, for a nudge


@dataclass(frozen=True)
class BranchPayload:
    """A trial started from `parent`'s checkpoint at `from_step` (None: from scratch) with `overrides`."""

    parent: int
    overrides: dict[str, Any] = field(default_factory=dict)
    reason: BranchReason = BranchReason.BRANCH
    from_step: int | None = None  # the parent's step whose checkpoint it starts from
    replaces: int | None = None  # PBT: the weak trial this branch replaces


@dataclass(frozen=True)
class ZoomPayload:
    """A coarse-to-fine round's boxes in unit-cube coordinates, and the same in the parameters' values."""

    round: int
    names: list[str]
    boxes: list[dict[str, Any]]  # {"unit": {name: [lo, hi]}, "choices": {name: [index, ...]}}
    n_trials: int
    best: float
    described: list[str]


@dataclass(frozen=True)
class CheckpointPayload:
    """A checkpoint file a trial wrote at the event's step."""

    path: str


@dataclass(frozen=True)
class NotePayload:
    """Free text attached to a study or trial."""

    text: str


Payload = NudgePayload | ControlPayload | BranchPayload | ZoomPayload | CheckpointPayload | NotePayload
PAYLOADS: dict[EventKind, type[Any]] = {
    EventKind.NUDGE: NudgePayload, EventKind.CONTROL: ControlPayload, EventKind.BRANCH: BranchPayload,
    EventKind.ZOOM: ZoomPayload, EventKind.CHECKPOINT: CheckpointPayload, EventKind.NOTE: NotePayload}
_KIND_OF = {payload_type: kind for kind, payload_type in PAYLOADS.items()}
_ENUM_FIELDS: dict[str, type[Enum]] = {"action": ControlAction, "reason": BranchReason}


def payload_to_dict(payload: Payload) -> dict[str, Any]:
    """A payload as plain JSON-ready data (enums as their values), for storage."""
    return {name: value.value if isinstance(value, Enum) else value
            for name, value in ((f.name, getattr(payload, f.name)) for f in fields(payload))}


def payload_from_dict(kind: EventKind, data: dict[str, Any]) -> Payload:
    """The payload of a `kind` event as stored by `payload_to_dict`; unknown keys are ignored."""
    payload_type = PAYLOADS[kind]
    known = {f.name for f in fields(payload_type)}
    values = {key: _ENUM_FIELDS[key](value) if key in _ENUM_FIELDS else value
              for key, value in data.items() if key in known}
    return payload_type(**values)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Event:
    """Something that happened to a study or trial (a nudge, a branch, a zoom round); its `kind`
    follows from its payload's type."""

    payload: Payload
    trial_number: int | None = None
    step: int | None = None
    time: datetime | None = None

    @property
    def kind(self) -> EventKind:
        return _KIND_OF[type(self.payload)]


@dataclass(frozen=True)
class StudyInfo:
    """A study's identity and settings as stored. `direction` is the first objective's; `directions` has one
    per objective (`(direction,)` for a single-objective study) and `metric_names` names them (or is empty)."""

    study_id: int
    name: str
    direction: Direction
    space: dict[str, Any] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    created: datetime | None = None
    directions: tuple[Direction, ...] = ()
    metric_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.directions:
            object.__setattr__(self, "directions", (self.direction,))

    @property
    def is_multi_objective(self) -> bool:
        return len(self.directions) > 1

    def objective_names(self) -> tuple[str, ...]:
        """The objectives' names: `metric_names`, or "0", "1", ... when none were given."""
        return self.metric_names or tuple(str(i) for i in range(len(self.directions)))


@dataclass(frozen=True)
class StudySummary:
    """A study with its trial counts, for listings."""

    name: str
    direction: Direction
    n_trials: int
    counts: dict[TrialState, int]
    best_value: float | None  # None in a multi-objective study (see its Pareto front)
    created: datetime | None = None
    directions: tuple[Direction, ...] = ()  # one per objective; `(direction,)` for one

    def __post_init__(self) -> None:
        if not self.directions:
            object.__setattr__(self, "directions", (self.direction,))


@dataclass(frozen=True)
class TrialRecord:
    """A trial as stored: what `study.trials` and samplers see."""

    number: int
    state: TrialState
    params: dict[str, Any]
    distributions: dict[str, Distribution]
    value: float | None = None
    intermediate_values: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    parent: int | None = None
    events: tuple[Event, ...] = ()
    cause: FailureCause | None = None  # why a FAILED trial failed
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None
    trial_id: int = -1
    #: a multi-objective trial's value of every objective, as stored (None in a single-objective study): read
    #: `values`
    objective_values: tuple[float, ...] | None = None
    #: name -> value; a constraint is satisfied when its value is <= 0
    constraints: dict[str, float] = field(default_factory=dict)
    #: step -> one reported value per objective, in a multi-objective study (`intermediate_values` holds the
    #: first objective's, which schedulers watch)
    intermediate_vectors: dict[int, tuple[float, ...]] = field(default_factory=dict)

    @property
    def values(self) -> tuple[float, ...] | None:
        """One value per objective: `(value,)` in a single-objective study; None without a result."""
        if self.objective_values is not None:
            return self.objective_values
        return None if self.value is None else (self.value,)

    @property
    def feasible(self) -> bool:
        """Whether every constraint is satisfied (value <= 0); True without constraints."""
        return all(v <= 0 for v in self.constraints.values())

    @property
    def violation(self) -> float:
        """The total constraint violation, sum(max(0, c)): 0 for a feasible trial (Deb's rule compares it)."""
        return sum(max(0.0, v) for v in self.constraints.values())

    @property
    def duration(self) -> float | None:
        """Seconds between start and completion, when both are known."""
        if self.datetime_start and self.datetime_complete:
            return (self.datetime_complete - self.datetime_start).total_seconds()
        return None

    @property
    def last_step(self) -> int | None:
        return max(self.intermediate_values) if self.intermediate_values else None


def best_of(trials: list[TrialRecord], direction: Direction) -> TrialRecord | None:
    """The feasible COMPLETE trial with the best value (the first one on ties), or None."""
    best: TrialRecord | None = None
    for trial in trials:
        if (trial.state is not TrialState.COMPLETE or trial.value is None or not math.isfinite(trial.value)
                or not trial.feasible):
            continue
        if best is None or direction.better(trial.value, best.value):  # type: ignore[arg-type]
            best = trial
    return best


__all__ = ["PAYLOADS", "BranchPayload", "BranchReason", "CheckpointPayload", "ControlAction", "ControlPayload",
           "Direction", "Event", "EventKind", "FailureCause", "NotePayload", "NudgePayload", "Payload", "StudyInfo",
           "StudySummary", "TrialRecord", "TrialState", "ZoomPayload", "best_of", "payload_from_dict",
           "payload_to_dict"]
