"""The scheduler interface: from a running trial's reports, decide whether it goes on.

Schedulers are orthogonal to samplers: any sampler works with any scheduler. A decision is
an enum value, never a string.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from zoomtune.errors import ConfigError, require, require_seed
from zoomtune.records import BranchReason, Direction, TrialRecord
from zoomtune.seeding import fresh_seed

#: which objective a scheduler watches in a multi-objective study: its name (one of the study's
#: `metric_names`), its index, or None (the scheduler's default: the first, or all for ASHA / Hyperband)
Objective = str | int | None


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
    """What a scheduler may look at: the study's directions, objective names and trials (loaded on demand).

    `branch(trial_number, step, overrides, reason=..., replaces=...)` queues a new trial that
    starts from another's checkpoint with changed parameters (what PBT's exploit step needs).
    """

    direction: Direction
    history: Callable[[], list[TrialRecord]] = field(default=list, repr=False)
    branch: Brancher = field(default=_cannot_branch, repr=False)
    #: every objective's direction in a multi-objective study (`direction` is the first, which a
    #: single-objective rule watches); `(direction,)` otherwise
    directions: tuple[Direction, ...] = ()
    #: the objectives' names as given to the study (`metric_names`), empty when none were given
    metric_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.directions:
            object.__setattr__(self, "directions", (self.direction,))


def require_objective(owner: str, objective: Any) -> Objective:
    """`objective` checked for a constructor: a non-empty name, an integer index >= 0 or None; else
    `ConfigError` ("Owner: objective: must be ...; got value"). Whether the study has it is checked later,
    by `objective_index`, when the study is known."""
    named = isinstance(objective, str) and bool(objective.strip())
    indexed = isinstance(objective, numbers.Integral) and not isinstance(objective, bool) and int(objective) >= 0
    require(objective is None or named or indexed, owner, "objective",
            "must be an objective's name (a non-empty string), its index (an integer >= 0) or None", objective)
    return int(objective) if indexed else objective


def objective_index(objective: Objective, directions: Sequence[Direction], metric_names: Sequence[str],
                    owner: str) -> int | None:
    """The index of `objective` among a study's objectives (None stays None); `ConfigError` naming the
    choices when the study has no such objective."""
    if objective is None:
        return None
    if isinstance(objective, str) and objective in metric_names:
        return list(metric_names).index(objective)
    if isinstance(objective, int) and objective < len(directions):
        return objective
    names = ", ".join(repr(name) for name in metric_names)
    choices = (f"one of the study's objectives ({names}) or an index below {len(directions)}" if metric_names
               else f"an objective index below {len(directions)} (the study names no objectives)")
    raise ConfigError("objective", f"must be {choices}", objective, owner)


def objective_curve(trial: TrialRecord, index: int) -> dict[int, float]:
    """Step -> the trial's report of objective `index`. The first objective's is `intermediate_values` (a
    single number reported in a multi-objective study counts as it); another's comes from the vectors."""
    if index == 0:
        return trial.intermediate_values
    return {step: vector[index] for step, vector in trial.intermediate_vectors.items()}


class Scheduler(ABC):
    """Decides, at each report of a running trial, whether it continues."""

    #: the objective it watches (see `Objective`); subclasses that take one set it in their constructor
    objective: Objective = None

    def __init__(self, seed: int | None = None) -> None:
        seed = require_seed(type(self).__name__, seed)
        self.seed: int = fresh_seed() if seed is None else seed

    def check_study(self, directions: Sequence[Direction], metric_names: Sequence[str]) -> None:
        """Raise `ConfigError` now, before any trial runs, when the study lacks the objective this
        scheduler watches."""
        objective_index(self.objective, directions, metric_names, type(self).__name__)

    def watched(self, context: ScheduleContext) -> int | None:
        """The index of the watched objective in `context`'s study (None when none was named)."""
        return objective_index(self.objective, context.directions, context.metric_names, type(self).__name__)

    def _objective_repr(self) -> str:
        """", objective=..." for a repr when an objective was named, else nothing."""
        return "" if self.objective is None else f", objective={self.objective!r}"

    @abstractmethod
    def decide(self, trial: TrialRecord, context: ScheduleContext) -> Decision:
        """The decision for `trial`, given its latest intermediate values."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"


__all__ = ["Brancher", "Decision", "Objective", "ScheduleContext", "Scheduler", "objective_curve", "objective_index",
           "require_objective"]
