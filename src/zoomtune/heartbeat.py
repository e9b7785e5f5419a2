"""Heartbeats: a daemon thread per process marks the trials it runs as alive, so a trial whose
worker died (SIGKILL, out of memory, a lost machine) can be told from one that is slow."""

from __future__ import annotations

import logging
import os
import threading

from zoomtune.storage.base import Storage

logger = logging.getLogger("zoomtune")


class Heartbeat:
    """Every `interval` seconds, writes a heartbeat for the RUNNING trials this process holds."""

    def __init__(self, storage: Storage, interval: float) -> None:
        self.storage, self.interval = storage, interval
        self._trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid: int | None = None

    def add(self, trial_id: int) -> None:
        with self._lock:
            self._trial_ids.add(trial_id)
            if self._pid != os.getpid():  # first use, or a forked child: threads do not survive fork
                self._pid = os.getpid()
                self._trial_ids = {trial_id}
                threading.Thread(target=self._loop, name="zoomtune-heartbeat", daemon=True).start()

    def remove(self, trial_id: int) -> None:
        with self._lock:
            self._trial_ids.discard(trial_id)

    def _loop(self) -> None:
        pid = os.getpid()
        while not self._wake.wait(self.interval) and os.getpid() == pid:
            with self._lock:
                trial_ids = sorted(self._trial_ids)
            if trial_ids:
                try:
                    self.storage.heartbeat(trial_ids)
                except Exception as error:  # noqa: BLE001 - a missed beat must not kill the worker
                    logger.warning("heartbeat failed: %s", error)


__all__ = ["Heartbeat"]
