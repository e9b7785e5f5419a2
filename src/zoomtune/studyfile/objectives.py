"""The objectives and constraints of a study file: `direction:` / `directions:`, `metric_names:` and
`constraints: {metric: {max: limit}}`, read strictly, and the objective wrapper that turns each declared
limit into `trial.set_constraint` after the objective returns (see `zoomtune.studyfile`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from zoomtune.errors import ConfigError, require, require_number, shown
from zoomtune.records import Direction

if TYPE_CHECKING:
    from zoomtune.trial import Trial


class Bound(str, Enum):
    """Which side of its limit a constrained metric must stay on."""

    MAX = "max"  # at most the limit
    MIN = "min"  # at least the limit


@dataclass(frozen=True)
class Limit:
    """One declared constraint: `metric` must be at most (`Bound.MAX`) or at least (`Bound.MIN`) `limit`."""

    metric: str
    bound: Bound
    limit: float

    @property
    def name(self) -> str:
        """The constraint's name as stored with each trial, e.g. "size <= 1e+06"."""
        return f"{self.metric} {'<=' if self.bound is Bound.MAX else '>='} {self.limit:g}"

    def excess(self, value: float) -> float:
        """How far `value` lies past the limit: <= 0 when it keeps it, the sign `set_constraint` wants."""
        return value - self.limit if self.bound is Bound.MAX else self.limit - value


@dataclass(frozen=True)
class ConstrainedObjective:
    """A study file's objective with its declared `limits`: once it returns, each becomes
    `trial.set_constraint(limit.name, limit.excess(value))`, the value being the returned objective of that
    name (one of `names`) or else the user attribute of that name."""

    objective: Callable[..., Any]
    limits: tuple[Limit, ...]
    names: tuple[str, ...]  # the objectives' names, in the order the objective returns them
    source: str

    def __call__(self, trial: Trial) -> Any:
        result = self.objective(trial)
        for limit in self.limits:
            value = self._value(trial, result, limit)
            if value is not None:
                trial.set_constraint(limit.name, limit.excess(value))
        return result

    def _value(self, trial: Trial, result: Any, limit: Limit) -> float | None:
        """The constrained metric's value; None when it is an objective whose value is no number (the
        study then fails the trial for its bad result, saying why)."""
        if limit.metric in self.names:
            index = self.names.index(limit.metric)
            picked = result if len(self.names) == 1 else (
                result[index] if isinstance(result, Sequence) and len(result) == len(self.names) else None)
            try:
                return float(picked)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return None
        value = trial.user_attrs.get(limit.metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ValueError(f"constraint {limit.name!r} ({self.source}) needs a number: an objective named "
                             f"{limit.metric!r} (metric_names) or trial.set_user_attr({limit.metric!r}, value) in "
                             f"the objective; got {shown(value)}")
        return float(value)


def _direction(value: Any, field_name: str, where: str) -> Direction:
    if not isinstance(value, str) or value not in {d.value for d in Direction}:
        raise ConfigError(field_name, "must be 'minimize' or 'maximize'", value, where)
    return Direction(value)


def parse_objectives(data: Mapping[str, Any], where: str) -> tuple[tuple[Direction, ...], tuple[str, ...]]:
    """The file's directions (`direction:` for one objective, `directions:` for several) and
    `metric_names:` (one unique name per objective, or none)."""
    if "direction" in data and "directions" in data:
        raise ConfigError("directions", "give direction: (one objective) or directions: (several), not both",
                          data["directions"], where)
    if "directions" in data:
        given = data["directions"]
        require(isinstance(given, list) and bool(given), where, "directions",
                "must be a list with one direction per objective, such as [maximize, minimize]", given)
        directions = tuple(_direction(d, f"directions[{i}]", where) for i, d in enumerate(given))
    else:
        directions = (_direction(data.get("direction", "minimize"), "direction", where),)
    names = data.get("metric_names")
    if names is None:
        return directions, ()
    require(isinstance(names, list), where, "metric_names", "must be a list of names, one per objective", names)
    require(len(names) == len(directions), where, "metric_names",
            f"needs one name per objective: {len(directions)}, as directions: has", names)
    for i, name in enumerate(names):
        require(isinstance(name, str) and bool(name.strip()) and name == name.strip(), where, f"metric_names[{i}]",
                "must be a non-empty name without surrounding spaces", name)
    require(len(set(names)) == len(names), where, "metric_names", "must be unique", names)
    return directions, tuple(names)


def _limit_value(value: Any, field_name: str, where: str) -> float:
    """A limit as a finite float; a numeric string is read too (YAML reads `1e6`, without a dot, as text)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(field_name, "must be a finite number", value, where) from None
    return require_number(where, field_name, value)


def parse_constraints(data: Any, where: str) -> tuple[Limit, ...]:
    """`constraints: {size: {max: 1.0e6}, accuracy: {min: 0.8}}` as `Limit`s, in the file's order (also what a
    study stored by `constraints_to_dict`); None or {} is none."""
    if data is None:
        return ()
    require(isinstance(data, Mapping), where, "constraints",
            "must be a mapping of metric names to limits, such as {size: {max: 1.0e6}}", data)
    limits: list[Limit] = []
    for metric, bounds in data.items():
        require(isinstance(metric, str) and bool(metric.strip()) and metric == metric.strip(), where, "constraints",
                "names a metric by a non-empty name without surrounding spaces", metric)
        field_name = f"constraints.{metric}"
        require(isinstance(bounds, Mapping) and bool(bounds) and set(bounds) <= {b.value for b in Bound}, where,
                field_name, "must be {max: limit}, {min: limit} or both", bounds)
        limits.extend(Limit(metric, bound, _limit_value(bounds[bound.value], f"{field_name}.{bound.value}", where))
                      for bound in Bound if bound.value in bounds)
        if len(bounds) == 2:
            low, high = limits[-1].limit, limits[-2].limit
            require(low <= high, where, field_name, "needs min <= max", dict(bounds))
    return tuple(limits)


def constraints_to_dict(limits: tuple[Limit, ...]) -> dict[str, dict[str, float]]:
    """`limits` written as the file writes them (what a study stores; `parse_constraints` reads it back)."""
    out: dict[str, dict[str, float]] = {}
    for limit in limits:
        out.setdefault(limit.metric, {})[limit.bound.value] = limit.limit
    return out


__all__ = ["Bound", "ConstrainedObjective", "Limit", "constraints_to_dict", "parse_constraints", "parse_objectives"]
