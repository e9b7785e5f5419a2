"""The search space as data: distributions that map to and from the unit interval.

Every distribution is immutable, serialisable (`to_dict` / `distribution_from_dict`) and has
`to_unit` / `from_unit`, so samplers work only in the unit cube [0, 1]^d and never special-case
a scale. Categorical dimensions map choice i to the centre of cell i of n equal cells.

>>> import zoomtune as zt
>>> space = zt.Space(lr=zt.Float(1e-4, 1.0, scale="log"), beta=zt.Float(0.9, 0.999, scale="log1m"))
>>> space["lr"].from_unit(0.5)
0.01
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zoomtune.errors import SearchSpaceError
from zoomtune.scales import SCALE_NAMES, Scale

ChoiceType = None | bool | int | float | str


def _as_number(value: Any, field_name: str, where: str) -> float:
    """Accept ints, floats and numeric strings (YAML reads `1e-4` as a string)."""
    if isinstance(value, bool):
        raise SearchSpaceError(f"{field_name} must be a number", f"{field_name}={value!r}", where=where)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{field_name} must be a number", f"{field_name}={value!r}", where=where) from None
    if not math.isfinite(number):
        raise SearchSpaceError(f"{field_name} must be finite", f"{field_name}={value!r}", where=where)
    return number


def _resolve_scale(scale: str | Scale, log: bool, where: str) -> Scale:
    if log:
        if scale not in ("linear", Scale.LINEAR, "log", Scale.LOG):
            raise SearchSpaceError("log=True is an alias of scale='log' and cannot be combined with "
                                   "another scale", f"scale={scale!r}", where=where)
        return Scale.LOG
    try:
        return Scale(scale)
    except ValueError:
        raise SearchSpaceError(f"scale must be one of {', '.join(SCALE_NAMES)}",
                               f"scale={scale!r}", where=where) from None


class Distribution(ABC):
    """A parameter's domain with a map to and from [0, 1]."""

    @abstractmethod
    def to_unit(self, value: Any) -> float:
        """Position of `value` in [0, 1]."""

    @abstractmethod
    def from_unit(self, u: float) -> Any:
        """The value at position `u` in [0, 1]."""

    @abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether `value` lies in the domain."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, inverse of `distribution_from_dict`."""


@dataclass(frozen=True, repr=False)
class _Numeric(Distribution):
    low: float
    high: float
    scale: Scale = Scale.LINEAR
    log: bool = field(default=False, repr=False, compare=False)

    def _check_range(self, kind: str) -> tuple[float, float]:
        where = f"{kind}(low={self.low!r}, high={self.high!r})"
        low = _as_number(self.low, "low", where)
        high = _as_number(self.high, "high", where)
        object.__setattr__(self, "scale", _resolve_scale(self.scale, self.log, where))
        object.__setattr__(self, "log", self.scale is Scale.LOG)
        if not low < high:
            raise SearchSpaceError("low < high must hold", f"low={self.low!r}, high={self.high!r}", where=where)
        if kind == "Int":
            if low != int(low) or high != int(high):
                raise SearchSpaceError("Int bounds must be whole numbers", f"low={self.low!r}, high={self.high!r}",
                                       where=where)
            if self.scale is Scale.LOG1M:
                raise SearchSpaceError("Int supports scales 'linear' and 'log'", "scale='log1m'", where=where)
            if self.scale is Scale.LOG and low < 1:
                raise SearchSpaceError("Int with scale 'log' needs low >= 1", f"low={self.low!r}", where=where)
        broken = self.scale.domain_rule(low, high)
        if broken:
            raise SearchSpaceError(*broken, where=where)
        return low, high

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.low!r}, {self.high!r}, scale={self.scale.value!r})"

    def _edges(self) -> tuple[float, float]:
        return self.low, self.high

    def to_unit(self, value: Any) -> float:
        lo, hi = self._edges()
        f_lo, f_hi = self.scale.forward(lo), self.scale.forward(hi)
        return min(1.0, max(0.0, (self.scale.forward(float(value)) - f_lo) / (f_hi - f_lo)))

    def unit_edge(self, u: float) -> float:
        """The value at unit coordinate `u`, neither rounded nor clamped to [low, high] (an Int's
        unit interval spans its cells, from low - 0.5 to high + 0.5): where a box edge lies."""
        lo, hi = self._edges()
        f_lo, f_hi = self.scale.forward(lo), self.scale.forward(hi)
        return self.scale.inverse(f_lo + min(1.0, max(0.0, float(u))) * (f_hi - f_lo))


@dataclass(frozen=True, repr=False)
class Float(_Numeric):
    """A real parameter in [low, high], uniform on its scale (`linear`, `log` or `log1m`).

    >>> Float(0.9, 0.999, scale="log1m").from_unit(0.5)  # 1 - 10**-2
    0.99
    """

    if TYPE_CHECKING:  # the generated __init__ takes the scale by name too ("log"); it is a Scale afterwards
        def __init__(self, low: float, high: float, scale: Scale | str = Scale.LINEAR, log: bool = False) -> None:
            ...

    def __post_init__(self) -> None:
        low, high = self._check_range("Float")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def from_unit(self, u: float) -> float:
        return float(min(self.high, max(self.low, self.unit_edge(u))))

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {"type": "float", "low": self.low, "high": self.high, "scale": self.scale.value}


