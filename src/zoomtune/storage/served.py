"""A storage served to other processes on this machine: how a study in memory reaches cluster workers.

`StorageServer(storage)` listens on 127.0.0.1 (a free port, a random key) and runs each call a
client sends on `storage`, one thread per connection; its `storage` attribute is a `ServedStorage`,
a picklable `Storage` that forwards every call there. Pickle it into another process and it
connects on first use (once per process, again after a fork).

>>> from zoomtune.records import Direction
>>> from zoomtune.storage.memory import InMemoryStorage
>>> with StorageServer(InMemoryStorage()) as server:
...     remote = server.storage
...     remote.create_study("s", Direction.MINIMIZE).name
...     remote.close()
's'

Only the methods of the `Storage` interface are served; a call that raises there raises the same
exception here (or a RuntimeError with its message when it cannot be pickled). The server is for
one machine: it never listens beyond the loopback interface, and a client must know the key.
"""

from __future__ import annotations

import logging
import os
import pickle
import secrets
import socket
import threading
import time
from collections.abc import Collection, Mapping
from multiprocessing.connection import Client, Connection, Listener, answer_challenge, deliver_challenge
from typing import Any

from zoomtune.errors import StorageError
from zoomtune.records import Direction, Event, EventKind, FailureCause, StudyInfo, StudySummary, TrialRecord, TrialState
from zoomtune.storage.base import (AttrScope, FinishedTrial, ParamWrite, Storage, StorageFailure, StorageFault,
                                   check_attr)

logger = logging.getLogger("zoomtune")

SERVED_METHODS = frozenset(Storage.__abstractmethods__)  # what a client may call: the interface, not close()
THREAD_PREFIX = "zoomtune-storage-server"  # every thread a server starts is named so
_JOIN_S = 30.0  # how long closing waits at most for each thread (a loaded machine can be slow)


