"""How SQL storage survives a lost server: every database failure becomes one `StorageFailure`, and on a
server (PostgreSQL) a call that lost its connection runs again with growing pauses, as far as its `Replay`
says running it twice is safe.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from zoomtune.storage.base import StorageFailure, StorageFault
from zoomtune.storage.faults import describe, driver_message

_T = TypeVar("_T")
_Method = TypeVar("_Method", bound=Callable[..., Any])

_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.25, 4.0


class Replay(enum.Enum):
    """When a call that lost its server connection may run again once the server answers."""

    ALWAYS = "always"  # reads, and writes that leave the same rows when they run twice
    BEFORE_COMMIT = "before commit"  # only when it failed before its COMMIT was sent


class CommitUnknown(Exception):
    """The connection broke during COMMIT: the transaction may or may not have been saved."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Retrier:
    """Runs calls against one database: `shown` (its URL, password masked) and `database` (its SQLite file, if
    any) name it in messages; on a `server`, a lost connection is tried again for up to `retry_seconds`."""

    def __init__(self, shown: str, database: str | None, server: bool, retry_seconds: float,
                 dbapi_error: type[Exception]) -> None:
        self.shown, self.database, self.server, self.retry_seconds = shown, database, server, retry_seconds
        self._errors: tuple[type[Exception], ...] = (SQLAlchemyError, dbapi_error)

    def run(self, call: Callable[[], _T], replay: Replay) -> _T:
        """`call()`, with every database failure raised as a one-line `StorageFailure`; on a server, a lost
        connection is retried with growing pauses for `retry_seconds` when `replay` allows."""
        began, pause, tries = time.monotonic(), _FIRST_PAUSE_S, 0
        while True:
            tries += 1
            try:
                return call()
            except CommitUnknown as unknown:
                failure = describe(unknown.error, self.shown, self.database)
                if replay is not Replay.ALWAYS and failure.fault is StorageFault.UNREACHABLE:
                    raise StorageFailure(self.shown, failure.fault, "lost the server while committing: the last "
                                         "change may or may not be saved", "check the study, then go on") \
                        from unknown.error
                cause: BaseException = unknown.error
            except self._errors as error:
                failure, cause = describe(error, self.shown, self.database), error
            if not self.server or failure.fault is not StorageFault.UNREACHABLE:
                raise failure from cause
            waited = time.monotonic() - began
            if waited + pause > self.retry_seconds:
                raise StorageFailure(self.shown, StorageFault.UNREACHABLE,
                                     f"cannot reach the database server after {tries} tries over {waited:.1f} s "
                                     f"({driver_message(cause)})", "start it or fix the URL; ?retry_seconds= sets how "
                                     "long to keep trying") from cause
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_S)


class _Retrying(Protocol):
    """A storage whose public methods run through its `Retrier`."""

    _retrier: Retrier


def guarded(replay: Replay) -> Callable[[_Method], _Method]:
    """Make a public method raise `StorageFailure` for every database failure (never a driver's exception),
    and, on a server, run it again after a lost connection as `replay` allows."""
    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def wrapper(self: _Retrying, *args: Any, **kwargs: Any) -> Any:
            return self._retrier.run(lambda: method(self, *args, **kwargs), replay)

        return wrapper  # type: ignore[return-value]

    return decorate


__all__ = ["CommitUnknown", "Replay", "Retrier", "guarded"]
