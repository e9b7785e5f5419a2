"""One small exception hierarchy.

`ZoomtuneError` subclasses are *user errors*: bad input that the user can fix. The CLI prints
their message on one line and exits with status 2. `TrialStopped` is not an error: an
objective raises it to end a trial early when `trial.should_stop()` says so.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from typing import Any

#: the most characters a value takes in an error message
SHOWN_LIMIT = 80
_BIG_INT_BITS = 256  # an int longer than this is described by its number of digits, not written out


class _BoundedRepr(reprlib.Repr):
    """`reprlib.Repr` whose work is bounded for any value: it descends three levels and a few items
    per level, and describes a huge int rather than writing it (Python refuses str() of an int of
    more than 4300 digits anyway)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, SHOWN_LIMIT, SHOWN_LIMIT, SHOWN_LIMIT
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = self.maxdeque = 8

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > _BIG_INT_BITS:
            return f"<an integer of {int(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)


_REPR = _BoundedRepr()


def cut(text: str, limit: int = SHOWN_LIMIT) -> str:
    """`text` itself when it has at most `limit` characters, else its start, "..." and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit - 3]}... ({len(text)} characters)"


def shown(value: Any) -> str:
    """`repr(value)` for an error message: at most about `SHOWN_LIMIT` characters, and computed in
    bounded time even for a huge or self-sharing value (a YAML alias bomb), so that reporting a bad
    value never hangs or floods the terminal. A long string or collection says how long it was."""
    if isinstance(value, (str, bytes)) and len(value) > SHOWN_LIMIT:
        return f"{value[:SHOWN_LIMIT]!r}... ({len(value)} characters)"
    text = _REPR.repr(value)
    if isinstance(value, (list, tuple, dict, set, frozenset)) and (len(value) > _REPR.maxlist or "..." in text):
        items = f"{len(value)} item{'s' if len(value) != 1 else ''}"
        return f"{text[:SHOWN_LIMIT]}{'...' if len(text) > SHOWN_LIMIT else ''} ({items})"
    return cut(text)


class ZoomtuneError(Exception):
    """Base of every user error zoomtune raises on purpose."""


class SearchSpaceError(ZoomtuneError, ValueError):
    """A parameter's distribution is invalid: a bug in the objective or the space, raised at once.

    The message always names the parameter (when known), the rule and the offending value:
    ``parameter 'lr': scale 'log' needs low > 0; got low=0.0``.
    """

    def __init__(self, rule: str, got: str, param: str | None = None, where: str | None = None):
        # `got` and `where` hold a few values, each cut by `shown`; this cut is a net for a caller that did not
        net = 4 * SHOWN_LIMIT
        self.rule, self.got, self.param = rule, cut(got, net), param
        self.where = None if where is None else cut(where, net)
        subject = f"parameter {shown(param)}" if param is not None else (self.where or "search space")
        super().__init__(f"{subject}: {rule}; got {self.got}")

    def __reduce__(self) -> tuple[Any, ...]:  # keeps the fields when sent between processes
        return (SearchSpaceError, (self.rule, self.got, self.param, self.where))

    def named(self, param: str) -> SearchSpaceError:
        """The same error, naming the parameter it belongs to."""
        return SearchSpaceError(self.rule, self.got, param=param)


class ConfigError(ZoomtuneError, ValueError):
    """A study file or CLI argument is invalid (names the field and the value)."""

    def __init__(self, field: str, rule: str, got: Any = None, source: str | None = None):
        self._fields = (field, rule, got, source)
        where = f"{source}: " if source else ""
        tail = f"; got {shown(got)}" if got is not None else ""
        super().__init__(f"{where}{field}: {rule}{tail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (ConfigError, self._fields)


def require(ok: bool, owner: str, field: str, rule: str, got: Any) -> None:
    """Raise `ConfigError` ("Owner: field: rule; got value") unless `ok`: the one check every
    constructor argument of a sampler, scheduler, executor or study goes through."""
    if not ok:
        raise ConfigError(field, rule, got, owner)


# Shared checks built on `require`, so that every sampler and scheduler words a rule the same way.

def _is_integer(value: Any) -> bool:
    """An int (or a numpy integer), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def require_seed(owner: str, value: Any) -> int | None:
    """`value` as an int >= 0, or None; else `ConfigError` ("Owner: seed: must be an integer >= 0 or None; got
    ..."). NumPy's generators take no negative seed, so one is refused here rather than at the first trial."""
    require(value is None or (_is_integer(value) and value >= 0), owner, "seed", "must be an integer >= 0 or None",
            value)
    return None if value is None else int(value)


