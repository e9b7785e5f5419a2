"""SQLAlchemy engines for a storage URL: the URL options zoomtune reads itself (`?synchronous=`,
`?busy_timeout=`, `?retry_seconds=`) and how SQLite and server connections are set up."""

from __future__ import annotations

import math
import os
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url

from zoomtune.errors import StorageError
from zoomtune.storage.faults import is_lost_connection, shown_url

#: how long a SQLite writer waits for another one's lock (`?busy_timeout=` seconds), and how long a server
#: storage keeps trying to reach a server that does not answer (`?retry_seconds=`), by default
DEFAULT_BUSY_TIMEOUT_S = 120.0
DEFAULT_RETRY_SECONDS = 15.0


#: `?synchronous=` levels a SQLite URL may ask for: NORMAL (the default) survives a process crash, FULL and
#: EXTRA also a power loss (an fsync per commit)
SYNCHRONOUS_LEVELS = ("normal", "full", "extra")


def sqlite_synchronous(url: str) -> str:
    """The `synchronous` level a SQLite URL asks for (`sqlite:///zoomtune.db?synchronous=full`), upper case."""
    value = make_url(url).query.get("synchronous", "normal")
    if not isinstance(value, str) or value.lower() not in SYNCHRONOUS_LEVELS:
        raise StorageError(f"{shown_url(url)}: synchronous must be one of {', '.join(SYNCHRONOUS_LEVELS)}; "
                           f"got {value!r}")
    return value.upper()


def seconds_option(url: str, name: str, default: float) -> float:
    """A `?name=seconds` option of the URL: a finite number >= 0."""
    raw = make_url(url).query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise StorageError(f"{shown_url(url)}: {name} must be a number of seconds >= 0; got {raw!r}")
    return value


#: URL options zoomtune reads itself; the driver never sees them
OWN_OPTIONS = ("synchronous", "busy_timeout", "retry_seconds")


def sqlite_engine(url: str) -> Engine:
    """A SQLite engine: WAL, the URL's busy timeout and synchronous level, BEGIN IMMEDIATE for writes."""
    parsed = make_url(url)
    synchronous = sqlite_synchronous(url)
    busy_timeout = seconds_option(url, "busy_timeout", DEFAULT_BUSY_TIMEOUT_S)
    database = parsed.database
    if database and database != ":memory:":
        parent = os.path.dirname(os.path.abspath(database))
        if not os.path.isdir(parent):
            raise StorageError(f"{url}: folder {parent} does not exist")
    engine = create_engine(parsed.difference_update_query(OWN_OPTIONS),
                           connect_args={"timeout": busy_timeout, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")  # NORMAL in WAL mode: durable across process crashes
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("zt_read") else "BEGIN IMMEDIATE")

    return engine


def server_engine(url: str) -> Engine:
    """A server (PostgreSQL) engine that pings pooled connections and knows psycopg's lost-connection errors."""
    parsed = make_url(url)
    # a host that drops packets must not hang a connect forever; pre-ping replaces connections a restart broke
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
    engine = create_engine(parsed.difference_update_query(OWN_OPTIONS), pool_pre_ping=True,
                           connect_args=connect_args)

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        # psycopg words some lost connections ("connection socket closed") in ways SQLAlchemy does not take for
        # one; taken for one, the pool drops the connection instead of rolling it back (and logging a traceback)
        if context.original_exception is not None and is_lost_connection(context.original_exception):
            context.is_disconnect = True

    return engine


__all__ = ["DEFAULT_BUSY_TIMEOUT_S", "DEFAULT_RETRY_SECONDS", "OWN_OPTIONS", "SYNCHRONOUS_LEVELS", "seconds_option",
           "server_engine", "sqlite_engine", "sqlite_synchronous"]
