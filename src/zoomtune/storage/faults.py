"""Database failures in plain words: which `StorageFault` a SQLite or PostgreSQL driver error is, and what
the user can do about it, as one line that names the database (its password masked)."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from zoomtune.storage.base import StorageFailure, StorageFault

# SQLite's primary result codes (the low byte of an extended code): https://sqlite.org/rescode.html
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT = 5, 6, 8, 10, 11
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 13, 14, 26

# PostgreSQL SQLSTATEs: https://www.postgresql.org/docs/current/errcodes-appendix.html
_PG_UNREACHABLE_CLASS = "08"  # connection exceptions
_PG_SHUTDOWN = {"57P01", "57P02", "57P03"}  # admin / crash shutdown, cannot connect now
_PG_FULL = {"53100"}
_PG_READ_ONLY = {"25006"}
_PG_DAMAGED = {"XX001", "XX002"}

_RESTORE = "restore it from a backup (`sqlite3 FILE .recover` may save what is left) or point --storage elsewhere"


def shown_url(url: str) -> str:
    """The URL as messages show it: with its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite(code: int, database: str | None, message: str) -> tuple[StorageFault, str, str]:
    primary = code & 0xFF
    if primary == _SQLITE_NOTADB:
        return StorageFault.NOT_A_DATABASE, "is not a SQLite database", "check the path, or move the file away"
    if primary == _SQLITE_CORRUPT:
        return StorageFault.DAMAGED, "is damaged (malformed: it fails SQLite's integrity check)", _RESTORE
    if database and not os.path.exists(database) and primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN, _SQLITE_READONLY):
        return StorageFault.VANISHED, "was removed", "restore the file; zoomtune never recreates a removed one"
    if primary == _SQLITE_FULL or (primary == _SQLITE_IOERR and database and _disk_full(database)):
        return StorageFault.FULL, "the disk is full", "free some space, then `zoomtune resume` goes on"
    if primary == _SQLITE_READONLY or (primary == _SQLITE_IOERR and database and not _writable(database)):
        return StorageFault.READ_ONLY, "is read-only", "make the file, its -wal and -shm files and its folder writable"
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return (StorageFault.LOCKED, "is locked by another process for longer than the busy timeout",
                "wait for it, or raise ?busy_timeout= (seconds) in the URL")
    if primary == _SQLITE_CANTOPEN:
        return StorageFault.OTHER, "cannot be opened", "check that the file and its folder can be read and written"
    return StorageFault.OTHER, f"failed: {message}", "check the disk and the file"


def _disk_full(database: str) -> bool:
    try:
        return os.statvfs(os.path.dirname(os.path.abspath(database))).f_bavail == 0
    except OSError:
        return False


def _writable(database: str) -> bool:
    return all(os.access(path, os.W_OK) for path in (database, f"{database}-wal") if os.path.exists(path))


def _server(sqlstate: str | None, connection_lost: bool, message: str) -> tuple[StorageFault, str, str]:
    if connection_lost:
        return StorageFault.UNREACHABLE, f"cannot reach the database server ({message})", "check that it is running"
    if sqlstate in _PG_FULL:
        return StorageFault.FULL, "the server's disk is full", "free some space, then `zoomtune resume` goes on"
    if sqlstate in _PG_READ_ONLY:
        return StorageFault.READ_ONLY, "is read-only (a standby?)", "point --storage at the primary server"
    if sqlstate in _PG_DAMAGED:
        return StorageFault.DAMAGED, f"is damaged ({message})", "restore it from a backup"
    return StorageFault.OTHER, f"failed: {message} (SQLSTATE {sqlstate})", "see the server's log"


def driver_message(error: BaseException) -> str:
    """What the driver said (SQLAlchemy's wrapping left out), on one line."""
    original = error.orig if isinstance(error, DBAPIError) else error
    return " ".join(str(original).split()) or type(original).__name__


def is_lost_connection(error: BaseException) -> bool:
    """Whether a server driver's `error` says the connection is gone or the server does not answer: a
    connection-class SQLSTATE, a shutdown, or (the driver's own words, without a SQLSTATE) an
    OperationalError / InterfaceError such as "connection socket closed"."""
    original = error.orig if isinstance(error, DBAPIError) else error
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is not None:
        return str(sqlstate).startswith(_PG_UNREACHABLE_CLASS) or sqlstate in _PG_SHUTDOWN
    return any(kind.__name__ in ("OperationalError", "InterfaceError") for kind in type(original).__mro__)


def describe(error: BaseException, shown: str, database: str | None) -> StorageFailure:
    """`error` (a SQLAlchemy or driver exception) as a one-line `StorageFailure`; `database` is the SQLite
    file's path (None for a server)."""
    original: Any = error.orig if isinstance(error, DBAPIError) else error
    message = driver_message(error)
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        fault, what, todo = _sqlite(code, database, message)
    else:
        lost = (isinstance(error, DBAPIError) and error.connection_invalidated) or is_lost_connection(error)
        fault, what, todo = _server(getattr(original, "sqlstate", None), lost, message)
    return StorageFailure(shown, fault, what, todo)


__all__ = ["describe", "driver_message", "is_lost_connection", "shown_url"]
