"""What the tests share to synchronise on events instead of sleeping for a guessed time, and to
check what the storage recorded instead of timing the wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from zoomtune.records import TrialRecord

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = 60.0, interval: float = 0.02) -> T:
    """Poll `condition` until it returns something truthy, and return that.

    The timeout is a safety net, so that a broken run fails instead of hanging; it is never what
    a test asserts. On timeout an AssertionError names what was awaited and the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last saw {value!r})")
        time.sleep(interval)


def ran_at_the_same_time(records: Iterable[TrialRecord]) -> bool:
    """Whether one instant lies inside every trial's recorded run, from `datetime_start` to
    `datetime_complete`: the latest start comes before the earliest completion."""
    records = list(records)
    assert records and all(r.datetime_start and r.datetime_complete for r in records), records
    return max(r.datetime_start for r in records) < min(r.datetime_complete for r in records)  # type: ignore


__all__ = ["ran_at_the_same_time", "wait_for"]
