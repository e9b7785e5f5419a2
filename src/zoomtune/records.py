"""Plain records every layer shares: trial states, directions, events and finished-trial records.

They sit at the bottom of the layer order so samplers, schedulers and storages can all read
trial history without importing the study layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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
    """What an event records."""

    NUDGE = "nudge"  # a running trial's hyperparameter was changed (payload: old, new)
    CONTROL = "control"  # a request to a running trial: {"action": "nudge", "params": ...} or {"action": "stop"}
    BRANCH = "branch"  # a trial was started from another's checkpoint
    ZOOM = "zoom"  # a coarse-to-fine round's box
    CHECKPOINT = "checkpoint"  # a trial saved its state at a step
    NOTE = "note"


@dataclass(frozen=True)
class Event:
    """Something that happened to a study or trial (a nudge, a branch, a zoom round)."""

    kind: EventKind
    payload: dict[str, Any]
    trial_number: int | None = None
    step: int | None = None
    time: datetime | None = None


@dataclass(frozen=True)
class StudyInfo:
    """A study's identity and settings as stored."""

    study_id: int
    name: str
    direction: Direction
    space: dict[str, Any] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    created: datetime | None = None


@dataclass(frozen=True)
class StudySummary:
    """A study with its trial counts, for listings."""

    name: str
    direction: Direction
    n_trials: int
    counts: dict[TrialState, int]
    best_value: float | None
    created: datetime | None = None


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
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None
    trial_id: int = -1

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
    """The COMPLETE trial with the best value (the first one on ties), or None."""
    best: TrialRecord | None = None
    for trial in trials:
        if trial.state is not TrialState.COMPLETE or trial.value is None or not math.isfinite(trial.value):
            continue
        if best is None or direction.better(trial.value, best.value):  # type: ignore[arg-type]
            best = trial
    return best


__all__ = ["Direction", "Event", "EventKind", "StudyInfo", "StudySummary", "TrialRecord", "TrialState", "best_of"]
