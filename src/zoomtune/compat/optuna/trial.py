"""Optuna's trial objects over zoomtune's: the live `Trial` an objective receives, the `FrozenTrial` records
studies and callbacks hand out, and Optuna's `TrialState` (zoomtune's STOPPED is Optuna's PRUNED, FAILED is
FAIL)."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from zoomtune.compat.optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                                  IntDistribution, from_zoomtune)
from zoomtune.records import TrialRecord
from zoomtune.records import TrialState as ZtState
from zoomtune.space import ChoiceType
from zoomtune.trial import Trial as ZtTrial

if TYPE_CHECKING:
    from zoomtune.compat.optuna.study import Study


class TrialState(enum.IntEnum):
    """Optuna's trial states, with Optuna's numbers."""

    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4

    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

    @classmethod
    def of(cls, state: ZtState) -> TrialState:
        """The Optuna state of a zoomtune one."""
        return _FROM_ZOOMTUNE[state]

    def to_zoomtune(self) -> ZtState:
        return _TO_ZOOMTUNE[self]


_TO_ZOOMTUNE = {TrialState.RUNNING: ZtState.RUNNING, TrialState.COMPLETE: ZtState.COMPLETE,
                TrialState.PRUNED: ZtState.STOPPED, TrialState.FAIL: ZtState.FAILED,
                TrialState.WAITING: ZtState.WAITING}
_FROM_ZOOMTUNE = {zt: optuna for optuna, zt in _TO_ZOOMTUNE.items()}


def _named(owner: str, name: str, make: Callable[[], BaseDistribution]) -> BaseDistribution:
    """The distribution `make` builds; its ValueError names the call and the parameter."""
    try:
        return make()
    except ValueError as error:
        raise ValueError(f"{owner}({name!r}): {error}") from None


class OldSuggestions(ABC):
    """Optuna's old suggestion names, in terms of `suggest_float` (live and frozen trials have both)."""

    @abstractmethod
    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> Any:
        """A float in [low, high]."""

    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        """Optuna's old name for ``suggest_float(name, low, high)``."""
        value: float = self.suggest_float(name, low, high)
        return value

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        """Optuna's old name for ``suggest_float(name, low, high, log=True)``."""
        value: float = self.suggest_float(name, low, high, log=True)
        return value

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        """Optuna's old name for ``suggest_float(name, low, high, step=q)``."""
        value: float = self.suggest_float(name, low, high, step=q)
        return value


