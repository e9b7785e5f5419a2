"""Values put into a trial's parameters by hand (`enqueue`, `nudge`, `branch`): each must name a
parameter (a near miss of a known one is taken for a typo), be a plain value and lie in its
distribution; the error names the field."""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from typing import Any

from zoomtune.errors import SearchSpaceError, shown
from zoomtune.records import TrialRecord
from zoomtune.space import Distribution, check_param_name


def distribution_of(record: TrialRecord, name: str, value: Any) -> Distribution:
    """The distribution of a trial's parameter, or an error naming the parameters it has."""
    dist = record.distributions.get(name)
    if dist is None:
        known = ", ".join(sorted(record.distributions)) or "none yet"
        raise SearchSpaceError(f"trial {record.number} has no such parameter (it has: {known})", repr(value),
                               param=name)
    return dist


def check_new_values(record: TrialRecord, values: Mapping[str, Any]) -> None:
    """Nudged or branched values must belong to the trial's parameters and lie in their distributions."""
    for name, value in values.items():
        dist = distribution_of(record, name, value)
        if not dist.contains(value):
            raise SearchSpaceError(f"the new value must lie in {dist!r}", repr(value), param=name)


def check_enqueued(name: Any, value: Any, dist: Distribution | None, known: Collection[str]) -> None:
    """An enqueued parameter must have a name, a plain value (inside `dist` when the space declares it)
    and must not be a near miss of one of the `known` parameter names."""
    check_param_name(name)
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise SearchSpaceError("enqueued values must be a number, string, bool or None",
                               f"{type(value).__name__} {shown(value)}", param=name)
    if isinstance(value, float) and not math.isfinite(value):
        raise SearchSpaceError("enqueued numbers must be finite", repr(value), param=name)
    if dist is not None and not dist.contains(value):
        raise SearchSpaceError(f"enqueued values must lie in {dist!r}", shown(value), param=name)
    if name not in known:
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        if close:
            raise SearchSpaceError(f"not a parameter of this study; did you mean {close[0]!r}? (it has: "
                                   f"{', '.join(sorted(known))})", shown(value), param=name)


__all__ = ["check_enqueued", "check_new_values", "distribution_of"]
