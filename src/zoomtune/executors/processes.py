"""Trials in N worker processes on one machine, sharing the study through its SQL storage.

Workers are forked, so any objective works (closures included). Each takes trials from a
shared budget, runs them with the ordinary trial loop, and sends every finished record back
to this process for the progress bar and callbacks. When PyTorch is loaded, each worker gets
its share of the CPU cores as intra-op threads, so N workers do not oversubscribe the machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from zoomtune.executors.base import Budget, Executor, ResultHook, sendable
from zoomtune.executors.inline import InlineExecutor

if TYPE_CHECKING:
    from zoomtune.study import Objective, Study


def visible_gpus() -> list[str]:
    """The CUDA devices this machine offers: $CUDA_VISIBLE_DEVICES when set, else what nvidia-smi lists."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _worker(study: Study, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            results: Any, threads: int, gpu: str | None) -> None:
    if gpu is not None:  # before anything in this process touches CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        InlineExecutor().run(study, objective, budget, catch, lambda record: results.put(("result", record)))
    except BaseException as error:  # noqa: BLE001 - handed to the parent
        budget.stop()
        results.put(("error", sendable(error)))
    finally:
        results.put(("done", os.getpid()))
        results.close()
        results.join_thread()


class ProcessExecutor(Executor):
    """`n_jobs` forked worker processes; the study's storage must be SQL (SQLite or PostgreSQL).

    When CUDA devices exist, each worker sees only its own (`CUDA_VISIBLE_DEVICES`), with
    `trials_per_gpu` workers sharing one device.
    """

    def __init__(self, n_jobs: int, trials_per_gpu: int = 1) -> None:
        if trials_per_gpu < 1:
            raise ValueError(f"trials_per_gpu must be >= 1; got {trials_per_gpu}")
        self.n_jobs, self.trials_per_gpu = n_jobs, trials_per_gpu

    def make_budget(self, n_trials: int | None, timeout: float | None) -> Budget:
        return Budget(n_trials, timeout, mp.get_context("fork"))

    def run(self, study: Study, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            on_result: ResultHook) -> None:
        context = mp.get_context("fork")
        results = context.Queue()
        threads = max(1, (os.cpu_count() or 1) // self.n_jobs)
        gpus = visible_gpus()

        def gpu_of(i: int) -> str | None:
            return gpus[(i // self.trials_per_gpu) % len(gpus)] if gpus else None

        workers = [context.Process(target=_worker, name=f"zoomtune-worker-{i}", daemon=True,
                                   args=(study, objective, budget, catch, results, threads, gpu_of(i)))
                   for i in range(self.n_jobs)]
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


__all__ = ["ProcessExecutor", "visible_gpus"]
