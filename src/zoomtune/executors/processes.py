"""Trials in N worker processes on one machine, sharing the study through its SQL storage.

Workers are forked, so any objective works (closures included). Each takes trials from a
shared budget, runs them with the ordinary trial loop, and sends every finished record back
to this process for the progress bar and callbacks. When PyTorch is loaded, each worker gets
its share of the CPU cores as intra-op threads, so N workers do not oversubscribe the machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import sys
from typing import TYPE_CHECKING, Any

from zoomtune.executors.base import Budget, Executor, ResultHook, describe
from zoomtune.executors.inline import InlineExecutor

if TYPE_CHECKING:
    from zoomtune.study import Objective, Study


def _sendable(error: BaseException) -> BaseException:
    """The error itself if it survives pickling, else a RuntimeError carrying its message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(describe(error))


def _worker(study: Study, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            results: Any, threads: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        InlineExecutor().run(study, objective, budget, catch, lambda record: results.put(("result", record)))
    except BaseException as error:  # noqa: BLE001 - handed to the parent
        budget.stop()
        results.put(("error", _sendable(error)))
    finally:
        results.put(("done", os.getpid()))
        results.close()
        results.join_thread()


class ProcessExecutor(Executor):
    """`n_jobs` forked worker processes; the study's storage must be SQL (SQLite or PostgreSQL)."""

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs = n_jobs

    def make_budget(self, n_trials: int | None, timeout: float | None) -> Budget:
        return Budget(n_trials, timeout, mp.get_context("fork"))

    def run(self, study: Study, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            on_result: ResultHook) -> None:
        context = mp.get_context("fork")
        results = context.Queue()
        threads = max(1, (os.cpu_count() or 1) // self.n_jobs)
        workers = [context.Process(target=_worker, args=(study, objective, budget, catch, results, threads),
                                   name=f"zoomtune-worker-{i}", daemon=True) for i in range(self.n_jobs)]
        for worker in workers:
            worker.start()
        errors: list[BaseException] = []
        finished = 0
        try:
            while finished < len(workers):
                try:
                    kind, payload = results.get(timeout=0.5)
                except queue.Empty:
                    if not any(w.is_alive() for w in workers):
                        break  # a worker died without saying so (killed): nothing more will come
                    continue
                if kind == "result":
                    on_result(payload)
                elif kind == "error":
                    errors.append(payload)
                else:
                    finished += 1
        except BaseException:
            budget.stop()
            raise
        finally:
            for worker in workers:
                worker.join(timeout=30)
                if worker.is_alive():
                    worker.terminate()
        if errors:
            raise errors[0]


__all__ = ["ProcessExecutor"]
