"""Trials as Ray tasks (`executor="ray"`; needs `pip install 'zoomtune[ray]'`).

Each trial is one task holding `num_cpus` CPUs and `num_gpus` GPUs (Ray sets
CUDA_VISIBLE_DEVICES for it). Unless Ray is already initialised, a local Ray instance with
`n_jobs * num_cpus` CPUs, no dashboard and loopback addresses only is started for the run and
shut down after it; give `address="auto"` or `"ray://head:10001"` to use a running cluster.
Tasks are never retried: a trial whose worker dies ends FAILED ("worker lost: ...").
A study in memory is served to the workers when every node of the cluster is this machine (a
local Ray); a cluster with other nodes needs SQL storage that every node reaches.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from typing import Any

from zoomtune.errors import ConfigError
from zoomtune.executors.remote import RemoteExecutor, is_loopback, missing_engine, run_remote
from zoomtune.records import TrialRecord

_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a local Ray binds to 127.0.0.1 only


def _ray(local: bool) -> Any:
    if "ray" not in sys.modules and local:
        os.environ.setdefault(_LOOPBACK_ENV, "0")  # read when ray is first imported
    try:
        import ray
    except ImportError as error:
        raise missing_engine("ray", error) from None
    return ray


def _address_host(address: str) -> str | None:
    """The host of a Ray address ("ray://head:10001", "head:6379"); None for "auto" and the like."""
    rest = address.split("://", 1)[-1]
    host = rest.rsplit(":", 1)[0] if ":" in rest else None
    return host or None


class RayExecutor(RemoteExecutor):
    """Trials on Ray, `n_jobs` at once (default: as many as the cluster's CPUs and GPUs allow), each
    a task with `num_cpus` CPUs and `num_gpus` GPUs. `init_options` go to `ray.init` when this
    executor starts Ray."""

    engine = "ray"

    def __init__(self, n_jobs: int | None = None, address: str | None = None, num_cpus: float = 1,
                 num_gpus: float = 0, **init_options: Any) -> None:
        super().__init__(n_jobs)
        if not isinstance(num_cpus, (int, float)) or num_cpus < 0:
            raise ConfigError("num_cpus", "must be a number >= 0", num_cpus)
        if not isinstance(num_gpus, (int, float)) or num_gpus < 0:
            raise ConfigError("num_gpus", "must be a number >= 0", num_gpus)
        self.address, self.num_cpus, self.num_gpus, self.init_options = address, num_cpus, num_gpus, init_options
        self._started = False
        self._task: Any = None

    def __repr__(self) -> str:
        return (f"RayExecutor(n_jobs={self.n_jobs}, address={self.address or 'local'!r}, "
                f"num_cpus={self.num_cpus}, num_gpus={self.num_gpus})")

    def _open(self) -> None:
        local = self.address in (None, "local")
        ray = _ray(local)
        self._started = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"address": self.address or "local", "include_dashboard": False}
            if local:
                options["num_cpus"] = max(1, math.ceil((self.n_jobs or os.cpu_count() or 1) * self.num_cpus))
            options.update(self.init_options)
            ray.init(**options)
            self._started = True
        self._task = ray.remote(run_remote).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0,
                                                    retry_exceptions=False, name="zoomtune-trial")

    def _where(self) -> str:
        return f"the Ray cluster at {self.address!r}" if self.address not in (None, "local") else "the Ray cluster"

    def _workers_here(self) -> bool | None:
        if self._task is None:  # before _open: only what the address says
            if self.address in (None, "local"):
                ray = sys.modules.get("ray")
                return True if ray is None or not ray.is_initialized() else None  # else: a Ray started before
            host = _address_host(self.address)
            return False if host is not None and not is_loopback(host) else None
        if self._started and self.address in (None, "local"):
            return True
        ray = _ray(False)
        try:  # every node on this machine: a loopback address, or this machine's own
            here = {ray.util.get_node_ip_address()}
            nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")]
        except Exception:  # noqa: BLE001 - cannot tell: not here
            return False
        return bool(nodes) and all(is_loopback(node) or node in here for node in nodes)

    def _close(self) -> None:
        self._task = None
        if self._started:
            self._started = False
            _ray(False).shutdown()

    def _slots(self) -> int:
        resources = _ray(False).cluster_resources()
        fits = [resources.get("CPU", 0) / self.num_cpus] if self.num_cpus else []
        if self.num_gpus:
            fits.append(resources.get("GPU", 0) / self.num_gpus)
        return int(min(fits)) if fits else os.cpu_count() or 1

    def _share(self, blob: bytes) -> Any:
        return _ray(False).put(blob)  # owned by this process: survives any worker's death

    def _submit(self, run_id: str, shared: Any, number: int, inferred: list[str]) -> Any:
        return self._task.remote(run_id, shared, number, inferred)

    def _wait(self, futures: list[Any], timeout: float) -> list[Any]:
        ray = _ray(False)
        ready, rest = ray.wait(futures, num_returns=1, timeout=timeout, fetch_local=False)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0, fetch_local=False)
            ready += more
        return list(ready)

    def _result(self, future: Any) -> TrialRecord:
        return _ray(False).get(future)  # type: ignore[no-any-return]

    def _unwrap(self, error: BaseException) -> BaseException:
        exceptions = _ray(False).exceptions
        cause = getattr(error, "cause", None) if isinstance(error, exceptions.RayTaskError) else None
        if isinstance(cause, BaseException):
            if cause.__cause__ is None:
                cause.__cause__ = error  # the remote traceback, when it is printed
            return cause
        return error

    def _lost(self, error: BaseException) -> bool:
        exceptions = _ray(False).exceptions
        names = ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "OutOfMemoryError",
                 "ObjectLostError", "OwnerDiedError", "TaskCancelledError", "RaySystemError")
        kinds = tuple(k for k in (getattr(exceptions, n, None) for n in names) if isinstance(k, type))
        return isinstance(error, kinds)

    def _cancel(self, futures: list[Any]) -> None:
        ray = _ray(False)
        for future in futures:
            try:
                ray.cancel(future, force=True)
            except Exception:
                logging.getLogger("zoomtune").debug("cancelling trials failed", exc_info=True)


__all__ = ["RayExecutor"]
