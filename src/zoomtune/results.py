"""What an objective hands back, as numbers: a result or a report must be a real number that fits a
float (not the string "0.5", not 10**400), a multi-objective one exactly one finite number per
objective; anything else is refused with a one-line reason that the trial stores."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from zoomtune.errors import cut, shown


def first_line(error: BaseException) -> str:
    """The first line of an error's text, cut to a readable length."""
    text = str(error).strip()
    return cut(text.splitlines()[0] if text else type(error).__name__)


def as_number(value: Any) -> tuple[float | None, str]:
    """`value` as a float when it is a real number (a Python, NumPy or 0-d tensor number, not a string
    or a bool) that fits a float; else (None, why)."""
    if isinstance(value, (bool, str, bytes)) or not (isinstance(value, numbers.Real) or hasattr(value, "__float__")):
        return None, f"got {type(value).__name__} {shown(value)}, not a number"
    try:
        return float(value), ""
    except OverflowError:
        return None, f"got {shown(value)}, too large for a float"
    except (TypeError, ValueError):
        return None, f"got {type(value).__name__} {shown(value)}, not a number"


def coerce_values(value: Any, count: int) -> tuple[tuple[float, ...] | None, str | None]:
    """A multi-objective return value as (`count` finite floats, None) or (None, why it is not acceptable)."""
    if value is None:
        return None, f"objective returned None (a missing return?); it must return {count} numbers, one per objective"
    wanted = f"objective must return {count} numbers, one per objective"
    try:
        items = list(value) if not isinstance(value, (str, bytes, Mapping)) else None
    except TypeError:
        items = None
    if items is None:
        return None, f"{wanted}; got {type(value).__name__} {shown(value)}"
    if len(items) != count:
        return None, f"{wanted}; got {len(items)}: {shown(value)}"
    out = []
    for i, item in enumerate(items):
        number, why = as_number(item)
        if number is None:
            return None, f"{wanted}; value {i}: {why}"
        if not math.isfinite(number):
            return None, f"{wanted}; value {i} is {number!r}"
        out.append(number)
    return tuple(out), None


def coerce_value(value: Any) -> tuple[float | None, str | None]:
    """An objective's return value as (finite float, None) or (None, why it is not acceptable)."""
    if value is None:
        return None, "objective returned None (a missing return?); it must return a number"
    number, why = as_number(value)
    if number is None:
        return None, f"objective must return a number; {why}"
    if not math.isfinite(number):
        return None, f"objective returned {number!r}"
    return number, None


__all__ = ["as_number", "coerce_value", "coerce_values", "first_line"]