def require_int(owner: str, field: str, value: Any, minimum: int, *, or_none: bool = False,
                minimum_name: str | None = None, maximum: int | None = None) -> Any:
    """`value` as an int >= `minimum` (and <= `maximum` when given; None passes when `or_none`); else
    `ConfigError` ("Owner: field: must be an integer >= 2; got 1"). `minimum_name` names a bound that is
    another argument: "must be an integer >= min_resource (3) or None"."""
    if or_none and value is None:
        return None
    bound = f"{minimum_name} ({minimum})" if minimum_name else f"{minimum}"
    rule = (f"must be an integer >= {bound}" + (f" and <= {maximum}" if maximum is not None else "")
            + (" or None" if or_none else ""))
    require(_is_integer(value) and value >= minimum and (maximum is None or value <= maximum), owner, field, rule,
            value)
    return int(value)


def _finite(value: numbers.Real) -> bool:
    """Whether `value` is a finite float (an int too large for a float is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def require_number(owner: str, field: str, value: Any, low: float | None = None, high: float | None = None, *,
                   low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a float: a finite real number (not a bool) within the bounds given, each closed unless
    `low_open` / `high_open`; else `ConfigError` ("Owner: field: must be a number in (0, 1]; got 0")."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and _finite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if low is not None and high is not None:
        rule = f"must be a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        rule = f"must be a finite number {'>' if low_open else '>='} {low}"
    elif high is not None:
        rule = f"must be a finite number {'<' if high_open else '<='} {high}"
    else:
        rule = "must be a finite number"
    require(ok, owner, field, rule, value)
    return float(value)


class StudyNotFoundError(ZoomtuneError, KeyError):
    """No study of that name exists in the storage."""

    def __init__(self, name: str, storage: str):
        self.name, self.storage = name, storage
        super().__init__(name)
        self._msg = f"no study named {name!r} in {storage}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (StudyNotFoundError, (self.name, self.storage))

    def __str__(self) -> str:
        return self._msg


class DuplicatedStudyError(ZoomtuneError):
    """A study of that name already exists (pass load_if_exists=True to continue it)."""


class TrialNotFoundError(ZoomtuneError, KeyError):
    """No trial with that number in the study."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "trial not found"


class TrialStateError(ZoomtuneError):
    """The trial is not in a state that allows what was asked (nudging a finished trial, say)."""


class StorageError(ZoomtuneError):
    """The storage cannot be used as asked (newer schema, bad URL, missing driver)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM reached a run: it stops, and its running trials end FAILED
    with cause INTERRUPTED. `signal_name` says which."""

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name

    def __str__(self) -> str:
        return f"interrupted by {self.signal_name}"


class TrialStopped(Exception):
    """Raise from an objective to end a trial early; the trial ends STOPPED, keeping its last value."""


__all__ = [
    "ConfigError",
    "DuplicatedStudyError",
    "Interrupted",
    "SearchSpaceError",
    "StorageError",
    "StudyNotFoundError",
    "TrialNotFoundError",
    "TrialStateError",
    "TrialStopped",
    "ZoomtuneError",
    "cut",
    "require",
    "require_int",
    "require_number",
    "require_seed",
    "shown",
]
