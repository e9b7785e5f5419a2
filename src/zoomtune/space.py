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

import functools
import math
import numbers
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from zoomtune.errors import ConfigError, SearchSpaceError, shown
from zoomtune.scales import SCALE_NAMES, Scale, fraction, interpolate

ChoiceType = None | bool | int | float | str

#: the largest magnitude of an Int's bounds: floats (the unit cube, NumPy, the dashboard's
#: JavaScript) hold every integer up to 2**53 exactly, and no further
INT_LIMIT = 2**53
#: the longest parameter name: what the storage's name column holds
MAX_NAME_LENGTH = 512
#: how many nodes the aliases of one YAML document may repeat in all: plenty to share a distribution,
#: nothing like an alias bomb (500 bytes whose nine levels of nine aliases expand to 9**9 strings)
MAX_ALIAS_NODES = 10_000
_INVISIBLE = ("Cc", "Cf", "Cs")  # Unicode categories of control, format (zero-width) and surrogate characters


def _as_number(value: Any, field_name: str, where: str, *, whole: bool = False) -> float:
    """Accept ints, floats and numeric strings (YAML reads `1e-4` as a string); finite, and with
    `whole`, an integer of magnitude at most `INT_LIMIT`."""
    got = f"{field_name}={shown(value)}"
    if isinstance(value, bool):
        raise SearchSpaceError(f"{field_name} must be a number", got, where=where)
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{field_name} must be a number", got, where=where) from None
    if whole:
        exact = int(value) if isinstance(value, numbers.Integral) else number
        if not (math.isfinite(number) and abs(exact) <= INT_LIMIT):
            raise SearchSpaceError("Int bounds must lie in [-2**53, 2**53] (beyond it floats skip integers)", got,
                                   where=where)
    if not math.isfinite(number):
        raise SearchSpaceError(f"{field_name} must be finite", got, where=where)
    return number


def check_param_name(name: Any) -> str:
    """`name` when it can name a parameter, else `SearchSpaceError`: a string of at most
    `MAX_NAME_LENGTH` characters, not blank, without leading or trailing whitespace (the CLI's
    ``lr=0.1`` could never reach it) or control and invisible characters (no one could type it)."""
    if not isinstance(name, str):
        raise SearchSpaceError("parameter names must be strings", f"{type(name).__name__} {shown(name)}")
    if not name.strip():
        raise SearchSpaceError("parameter names must not be empty or blank", shown(name))
    if name != name.strip():
        raise SearchSpaceError("parameter names must not start or end with whitespace", shown(name))
    if any(unicodedata.category(char) in _INVISIBLE for char in name):
        raise SearchSpaceError("parameter names must not contain control or invisible characters", shown(name))
    if len(name) > MAX_NAME_LENGTH:
        raise SearchSpaceError(f"parameter names must have at most {MAX_NAME_LENGTH} characters", shown(name))
    return name


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
        where = f"{kind}(low={shown(self.low)}, high={shown(self.high)})"
        low = _as_number(self.low, "low", where, whole=kind == "Int")
        high = _as_number(self.high, "high", where, whole=kind == "Int")
        object.__setattr__(self, "scale", _resolve_scale(self.scale, self.log, where))
        object.__setattr__(self, "log", self.scale is Scale.LOG)
        if not low < high:
            raise SearchSpaceError("low < high must hold", f"low={shown(self.low)}, high={shown(self.high)}",
                                   where=where)
        if kind == "Int":
            if low != int(low) or high != int(high):
                raise SearchSpaceError("Int bounds must be whole numbers",
                                       f"low={shown(self.low)}, high={shown(self.high)}", where=where)
            if self.scale is Scale.LOG1M:
                raise SearchSpaceError("Int supports scales 'linear' and 'log'", "scale='log1m'", where=where)
            if self.scale is Scale.LOG and low < 1:
                raise SearchSpaceError("Int with scale 'log' needs low >= 1", f"low={shown(self.low)}", where=where)
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
        return min(1.0, max(0.0, fraction(self.scale.forward(float(value)), f_lo, f_hi)))

    def unit_edge(self, u: float) -> float:
        """The value at unit coordinate `u`, neither rounded nor clamped to [low, high] (an Int's
        unit interval spans its cells, from low - 0.5 to high + 0.5): where a box edge lies."""
        lo, hi = self._edges()
        f_lo, f_hi = self.scale.forward(lo), self.scale.forward(hi)
        return self.scale.inverse(interpolate(f_lo, f_hi, min(1.0, max(0.0, float(u)))))


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
            raise SearchSpaceError("choices must be a list", f"choices={shown(self.choices)}", where=where)
        choices = tuple(self.choices)
        if not choices:
            raise SearchSpaceError("choices must not be empty", "choices=[]", where=where)
        for choice in choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise SearchSpaceError("choices must be None, bool, int, float or str",
                                       f"{type(choice).__name__} {shown(choice)}", where=where)
            if isinstance(choice, float) and not math.isfinite(choice):  # NaN equals no choice, not even itself
                raise SearchSpaceError("choices must be finite numbers", shown(choice), where=where)
        if len({(type(c), c) for c in choices}) != len(choices):
            raise SearchSpaceError("choices must be distinct", f"choices={shown(list(choices))}", where=where)
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
                                   shown(spec))
        spec = dict(spec)
        kind = spec.pop("type", None)
        keys = f"keys={shown(sorted(map(str, spec)))}"
        if kind not in _KINDS:
            raise SearchSpaceError("type must be one of float, int, categorical", f"type={shown(kind)}")
        if kind == "categorical":
            unknown = set(spec) - {"choices"}
            if unknown or "choices" not in spec:
                raise SearchSpaceError("categorical takes exactly 'choices'", keys)
            return Categorical(tuple(spec["choices"]) if isinstance(spec["choices"], list) else spec["choices"])
        unknown = set(spec) - {"low", "high", "scale", "log"}
        if unknown or not {"low", "high"} <= set(spec):
            raise SearchSpaceError(f"{kind} takes low, high and optionally scale", keys)
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
            check_param_name(name)
            if not isinstance(dist, Distribution):
                raise SearchSpaceError("must be a Float, Int or Categorical", shown(dist), param=name)
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
            raise SearchSpaceError("space must be a mapping of parameter names to distributions", shown(spec))
        return cls({check_param_name(name): distribution_from_dict(d, name=name) for name, d in spec.items()})

    @classmethod
    def from_yaml(cls, text: str) -> Space:
        """Build from YAML text whose top level maps names to distributions (read by `read_yaml`)."""
        return cls.from_dict(read_yaml(text, "space") or {})


