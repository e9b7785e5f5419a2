"""The scheduler interface: from a running trial's reports, decide whether it goes on.

Schedulers are orthogonal to samplers: any sampler works with any scheduler. A decision is
an enum value, never a string.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from zoomtune.records import Direction, TrialRecord
from zoomtune.samplers.base import fresh_seed


class Decision(str, Enum):
    """What happens to a running trial after a report."""

    CONTINUE = "continue"
    STOP = "stop"


def _cannot_branch(trial_number: int, step: int | None = None, overrides: Any = None, **payload: Any) -> int:
    raise RuntimeError("this context cannot branch trials")


@dataclass(frozen=True)
class ScheduleContext:
    """What a scheduler may look at: the study's direction and its trials (loaded on demand).

    `branch(trial_number, step, overrides, **payload)` queues a new trial that starts from
    another's checkpoint with changed parameters (what PBT's exploit step needs).
    """

    direction: Direction
    history: Callable[[], list[TrialRecord]] = field(default=lambda: [], repr=False)
    branch: Callable[..., int] = field(default=_cannot_branch, repr=False)


class Scheduler(ABC):
    """Decides, at each report of a running trial, whether it continues."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed: int = fresh_seed() if seed is None else int(seed)

    @abstractmethod
    def decide(self, trial: TrialRecord, context: ScheduleContext) -> Decision:
        """The decision for `trial`, given its latest intermediate values."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"


__all__ = ["Decision", "ScheduleContext", "Scheduler"]
