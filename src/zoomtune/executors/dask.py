"""Trials as tasks of a Dask cluster (`executor="dask"`; needs `pip install 'zoomtune[dask]'`).

By default a `LocalCluster` of `n_jobs` worker processes with one thread each, listening on
127.0.0.1 only, is started for the run and closed after it; give `address="tcp://host:8786"`
(or a `distributed.Client`) to use a running cluster instead. The study's storage must be SQL,
reachable from every worker. See `zoomtune.executors.remote` for how trials travel.

A local cluster starts its workers with the "spawn" method: in a script, call `optimize` under
``if __name__ == "__main__":``.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import CancelledError
from typing import Any

from zoomtune.executors.remote import RemoteExecutor, missing_engine, run_remote
from zoomtune.records import TrialRecord


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise missing_engine("dask", error) from None
    return distributed


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
        options: dict[str, Any] = dict(n_workers=self.n_jobs or 1, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                       silence_logs=logging.WARNING,
                                       scheduler_kwargs={"allowed_failures": 0})  # a lost trial is not rerun
        options.update(self.cluster_options)
        cluster = distributed.LocalCluster(**options)
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
            except Exception:  # noqa: BLE001 - closing is best effort
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
            except Exception:  # noqa: BLE001 - best effort
                pass


__all__ = ["DaskExecutor"]
