"""The scheduler interface: from a running trial's reports, decide whether it goes on.

Schedulers are orthogonal to samplers: any sampler works with any scheduler. A decision is
an enum value, never a string.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from zoomtune.records import BranchReason, Direction, TrialRecord
from zoomtune.seeding import fresh_seed


class Decision(str, Enum):
    """What happens to a running trial after a report."""

    CONTINUE = "continue"
    STOP = "stop"


class Brancher(Protocol):
    """Queues a trial that starts from another's checkpoint with changed parameters; returns its number."""

    def __call__(self, trial_number: int, step: int | None = None, overrides: Mapping[str, Any] | None = None, *,
                 reason: BranchReason = BranchReason.BRANCH, replaces: int | None = None) -> int: ...


def _cannot_branch(trial_number: int, step: int | None = None, overrides: Mapping[str, Any] | None = None, *,
                   reason: BranchReason = BranchReason.BRANCH, replaces: int | None = None) -> int:
    raise RuntimeError("this context cannot branch trials")


@dataclass(frozen=True)
class ScheduleContext:
    """What a scheduler may look at: the study's direction and its trials (loaded on demand).

    `branch(trial_number, step, overrides, reason=..., replaces=...)` queues a new trial that
    starts from another's checkpoint with changed parameters (what PBT's exploit step needs).
    """

    direction: Direction
    history: Callable[[], list[TrialRecord]] = field(default=list, repr=False)
    branch: Brancher = field(default=_cannot_branch, repr=False)
    #: every objective's direction in a multi-objective study (`direction` is the first, which a
    #: single-objective rule watches); `(direction,)` otherwise
    directions: tuple[Direction, ...] = ()

    def __post_init__(self) -> None:
        if not self.directions:
            object.__setattr__(self, "directions", (self.direction,))


class Scheduler(ABC):
    """Decides, at each report of a running trial, whether it continues."""

    def __init__(self, seed: int | None = None) -> None:
        from zoomtune.errors import require_seed

        seed = require_seed(type(self).__name__, seed)
        self.seed: int = fresh_seed() if seed is None else seed

    @abstractmethod
    def decide(self, trial: TrialRecord, context: ScheduleContext) -> Decision:
        """The decision for `trial`, given its latest intermediate values."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"


__all__ = ["Brancher", "Decision", "ScheduleContext", "Scheduler"]
