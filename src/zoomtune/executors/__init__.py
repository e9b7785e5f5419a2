"""Executors: where trial code runs. `run_study` is the loop behind `Study.optimize`."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from zoomtune.errors import ConfigError, Interrupted
from zoomtune.executors.base import Budget, Executor, Objective, ResultHook, StudyRunner, StudySettings, run_trial
from zoomtune.executors.inline import InlineExecutor
from zoomtune.executors.processes import ProcessExecutor
from zoomtune.executors.threads import ThreadExecutor
from zoomtune.progress import TrialProgress
from zoomtune.records import TrialRecord


def resolve_jobs(n_jobs: int) -> int:
    """`n_jobs` as a worker count: -1 means one per CPU core."""
    if n_jobs == -1:
        return os.cpu_count() or 1
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs < 1:
        raise ConfigError("n_jobs", "must be a positive integer or -1 (all cores)", n_jobs)
    return n_jobs


def choose_executor(study: StudyRunner, jobs: int) -> Executor:
    """Inline for one job; worker processes when the storage can be shared (SQL), else threads."""
    if jobs == 1:
        return InlineExecutor()
    from zoomtune.storage.sql import SQLStorage  # SQLAlchemy loads on first use

    if isinstance(study.storage, SQLStorage) and "fork" in mp.get_all_start_methods():
        return ProcessExecutor(jobs)
    return ThreadExecutor(jobs)


EXECUTOR_NAMES = ("local", "dask", "ray")


def make_executor(study: StudyRunner, jobs: int, executor: str | Executor | None = None) -> Executor:
    """The executor `optimize(executor=...)` names: "local" (or None) picks one with `choose_executor`;
    "dask" and "ray" run trials on a cluster engine (optional extras), `jobs` at a time."""
    if executor is None or executor == "local":
        return choose_executor(study, jobs)
    if isinstance(executor, Executor):
        return executor
    if executor == "dask":
        from zoomtune.executors.dask import DaskExecutor  # the engines load only when asked for

        return DaskExecutor(jobs)
    if executor == "ray":
        from zoomtune.executors.ray import RayExecutor

        return RayExecutor(jobs)
    raise ConfigError("executor", f"must be one of {', '.join(map(repr, EXECUTOR_NAMES))} or an Executor instance",
                      executor)


def run_study(study: StudyRunner, objective: Objective, *, n_trials: int | None, timeout: float | None, n_jobs: int,
              catch: tuple[type[BaseException], ...], on_result: ResultHook, show_progress_bar: bool,
              executor: str | Executor | None = None, until: Callable[[], bool] | None = None) -> None:
    """Run trials under a budget, feeding each result to the progress display and to `on_result`;
    no trial starts once `until()` is True (see `Budget`)."""
    if n_trials is not None and (not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 0):
        raise ConfigError("n_trials", "must be a non-negative integer", n_trials)
    if timeout is not None and (not isinstance(timeout, (int, float)) or not timeout > 0):
        raise ConfigError("timeout", "must be a positive number of seconds", timeout)
    chosen = make_executor(study, resolve_jobs(n_jobs), executor)
    budget = chosen.make_budget(n_trials, timeout, until)
    with TrialProgress(study.directions, n_trials, lambda: budget.started, enabled=show_progress_bar,
                       timeout=timeout, names=study.metric_names) as progress, sigterm_interrupts():
        def on_each(record: TrialRecord) -> None:
            progress.update(record)
            on_result(record)

        chosen.run(study, objective, budget, catch, on_each)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While a run lasts, SIGTERM stops it as Ctrl-C does (raising `Interrupted` in the main thread),
    so its workers are stopped and its running trials end FAILED instead of staying RUNNING. A
    handler the program installed itself is left alone."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


__all__ = ["Budget", "Executor", "InlineExecutor", "ProcessExecutor", "StudyRunner", "StudySettings",
           "ThreadExecutor", "choose_executor", "make_executor", "resolve_jobs", "run_study", "run_trial",
           "sigterm_interrupts"]