def read_yaml(text: str, source: str) -> Any:
    """The data in YAML `text`, read safely and strictly; else one `ConfigError` naming `source`, the
    line and the rule. Beyond PyYAML's safe loader it refuses a key given twice in one mapping (YAML
    says keys are unique; PyYAML keeps the last), an alias that contains itself, aliases that repeat
    more than `MAX_ALIAS_NODES` nodes (an alias bomb), an integer too long for Python to read, and
    nesting too deep to parse."""
    import yaml

    try:
        return yaml.load(text, Loader=_strict_loader())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError("YAML", f"not valid YAML{at}: {error.problem}", None, source) from None
    except yaml.YAMLError as error:
        raise ConfigError("YAML", f"not valid YAML: {str(error).splitlines()[0]}", None, source) from None
    except RecursionError:
        raise ConfigError("YAML", "nested too deeply to read", None, source) from None


@functools.cache
def _strict_loader() -> type:
    """The loader class `read_yaml` uses (built on first use, so that importing zoomtune does not import yaml)."""
    import yaml
    from yaml.composer import ComposerError
    from yaml.constructor import ConstructorError
    from yaml.error import Mark
    from yaml.events import AliasEvent, CollectionStartEvent
    from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

    class StrictLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.repeated = 0  # nodes the aliases so far repeat
            self.sizes: dict[int, int] = {}  # id(node) -> nodes in it, aliases expanded
            self.open_anchors: set[str] = set()  # anchors of the collections being composed

        def compose_node(self, parent: Node | None, index: int) -> Node | None:
            event = self.peek_event()
            if isinstance(event, AliasEvent):
                mark = cast(Mark, event.start_mark)
                if event.anchor in self.open_anchors:
                    raise ComposerError(None, None, f"alias *{event.anchor} lies inside its own anchor (a structure "
                                                    "that contains itself)", mark)
                node = super().compose_node(parent, index)
                self.repeated += self.size(node) if node is not None else 0
                if self.repeated > MAX_ALIAS_NODES:
                    raise ComposerError(None, None, f"aliases repeat more than {MAX_ALIAS_NODES} nodes in all (an "
                                                    "alias bomb?); write the values out", mark)
                return node
            anchor = event.anchor if isinstance(event, CollectionStartEvent) else None
            if anchor is None:
                return super().compose_node(parent, index)
            self.open_anchors.add(anchor)
            try:
                return super().compose_node(parent, index)
            finally:
                self.open_anchors.discard(anchor)

        def size(self, node: Node) -> int:
            known = self.sizes.get(id(node))
            if known is None:
                children = ([child for pair in node.value for child in pair] if isinstance(node, MappingNode)
                            else node.value if isinstance(node, SequenceNode) else [])
                known = self.sizes[id(node)] = 1 + sum(self.size(child) for child in children)
            return known

        def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
            if isinstance(node, MappingNode):  # PyYAML passes other nodes too, and refuses them itself
                lines: dict[Any, int] = {}  # key -> the line it first appears on
                for key_node, _value in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":  # the keys `<<: *base` brings may be overridden
                        continue
                    key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                    try:
                        again = key in lines
                    except TypeError:
                        continue  # an unhashable key: PyYAML says so
                    if again:
                        raise ConstructorError(None, None, f"key {shown(key)} appears twice, at lines {lines[key]} "
                                                           f"and {line}", key_node.start_mark)
                    lines[key] = line
            mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
            return mapping

        def construct_yaml_int(self, node: ScalarNode) -> int:
            try:
                return super().construct_yaml_int(node)
            except ValueError:  # Python reads no integer of more than 4300 digits
                raise ConstructorError(None, None, f"an integer of {len(node.value)} characters is too long to "
                                                   "read", node.start_mark) from None

    StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
    return StrictLoader


__all__ = ["INT_LIMIT", "MAX_ALIAS_NODES", "MAX_NAME_LENGTH", "Categorical", "Distribution", "Float", "Int", "Space",
           "check_param_name", "distribution_from_dict", "read_yaml"]