def portable(error: BaseException) -> BaseException:
    """`error` itself if it survives pickling, else a RuntimeError carrying its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure
        text = str(error).strip().splitlines()
        return RuntimeError(f"{type(error).__name__}: {text[0]}" if text else type(error).__name__)


class StorageServer:
    """Serves `storage` on 127.0.0.1 until closed (use it as a context manager)."""

    def __init__(self, storage: Storage) -> None:
        self.served = storage
        self._authkey = secrets.token_bytes(32)
        # the handshake runs in each connection's thread (below), so a client that never
        # answers holds up only its own thread, not the accept loop
        self._listener = Listener(("127.0.0.1", 0), family="AF_INET", backlog=64)
        host, port = self._listener.address
        self.address: tuple[str, int] = (str(host), int(port))
        self._lock = threading.Lock()
        self._closed = False
        self._connections: set[Connection] = set()
        self._threads: list[threading.Thread] = []  # every connection's thread, joined on close
        self._count = 0
        host, port = self.address
        self.storage = ServedStorage(self.address, self._authkey,
                                     f"{storage.url} (served by pid {os.getpid()} at {host}:{port})")
        self._accepting = threading.Thread(target=self._accept, name=f"{THREAD_PREFIX}-{port}-accept", daemon=True)
        self._accepting.start()

    def __repr__(self) -> str:
        return f"StorageServer({self.storage.url!r}{', closed' if self._closed else ''})"

    def __enter__(self) -> StorageServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, end every connection and wait for the threads (the served storage stays open)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for conn in self._connections:  # wakes a thread blocked in recv(); it then closes conn
                _shut(conn)
        try:
            Client(self.address, family="AF_INET").close()  # wakes accept(); it sees _closed and returns
        except OSError:
            pass
        self._accepting.join(_JOIN_S)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(_JOIN_S)
        left = [t.name for t in [*threads, self._accepting] if t.is_alive()]
        if left:
            logger.warning("storage server threads still running after close: %s", ", ".join(left))

    # -- the threads ---------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except OSError:
                if self._closed:
                    return
                logger.debug("storage server: accept failed", exc_info=True)
                time.sleep(0.05)  # e.g. out of file descriptors: do not spin
                continue
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._count += 1
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                          name=f"{THREAD_PREFIX}-{self.address[1]}-conn-{self._count}")
                self._connections.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
                thread.start()  # under the lock: close() never sees a thread it cannot join

    def _serve(self, conn: Connection) -> None:
        try:
            deliver_challenge(conn, self._authkey)  # what Listener(authkey=...).accept() does, here
            answer_challenge(conn, self._authkey)
            while True:
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    return  # the client went away, or the server is closing
                status, payload = self._call(request)
                try:
                    conn.send((status, payload))
                except (EOFError, OSError):
                    return
                except Exception as error:  # noqa: BLE001 - a result that cannot be pickled
                    conn.send(("error", portable(StorageError(f"{self.served.url}: cannot send the result "
                                                              f"of {request[0]!r} ({error})"))))
        except Exception:
            logger.debug("storage server: connection ended", exc_info=True)
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _call(self, request: Any) -> tuple[str, Any]:
        try:
            method, args, kwargs = request
            if not isinstance(method, str) or method not in SERVED_METHODS:
                raise StorageError(f"{self.served.url}: {method!r} is not a storage method "
                                   f"(served: {', '.join(sorted(SERVED_METHODS))})")
            return "ok", getattr(self.served, method)(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - sent back to the caller
            return "error", portable(error)


def _shut(conn: Connection) -> None:
    """Shut the socket under `conn` down (closing it alone would not wake a thread blocked reading it)."""
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


_RESET = threading.Lock()  # serialises the first call of a process; renewed in a forked child


def _renew_reset_lock() -> None:
    global _RESET
    _RESET = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_reset_lock)


class ServedStorage(Storage):
    """A `Storage` whose every call runs on the storage a `StorageServer` serves.

    One connection per process, opened on first use (and again in a forked child); calls from
    several threads take turns on it. Pickling keeps only the address, the key and the url.
    """

    def __init__(self, address: tuple[str, int], authkey: bytes, url: str) -> None:
        host, port = address
        self.address, self.authkey, self.url = (str(host), int(port)), authkey, url
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._conn: Connection | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (ServedStorage, (self.address, self.authkey, self.url))

    def __repr__(self) -> str:
        return f"ServedStorage({self.url!r})"

    def _request(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._pid != os.getpid():  # first use here, or a forked child: the parent's connection is not ours
            with _RESET:
                if self._pid != os.getpid():
                    self._lock, self._conn, self._pid = threading.Lock(), None, os.getpid()
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = Client(self.address, family="AF_INET", authkey=self.authkey)
                self._conn.send((method, args, kwargs))
                status, payload = self._conn.recv()
            except (EOFError, OSError) as error:
                self._drop()
                raise StorageFailure(self.url, StorageFault.UNREACHABLE, f"the storage server cannot be reached "
                                     f"({type(error).__name__}: {error})", "it stops when its run ends") from None
        if status == "ok":
            return payload
        raise payload

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        """Close this process's connection (the served storage stays open; a later call reconnects)."""
        if self._pid == os.getpid():
            with self._lock:
                self._drop()

    # -- studies -----------------------------------------------------------------------------
    def create_study(self, name: str, direction: Direction, space: dict[str, Any] | None = None,
                     attrs: dict[str, Any] | None = None, *, directions: tuple[Direction, ...] = (),
                     metric_names: tuple[str, ...] = ()) -> StudyInfo:
        return self._request("create_study", name, direction, space, attrs,  # type: ignore[no-any-return]
                             directions=directions, metric_names=metric_names)

    def get_study(self, name: str) -> StudyInfo:
        return self._request("get_study", name)  # type: ignore[no-any-return]

    def list_studies(self) -> list[StudySummary]:
        return self._request("list_studies")  # type: ignore[no-any-return]

    def delete_study(self, name: str) -> None:
        self._request("delete_study", name)

    def set_study_attr(self, study_id: int, key: str, value: Any, *, scope: AttrScope = AttrScope.USER) -> StudyInfo:
        check_attr(f"study #{study_id}", key, value)  # here, so that a value that cannot be sent is named too
        return self._request("set_study_attr", study_id, key, value, scope=scope)  # type: ignore[no-any-return]

    # -- trials ------------------------------------------------------------------------------
    def create_trial(self, study_id: int, state: TrialState = TrialState.RUNNING,
                     fixed_params: dict[str, Any] | None = None, parent: int | None = None,
                     user_attrs: dict[str, Any] | None = None) -> TrialRecord:
        return self._request("create_trial", study_id, state, fixed_params, parent,  # type: ignore[no-any-return]
                             user_attrs)

    def add_finished_trial(self, study_id: int, trial: FinishedTrial) -> TrialRecord:
        return self._request("add_finished_trial", study_id, trial)  # type: ignore[no-any-return]

    def start_trial(self, study_id: int, number: int | None = None) -> TrialRecord:
        return self._request("start_trial", study_id, number)  # type: ignore[no-any-return]

    def update_trial(self, trial_id: int, *, params: ParamWrite | None = None,
                     values: Mapping[int, float] | None = None, user_attrs: Mapping[str, Any] | None = None,
                     state: TrialState | None = None, value: float | None = None,
                     error: str | None = None, cause: FailureCause | None = None,
                     vectors: Mapping[int, tuple[float, ...]] | None = None,
                     objective_values: tuple[float, ...] | None = None,
                     constraints: Mapping[str, float] | None = None) -> None:
        self._request("update_trial", trial_id, params=params, values=values, user_attrs=user_attrs, state=state,
                      value=value, error=error, cause=cause, vectors=vectors, objective_values=objective_values,
                      constraints=constraints)

    def get_trial(self, study_id: int, number: int) -> TrialRecord:
        return self._request("get_trial", study_id, number)  # type: ignore[no-any-return]

    def get_trials(self, study_id: int, states: Collection[TrialState] | None = None, *,
                   from_number: int = 0) -> list[TrialRecord]:
        return self._request("get_trials", study_id, None if states is None else tuple(states),  # type: ignore
                             from_number=from_number)

    # -- liveness ----------------------------------------------------------------------------
    def heartbeat(self, trial_ids: Collection[int]) -> None:
        self._request("heartbeat", list(trial_ids))

    def fail_stale_trials(self, study_id: int, older_than: float, error: str) -> list[int]:
        return self._request("fail_stale_trials", study_id, older_than, error)  # type: ignore[no-any-return]

    # -- events ------------------------------------------------------------------------------
    def add_event(self, study_id: int, event: Event) -> None:
        self._request("add_event", study_id, event)

    def get_events(self, study_id: int, kind: EventKind | None = None,
                   trial_number: int | None = None) -> list[Event]:
        return self._request("get_events", study_id, kind, trial_number)  # type: ignore[no-any-return]


__all__ = ["SERVED_METHODS", "ServedStorage", "StorageServer", "portable"]
