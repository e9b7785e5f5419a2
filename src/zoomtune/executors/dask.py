"""Trials as tasks of a Dask cluster (`executor="dask"`; needs `pip install 'zoomtune[dask]'`).

By default a `LocalCluster` of `n_jobs` worker processes with one thread each, listening on
127.0.0.1 only, is started for the run and closed after it; give `address="tcp://host:8786"`
(or a `distributed.Client`) to use a running cluster instead. A study in memory is served to the
workers of a local cluster (or of one whose scheduler listens on a loopback address); a cluster
elsewhere needs SQL storage that every worker reaches. See `zoomtune.executors.remote` for how
trials travel.

A local cluster starts its workers with the "spawn" method, and each of them runs the main
script's top-level code again: in a script, call `optimize` under ``if __name__ == "__main__":``
(or pass `processes=False` for worker threads). Without it the run stops with a ConfigError
saying so.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import multiprocessing
import sys
import types
from concurrent.futures import CancelledError
from typing import Any

from zoomtune.errors import ConfigError
from zoomtune.executors.remote import RemoteExecutor, is_loopback, missing_engine, run_remote
from zoomtune.records import TrialRecord


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise missing_engine("dask", error) from None
    return distributed


def _on_this_machine(address: str) -> bool:
    """Whether a Dask address (``tcp://127.0.0.1:8786``, ``localhost:8786``, ``inproc://...``) is a
    loopback one, so that every worker of its scheduler runs here."""
    comm = _distributed().comm
    try:
        scheme, _ = comm.parse_address(address)
        return scheme == "inproc" or is_loopback(comm.get_address_host(address))
    except (ValueError, TypeError):
        return False


NO_MAIN_GUARD = ("a local Dask cluster starts its workers with the 'spawn' method, and each one runs the main "
                 "script's top-level code again; call optimize under `if __name__ == \"__main__\":` in {script} "
                 "(or pass processes=False to run the workers as threads)")


def _is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (either way round)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare) or len(node.test.ops) != 1 \
            or not isinstance(node.test.ops[0], ast.Eq):
        return False
    sides = [node.test.left, node.test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    texts = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and texts == ["__main__"]


def unguarded_script() -> str | None:
    """The main script's path when this call comes from its top-level code outside an
    ``if __name__ == "__main__":`` block (code a spawned worker runs again), else None."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str):
        return None  # interactive, or python -c: a spawned process does not run it again
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back
    if frame is None:
        return None  # not called from the script's top-level code
    line = frame.f_lineno
    try:
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read(), path)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return path  # cannot read it: the likely cause all the same
    guarded = any(isinstance(node, ast.If) and _is_main_guard(node)
                  and node.lineno <= line <= (node.end_lineno or node.lineno) for node in ast.walk(tree))
    return None if guarded else path


def _dask_config(key: str, default: Any) -> Any:
    import dask

    return dask.config.get(key, default)


class DaskExecutor(RemoteExecutor):
    """Trials on Dask: a local cluster of `n_jobs` processes (default 1 when started here), or the
    cluster at `address`, or an existing `client`, with `n_jobs` trials in flight (default: one per
    worker thread). `cluster_options` go to `LocalCluster`."""

    engine = "dask"

    def __init__(self, n_jobs: int | None = None, address: str | None = None, client: Any = None,
                 **cluster_options: Any) -> None:
        super().__init__(n_jobs)
        self.address, self.client, self.cluster_options = address, client, cluster_options
        self._client: Any = None
        self._owned: list[Any] = []  # what _open started, closed in reverse order

    def __repr__(self) -> str:
        where = self.address or ("client" if self.client is not None else "LocalCluster")
        return f"DaskExecutor(n_jobs={self.n_jobs}, {where})"

    def _where(self) -> str:
        if self.client is not None:
            return f"the Dask client's cluster (scheduler {self.client.scheduler.address})"
        return f"the Dask cluster at {self.address!r}" if self.address is not None else "the local Dask cluster"

    def _workers_here(self) -> bool:
        if self.client is not None:
            return _on_this_machine(self.client.scheduler.address)
        return self.address is None or _on_this_machine(self.address)  # a LocalCluster is all here

    def _open(self) -> None:
        distributed = _distributed()
        self._owned = []
        if self.client is not None:
            self._client = self.client
            return
        if self.address is not None:
            self._client = distributed.Client(self.address)
            self._owned.append(self._client)
            return
        options: dict[str, Any] = {"n_workers": self.n_jobs or 1, "threads_per_worker": 1, "processes": True,
                                       "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0",
                                       "silence_logs": logging.WARNING,
                                       "scheduler_kwargs": {"allowed_failures": 0}}  # a lost trial is not rerun
        options.update(self.cluster_options)
        if not options.get("processes") and "host" not in self.cluster_options:
            del options["host"]  # worker threads talk in-process ("inproc://"), where a host is refused
        spawns = bool(options.get("processes")) and \
            _dask_config("distributed.worker.multiprocessing-method", "spawn") != "fork"
        if spawns and getattr(multiprocessing.current_process(), "_inheriting", False):
            # this process is a worker being spawned that runs the script's top-level code again
            raise ConfigError("executor", NO_MAIN_GUARD.format(script=unguarded_script() or "the main script"), "dask")
        try:
            cluster = distributed.LocalCluster(**options)
        except Exception as error:
            script = unguarded_script() if spawns else None
            if script is None:
                raise
            raise ConfigError("executor", f"the Dask workers failed to start ({error}): "
                                          + NO_MAIN_GUARD.format(script=script), "dask") from error
        self._owned.append(cluster)
        try:
            self._client = distributed.Client(cluster)
        except BaseException:
            cluster.close()
            raise
        self._owned.append(self._client)

    def _close(self) -> None:
        owned, self._owned, self._client = self._owned, [], None
        for thing in reversed(owned):
            try:
                thing.close()
            except Exception:
                logging.getLogger("zoomtune").debug("closing %r failed", thing, exc_info=True)

    def _slots(self) -> int:
        return sum(self._client.nthreads().values())

    def _share(self, blob: bytes) -> Any:
        # sent with every task: a scattered copy would be lost with the worker holding it
        return blob

    def _submit(self, run_id: str, shared: Any, number: int, inferred: list[str]) -> Any:
        return self._client.submit(run_remote, run_id, shared, number, inferred, pure=False,
                                   key=f"zoomtune-trial-{number}-{run_id[:8]}")

    def _wait(self, futures: list[Any], timeout: float) -> list[Any]:
        distributed = _distributed()
        try:
            done, _ = distributed.wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        except (TimeoutError, asyncio.TimeoutError):  # distinct types before Python 3.11
            return []
        return list(done)

    def _result(self, future: Any) -> TrialRecord:
        try:
            return future.result()  # type: ignore[no-any-return]
        finally:
            future.release()  # else Dask would recompute a finished trial whose worker dies later

    def _lost(self, error: BaseException) -> bool:
        return isinstance(error, (_distributed().KilledWorker, CancelledError))

    def _why_lost(self, error: BaseException) -> str:
        worker = getattr(getattr(error, "last_worker", None), "address", None)
        if isinstance(error, _distributed().KilledWorker) and worker:
            return f"KilledWorker: the Dask worker {worker} died while running the trial"
        return super()._why_lost(error)

    def _cancel(self, futures: list[Any]) -> None:
        if self._client is not None and futures:
            try:
                self._client.cancel(futures)
            except Exception:
                logging.getLogger("zoomtune").debug("cancelling trials failed", exc_info=True)


__all__ = ["DaskExecutor"]