class Trial(OldSuggestions):
    """What an Optuna objective receives: Optuna's suggest / report / prune API over a live zoomtune trial."""

    def __init__(self, study: Study, trial: ZtTrial) -> None:
        self.study = study
        self.zoomtune = trial  # the zoomtune trial underneath, for zoomtune's own features (checkpoints, ...)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self.params})"

    # -- suggestions ------------------------------------------------------------------------
    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        """A float in [low, high]: log-uniform with `log`, on a grid of `step` with `step` (see
        `zoomtune.compat.optuna.distributions` for how a step maps)."""
        dist = _named("suggest_float", name, lambda: FloatDistribution(low, high, log=log, step=step))
        return float(self._suggest(name, dist, "suggest_float"))  # an enqueued 2 reads 2.0, as in Optuna

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        """An integer in [low, high] (both included): log-uniform with `log`, every `step`-th with `step`."""
        dist = _named("suggest_int", name, lambda: IntDistribution(low, high, log=log, step=step))
        return int(self._suggest(name, dist, "suggest_int"))

    def suggest_categorical(self, name: str, choices: Sequence[ChoiceType]) -> Any:
        """One of `choices`."""
        return self._suggest(name, CategoricalDistribution(tuple(choices)), "suggest_categorical")

    def _suggest(self, name: str, dist: BaseDistribution, owner: str) -> Any:
        declared = self.zoomtune.study.space
        if declared is not None and name in declared:  # a GridSampler's grid: its values, whatever the range
            return self.zoomtune.suggest(name, declared[name])
        return self.zoomtune.suggest(name, dist.to_zoomtune(f"{owner}({name!r})"))

    def suggest(self, name: str, distribution: BaseDistribution) -> Any:
        """A value from an Optuna distribution (what ``study.ask(fixed_distributions=...)`` uses)."""
        return self._suggest(name, distribution, type(distribution).__name__)

    # -- reports and attributes -------------------------------------------------------------
    def report(self, value: float, step: int) -> None:
        """Record an intermediate value at `step` (zoomtune's pruners count a report at step s as s + 1 epochs); a
        second report at the same step is ignored with a warning, as in Optuna."""
        if step in self.zoomtune.intermediate_values:
            warnings.warn(f"The reported value is ignored because this `step={step}` is already reported.",
                          UserWarning, stacklevel=2)
            return
        self.zoomtune.report(value, step)

    def should_prune(self) -> bool:
        """Whether the study's pruner says stop now (zoomtune's `should_stop`); then ``raise TrialPruned()``."""
        return self.zoomtune.should_stop()

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to the trial."""
        self.zoomtune.set_user_attr(key, value)

    def set_constraint(self, key: str, value: float) -> None:
        """A constraint of the trial: satisfied when `value` <= 0 (Optuna's and zoomtune's rule)."""
        self.zoomtune.set_constraint(key, value)

    @property
    def number(self) -> int:
        return self.zoomtune.number

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.zoomtune.params)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        return {name: from_zoomtune(d) for name, d in self.zoomtune.distributions.items()}

    @property
    def user_attrs(self) -> dict[str, Any]:
        return dict(self.zoomtune.user_attrs)

    @property
    def constraints(self) -> dict[str, float]:
        return dict(self.zoomtune.constraints)

    @property
    def datetime_start(self) -> datetime | None:
        return self.zoomtune.snapshot().datetime_start


@dataclass
class FrozenTrial(OldSuggestions):
    """A trial as stored, with Optuna's field names. Like Optuna's, it can stand in for a live trial (its
    ``suggest_*`` return its own parameters), so ``objective(study.best_trial)`` re-evaluates the best one."""

    number: int
    state: TrialState
    values: list[float] | None
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    user_attrs: dict[str, Any]
    intermediate_values: dict[int, float]
    datetime_start: datetime | None
    datetime_complete: datetime | None
    system_attrs: dict[str, Any] = field(default_factory=dict)
    constraints: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # zoomtune's message of a FAIL trial (Optuna has none)

    @classmethod
    def from_record(cls, record: TrialRecord) -> FrozenTrial:
        return cls(record.number, TrialState.of(record.state), list(record.values) if record.values else None,
                   dict(record.params), {name: from_zoomtune(d) for name, d in record.distributions.items()},
                   dict(record.user_attrs), dict(record.intermediate_values), record.datetime_start,
                   record.datetime_complete, constraints=dict(record.constraints), error=record.error)

    @property
    def value(self) -> float | None:
        """The objective's value (None without one); ValueError for a trial of several objectives."""
        if self.values is not None and len(self.values) > 1:
            raise ValueError(f"trial {self.number} has {len(self.values)} objective values: use `values`")
        return None if self.values is None else self.values[0]

    @property
    def duration(self) -> timedelta | None:
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start

    @property
    def last_step(self) -> int | None:
        return max(self.intermediate_values) if self.intermediate_values else None

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> Any:
        return self._stored(name)

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> Any:
        return self._stored(name)

    def suggest_categorical(self, name: str, choices: Sequence[ChoiceType]) -> Any:
        return self._stored(name)

    def _stored(self, name: str) -> Any:
        if name not in self.params:
            raise ValueError(f"trial {self.number} has no parameter {name!r} (it has: {', '.join(self.params)})")
        return self.params[name]

    def report(self, value: float, step: int) -> None:
        """Does nothing: a finished trial takes no reports (as in Optuna)."""

    def should_prune(self) -> bool:
        return False

    def set_user_attr(self, key: str, value: Any) -> None:
        """Change this copy only (the stored trial is finished)."""
        self.user_attrs[key] = value


__all__ = ["FrozenTrial", "Trial", "TrialState"]
