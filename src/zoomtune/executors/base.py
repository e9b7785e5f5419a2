"""What every executor shares: running one trial safely, the trial budget, the executor interface."""

from __future__ import annotations

import logging
import pickle
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zoomtune.errors import SearchSpaceError, TrialStopped
from zoomtune.records import TrialRecord, TrialState

if TYPE_CHECKING:
    from zoomtune.study import Objective, Study
    from zoomtune.trial import Trial

logger = logging.getLogger("zoomtune")

ResultHook = Callable[[TrialRecord], None]


def describe(error: BaseException) -> str:
    """A one-line message for a failed trial: the exception type and text."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def sendable(error: BaseException) -> BaseException:
    """The error itself if it survives pickling (to cross a process boundary), else a RuntimeError
    carrying its message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(describe(error))


def run_trial(study: Study, objective: Objective, catch: tuple[type[BaseException], ...]) -> TrialRecord:
    """Ask, evaluate, tell. The trial never stays RUNNING: whatever happens it is told.

    Exceptions in `catch` end the trial FAILED and return its record; a search-space error
    (a bug in the objective), KeyboardInterrupt and exceptions outside `catch` are re-raised
    after the trial is marked FAILED.
    """
    return evaluate(study, study.ask(), objective, catch)


def evaluate(study: Study, trial: Trial, objective: Objective,
             catch: tuple[type[BaseException], ...]) -> TrialRecord:
    """Run `objective` on an asked trial and tell the study how it ended (see `run_trial`).

    Remote executors call this in another process, on a trial asked here and reloaded there.
    """
    try:
        result: Any = objective(trial)
    except TrialStopped:
        return study.tell(trial, state=TrialState.STOPPED)
    except BaseException as error:
        record = study.tell(trial, state=TrialState.FAILED, error=describe(error))
        if isinstance(error, SearchSpaceError) or not isinstance(error, catch):
            raise
        logger.warning("trial %d failed: %s", record.number, record.error)
        return record
    record = study.tell(trial, result)
    if record.state is TrialState.FAILED:
        logger.warning("trial %d failed: %s", record.number, record.error)
    return record


def fail_if_running(study: Study, number: int, error: str, retry: bool = False) -> TrialRecord:
    """Mark trial `number` FAILED with `error` unless it has already finished; its record either way.

    With `retry`, a trial failed here is queued again while the study's `max_retries` allows, as
    the study does for a trial whose heartbeat stopped (it resumes from its last checkpoint).
    """
    record = study.trial(number)
    if record.state is not TrialState.RUNNING:
        return record
    study.storage.update_trial(record.trial_id, state=TrialState.FAILED, error=error)
    record = study.trial(number)
    retries = int(record.user_attrs.get("retries", 0))
    if retry and retries < getattr(study, "max_retries", 0):
        study.branch(number, user_attrs={"retries": retries + 1}, reason="retry")
    return record


class _Cell:
    """A plain value holder with the `.value` interface of multiprocessing.Value."""

    def __init__(self, value: int) -> None:
        self.value = value


class Budget:
    """How many trials may still start, shared by all workers of one `optimize` call.

    With a multiprocessing `context`, its counters live in shared memory so that forked
    worker processes draw from the same budget.
    """

    def __init__(self, n_trials: int | None, timeout: float | None, context: Any = None) -> None:
        self.n_trials, self.deadline = n_trials, (time.monotonic() + timeout if timeout is not None else None)
        if context is None:
            self._started, self._stopped, self._lock = _Cell(0), _Cell(0), threading.Lock()
        else:
            self._started = context.Value("q", 0, lock=False)
            self._stopped = context.Value("b", 0, lock=False)
            self._lock = context.Lock()

    @property
    def started(self) -> int:
        return int(self._started.value)

    def take(self) -> bool:
        """Claim one trial slot; False when the count is reached, time is up, or the run was stopped."""
        with self._lock:
            if self._stopped.value or (self.n_trials is not None and self._started.value >= self.n_trials):
                return False
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return False
            self._started.value += 1
            return True

    def stop(self) -> None:
        """Start no more trials (after an error in one worker)."""
        with self._lock:
            self._stopped.value = 1


class Executor(ABC):
    """Where trials run. `run` returns when the budget is spent."""

    def make_budget(self, n_trials: int | None, timeout: float | None) -> Budget:
        """The budget this executor's workers can share (threads share a plain one)."""
        return Budget(n_trials, timeout)

    @abstractmethod
    def run(self, study: Study, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            on_result: ResultHook) -> None:
        """Run trials while `budget.take()` allows, calling `on_result` with each finished record."""


__all__ = ["Budget", "Executor", "ResultHook", "describe", "evaluate", "fail_if_running", "run_trial", "sendable"]
