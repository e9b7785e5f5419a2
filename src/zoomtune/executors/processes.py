"""Trials in N worker processes on one machine, sharing the study through its SQL storage.

Workers are forked, so any objective works (closures included). Each takes trials from a
shared budget, runs them with the ordinary trial loop, and sends every finished record back
to this process for the progress bar and callbacks. When PyTorch is loaded, each worker gets
its share of the CPU cores as intra-op threads, so N workers do not oversubscribe the machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

from zoomtune.errors import ConfigError, Interrupted
from zoomtune.executors.base import Budget, Executor, Objective, ResultHook, StudyRunner, evaluate, sendable
from zoomtune.records import FailureCause

#: how long interrupted workers get to record their trials before they are killed
STOP_GRACE_S = 10.0
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


class WorkerMessage(str, Enum):
    """What a worker process sends its parent."""

    RESULT = "result"  # a finished trial's record
    ERROR = "error"  # an error that must propagate
    DONE = "done"  # the worker's loop ended (payload: its pid)


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def how_it_ended(exitcode: int | None) -> str:
    """How a worker process that died without a word ended: the signal that killed it, or its exit code."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"died (exit code {exitcode})"


def visible_gpus() -> list[str]:
    """The CUDA devices this machine offers: $CUDA_VISIBLE_DEVICES when set, else what nvidia-smi lists."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _die_with_parent() -> None:
    """Have the kernel send this worker SIGTERM when its parent dies (Linux), so that a run killed
    with SIGKILL leaves no orphan carrying on with its trials: each tells its trial FAILED and exits."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere the worker loop notices its new parent between trials
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # no prctl in this libc: the loop's check remains
        pass


def _worker(study: StudyRunner, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            results: Any, threads: int, gpu: str | None, slots: Any, slot: int, parent: int) -> None:
    signal.signal(signal.SIGTERM, _raise_interrupted)  # the parent stops us: the running trial is told FAILED
    _die_with_parent()
    if gpu is not None:  # before anything in this process touches CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        while os.getppid() == parent and budget.take():  # an orphan starts nothing (its parent died)
            trial = study.ask()
            slots[slot] = trial.number  # shared memory, written at once: the parent fails it if we die
            results.put((WorkerMessage.RESULT, evaluate(study, trial, objective, catch)))
            slots[slot] = -1
    except BaseException as error:  # noqa: BLE001 - handed to the parent
        # Already stopping: a second signal (SIGINT to the group, then the parent's SIGTERM) must not cut
        # this report short with a traceback.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        budget.stop()
        results.put((WorkerMessage.ERROR, sendable(error)))
    finally:
        results.put((WorkerMessage.DONE, os.getpid()))


class ProcessExecutor(Executor):
    """`n_jobs` forked worker processes; the study's storage must be SQL (SQLite or PostgreSQL).

    When CUDA devices exist, each worker sees only its own (`CUDA_VISIBLE_DEVICES`), with
    `trials_per_gpu` workers sharing one device.
    """

    def __init__(self, n_jobs: int, trials_per_gpu: int = 1) -> None:
        for field, value in (("n_jobs", n_jobs), ("trials_per_gpu", trials_per_gpu)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(field, "must be an integer >= 1", value, "ProcessExecutor")
        self.n_jobs, self.trials_per_gpu = n_jobs, trials_per_gpu

    def make_budget(self, n_trials: int | None, timeout: float | None,
                    until: Callable[[], bool] | None = None) -> Budget:
        return Budget(n_trials, timeout, mp.get_context("fork"), until)

    def run(self, study: StudyRunner, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            on_result: ResultHook) -> None:
        context = mp.get_context("fork")
        results = context.SimpleQueue()  # puts are synchronous: nothing is lost when a worker is killed
        threads = max(1, (os.cpu_count() or 1) // self.n_jobs)
        gpus = visible_gpus()

        def gpu_of(i: int) -> str | None:
            return gpus[(i // self.trials_per_gpu) % len(gpus)] if gpus else None

        slots = context.Array("q", [-1] * self.n_jobs, lock=False)  # trial each worker slot is running

        def spawn(i: int) -> Any:
            slots[i] = -1
            process = context.Process(target=_worker, name=f"zoomtune-worker-{i}", daemon=True,
                                      args=(study, objective, budget, catch, results, threads, gpu_of(i), slots, i,
                                            os.getpid()))
            process.start()
            return process

        workers = [(i, spawn(i)) for i in range(self.n_jobs)]
        errors: list[BaseException] = []
        settled: set[int] = set()  # pids that said "done", or died and were dealt with

        def receive(wait: bool) -> WorkerMessage | None:
            if results.empty():
                if wait:
                    time.sleep(0.05)
                return None
            kind, payload = results.get()
            if kind is WorkerMessage.RESULT:
                on_result(payload)
            elif kind is WorkerMessage.ERROR:
                errors.append(payload)
            elif kind is WorkerMessage.DONE:
                settled.add(payload)
            return kind  # type: ignore[no-any-return]

        try:
            while len(settled) < len(workers):
                kind = receive(wait=True)
                for slot, worker in list(workers):
                    if worker.pid in settled or worker.is_alive() or kind is not None:
                        continue
                    settled.add(worker.pid)  # it died without a word (SIGKILL, OOM)
                    if slots[slot] >= 0:
                        on_result(study.fail_trial(slots[slot], f"its worker process {how_it_ended(worker.exitcode)}",
                                                   FailureCause.WORKER_LOST, retry=True))
                    if not errors and len(workers) < self.n_jobs * 10:
                        workers.append((slot, spawn(slot)))  # keep n_jobs workers going; the budget bounds them
        except BaseException as error:
            budget.stop()
            self._stop_workers(study, workers, slots, receive, error)
            raise
        finally:
            for _slot, worker in workers:
                worker.join(timeout=30)
                if worker.is_alive():
                    worker.terminate()
        if errors:
            raise errors[0]

    @staticmethod
    def _stop_workers(study: StudyRunner, workers: list[tuple[int, Any]], slots: Any,
                      receive: Any, error: BaseException) -> None:
        """After an interrupt: SIGTERM the workers (each tells its trial FAILED, cause INTERRUPTED),
        collect what they send, kill the ones that do not stop in time and fail their trials here."""
        alive = [(slot, w) for slot, w in workers if w.is_alive()]
        for _slot, worker in alive:
            worker.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        while any(w.is_alive() for _s, w in alive) and time.monotonic() < deadline:
            try:
                receive(wait=True)
            except BaseException:  # noqa: BLE001 - a second Ctrl-C or a callback error: stop waiting
                break
        for slot, worker in alive:
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=5)
            if slots[slot] >= 0:
                why = "interrupted: the run was stopped" + (f" ({error})" if str(error) else "")
                study.fail_trial(slots[slot], why, FailureCause.INTERRUPTED)


__all__ = ["ProcessExecutor", "visible_gpus"]
