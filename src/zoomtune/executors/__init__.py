"""Executors: where trial code runs. `run_study` is the loop behind `Study.optimize`."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from zoomtune.errors import ConfigError
from zoomtune.executors.base import Budget, Executor, run_trial
from zoomtune.executors.inline import InlineExecutor
from zoomtune.executors.processes import ProcessExecutor
from zoomtune.executors.threads import ThreadExecutor
from zoomtune.records import TrialRecord

if TYPE_CHECKING:
    from zoomtune.study import Callback, Objective, Study


def resolve_jobs(n_jobs: int) -> int:
    """`n_jobs` as a worker count: -1 means one per CPU core."""
    if n_jobs == -1:
        return os.cpu_count() or 1
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError("n_jobs", "must be a positive integer or -1 (all cores)", n_jobs)
    return n_jobs


def choose_executor(study: Study, jobs: int) -> Executor:
    """Inline for one job; worker processes when the storage can be shared (SQL), else threads."""
    if jobs == 1:
        return InlineExecutor()
    from zoomtune.storage.sql import SQLStorage

    if isinstance(study.storage, SQLStorage) and "fork" in mp.get_all_start_methods():
        return ProcessExecutor(jobs)
    return ThreadExecutor(jobs)


EXECUTOR_NAMES = ("local", "dask", "ray")


def make_executor(study: Study, jobs: int, executor: str | Executor | None = None) -> Executor:
    """The executor `optimize(executor=...)` names: "local" (or None) picks one with `choose_executor`;
    "dask" and "ray" run trials on a cluster engine (optional extras), `jobs` at a time."""
    if executor is None or executor == "local":
        return choose_executor(study, jobs)
    if isinstance(executor, Executor):
        return executor
    if executor == "dask":
        from zoomtune.executors.dask import DaskExecutor

        return DaskExecutor(jobs)
    if executor == "ray":
        from zoomtune.executors.ray import RayExecutor

        return RayExecutor(jobs)
    raise ConfigError("executor", f"must be one of {', '.join(map(repr, EXECUTOR_NAMES))} or an Executor instance",
                      executor)


def run_study(study: Study, objective: Objective, *, n_trials: int | None, timeout: float | None, n_jobs: int,
              catch: tuple[type[BaseException], ...], callbacks: Sequence[Callback],
              show_progress_bar: bool, executor: str | Executor | None = None) -> None:
    """Run trials under a budget, feeding each result to the progress display and the callbacks."""
    from zoomtune.progress import TrialProgress

    if n_trials is not None and (not isinstance(n_trials, int) or n_trials < 0):
        raise ConfigError("n_trials", "must be a non-negative integer", n_trials)
    if timeout is not None and timeout <= 0:
        raise ConfigError("timeout", "must be a positive number of seconds", timeout)
    executor = make_executor(study, resolve_jobs(n_jobs), executor)
    budget = executor.make_budget(n_trials, timeout)
    with TrialProgress(study.direction, n_trials, budget, enabled=show_progress_bar, timeout=timeout) as progress:
        def on_result(record: TrialRecord) -> None:
            progress.update(record)
            for callback in callbacks:
                callback(study, record)

        executor.run(study, objective, budget, catch, on_result)


__all__ = ["Budget", "Executor", "InlineExecutor", "ProcessExecutor", "ThreadExecutor", "choose_executor",
           "make_executor", "resolve_jobs", "run_study", "run_trial"]