@dataclass(frozen=True, repr=False)
class Int(_Numeric):
    """An integer parameter in [low, high] (both included), uniform on its scale (`linear` or `log`).

    Each integer k owns the interval [k - 0.5, k + 0.5] on the scale, so a `log` integer
    parameter is as likely to land in [10, 100) as in [100, 1000).
    """

    if TYPE_CHECKING:  # as for Float: the scale by name is accepted
        def __init__(self, low: int, high: int, scale: Scale | str = Scale.LINEAR, log: bool = False) -> None:
            ...

    def __post_init__(self) -> None:
        low, high = self._check_range("Int")
        object.__setattr__(self, "low", int(low))
        object.__setattr__(self, "high", int(high))

    def _edges(self) -> tuple[float, float]:
        return self.low - 0.5, self.high + 0.5

    def from_unit(self, u: float) -> int:
        return int(min(self.high, max(self.low, round(self.unit_edge(u)))))

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "scale": self.scale.value}


@dataclass(frozen=True)
class Categorical(Distribution):
    """One of a list of choices (None, bool, int, float or str). Choice i owns cell i of [0, 1]."""

    choices: tuple[ChoiceType, ...]

    def __post_init__(self) -> None:
        where = "Categorical"
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence):
            raise SearchSpaceError("choices must be a list", f"choices={self.choices!r}", where=where)
        choices = tuple(self.choices)
        if not choices:
            raise SearchSpaceError("choices must not be empty", "choices=[]", where=where)
        for choice in choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise SearchSpaceError("choices must be None, bool, int, float or str",
                                       f"{type(choice).__name__} {choice!r}", where=where)
        if len({(type(c), c) for c in choices}) != len(choices):
            raise SearchSpaceError("choices must be distinct", f"choices={list(choices)!r}", where=where)
        object.__setattr__(self, "choices", choices)

    def index(self, value: Any) -> int:
        """Position of `value` among the choices (type-exact, so True is not 1)."""
        for i, choice in enumerate(self.choices):
            if type(choice) is type(value) and choice == value:
                return i
        raise ValueError(f"{value!r} is not one of {list(self.choices)!r}")

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> ChoiceType:
        n = len(self.choices)
        return self.choices[min(n - 1, max(0, int(float(u) * n)))]

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}


_KINDS: dict[str, type] = {"float": Float, "int": Int, "categorical": Categorical}


def distribution_from_dict(spec: Mapping[str, Any] | Sequence[Any], name: str | None = None) -> Distribution:
    """Build a distribution from its dict form (as in YAML); a bare list means categorical.

    >>> distribution_from_dict({"type": "float", "low": "1e-4", "high": 1, "scale": "log"})
    Float(0.0001, 1.0, scale='log')
    """
    try:
        if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
            return Categorical(tuple(spec))
        if not isinstance(spec, Mapping):
            raise SearchSpaceError("must be a mapping with a 'type' (float, int, categorical) or a list of choices",
                                   repr(spec))
        spec = dict(spec)
        kind = spec.pop("type", None)
        if kind not in _KINDS:
            raise SearchSpaceError("type must be one of float, int, categorical", f"type={kind!r}")
        if kind == "categorical":
            unknown = set(spec) - {"choices"}
            if unknown or "choices" not in spec:
                raise SearchSpaceError("categorical takes exactly 'choices'", f"keys={sorted(spec)!r}")
            return Categorical(tuple(spec["choices"]) if isinstance(spec["choices"], list) else spec["choices"])
        unknown = set(spec) - {"low", "high", "scale", "log"}
        if unknown or not {"low", "high"} <= set(spec):
            raise SearchSpaceError(f"{kind} takes low, high and optionally scale", f"keys={sorted(spec)!r}")
        numeric: Distribution = _KINDS[kind](**spec)
        return numeric
    except SearchSpaceError as error:
        raise (error.named(name) if name is not None else error) from None


class Space(Mapping[str, Distribution]):
    """A declared search space: an ordered, validated mapping of parameter names to distributions.

    >>> Space(units=Int(32, 512, scale="log"), act=Categorical(("relu", "tanh"))).names
    ('units', 'act')
    """

    def __init__(self, params: Mapping[str, Distribution] | None = None, /, **kwargs: Distribution) -> None:
        merged = {**(params or {}), **kwargs}
        for name, dist in merged.items():
            if not isinstance(name, str) or not name:
                raise SearchSpaceError("parameter names must be non-empty strings", repr(name))
            if not isinstance(dist, Distribution):
                raise SearchSpaceError("must be a Float, Int or Categorical", repr(dist), param=name)
        self._params: dict[str, Distribution] = merged

    def __getitem__(self, name: str) -> Distribution:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"Space({inner})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self._params == other._params

    __hash__ = None  # type: ignore[assignment]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._params)

    def to_unit(self, params: Mapping[str, Any]) -> list[float]:
        """The point of the unit cube that `params` sits at, in this space's order."""
        return [dist.to_unit(params[name]) for name, dist in self._params.items()]

    def from_unit(self, point: Sequence[float]) -> dict[str, Any]:
        """The parameter values at a point of the unit cube."""
        if len(point) != len(self._params):
            raise ValueError(f"point has {len(point)} coordinates, space has {len(self._params)} parameters")
        return {name: dist.from_unit(u) for (name, dist), u in zip(self._params.items(), point, strict=True)}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dist.to_dict() for name, dist in self._params.items()}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Space:
        """Build from a mapping of name to distribution dict (the YAML form)."""
        if not isinstance(spec, Mapping):
            raise SearchSpaceError("space must be a mapping of parameter names to distributions", repr(spec))
        return cls({str(name): distribution_from_dict(d, name=str(name)) for name, d in spec.items()})

    @classmethod
    def from_yaml(cls, text: str) -> Space:
        """Build from YAML text whose top level maps names to distributions."""
        import yaml

        return cls.from_dict(yaml.safe_load(text) or {})


__all__ = ["Categorical", "Distribution", "Float", "Int", "Space", "distribution_from_dict"]
