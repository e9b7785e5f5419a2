"""Trials in N threads of this process: useful when the objective releases the GIL (PyTorch,
NumPy, I/O). The first error that must propagate stops new trials and is re-raised."""

from __future__ import annotations

import threading
from zoomtune.executors.base import Budget, Executor, Objective, ResultHook, StudyRunner
from zoomtune.executors.inline import InlineExecutor
from zoomtune.records import TrialRecord


class ThreadExecutor(Executor):
    """`n_jobs` threads, each running the inline loop on the shared budget."""

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs = n_jobs

    def run(self, study: StudyRunner, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            on_result: ResultHook) -> None:
        lock = threading.Lock()
        errors: list[BaseException] = []

        def hook(record: TrialRecord) -> None:
            with lock:
                on_result(record)

        def worker() -> None:
            try:
                InlineExecutor().run(study, objective, budget, catch, hook)
            except BaseException as error:  # noqa: BLE001 - handed to the calling thread below
                budget.stop()
                errors.append(error)

        threads = [threading.Thread(target=worker, name=f"zoomtune-{i}", daemon=True) for i in range(self.n_jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]


__all__ = ["ThreadExecutor"]
