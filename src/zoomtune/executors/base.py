"""What every executor shares: running one trial safely, the trial budget, the executor interface."""

from __future__ import annotations

import logging
import pickle
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from zoomtune.errors import SearchSpaceError, TrialStopped
from zoomtune.records import FailureCause, TrialRecord, TrialState
from zoomtune.samplers.base import Sampler
from zoomtune.schedulers.base import Scheduler
from zoomtune.space import Space
from zoomtune.storage.base import Storage
from zoomtune.trial import Trial, TrialHost

logger = logging.getLogger("zoomtune")

ResultHook = Callable[[TrialRecord], None]
Objective = Callable[[Trial], Any]


@dataclass(frozen=True)
class StudySettings:
    """What opening a study in another process takes besides a connection to its storage.

    `opener(storage, settings)` builds the study there (the study layer passes its own function,
    so executors never import it).
    """

    name: str
    sampler: Sampler
    scheduler: Scheduler | None
    space: Space | None
    artifacts: str
    heartbeat_interval: float | None
    max_retries: int
    opener: Callable[[Storage, StudySettings], StudyRunner]

    def open(self, storage: Storage) -> StudyRunner:
        """The study, over `storage`."""
        return self.opener(storage, self)


class StudyRunner(TrialHost, Protocol):
    """What executors need from a study: ask and tell, trial records, failure and heartbeat
    bookkeeping, and its settings to reopen it in other processes. `zoomtune.Study` provides it."""

    def ask(self, number: int | None = None) -> Trial:
        """Start the next trial (or the queued trial `number`)."""

    def tell(self, trial: Trial, value: Any = None, state: TrialState | None = None, error: str | None = None,
             cause: FailureCause | None = None) -> TrialRecord:
        """Finish a trial; its final record."""

    def trial(self, number: int) -> TrialRecord:
        """One trial by number."""

    def fail_trial(self, number: int, error: str, cause: FailureCause, retry: bool = False) -> TrialRecord:
        """Mark a trial FAILED unless it already finished (re-queued while retries allow, with `retry`)."""

    def enqueue(self, params: Mapping[str, Any], parent: int | None = None,
                user_attrs: dict[str, Any] | None = None) -> int:
        """Queue a trial with fixed values; its number."""

    def hold(self, trial_id: int) -> None:
        """This process sends the trial's heartbeat."""

    def settings(self) -> StudySettings:
        """How to open this study elsewhere."""

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The objectives' names (empty when none were given), for the progress display."""


def describe(error: BaseException) -> str:
    """A one-line message for a failed trial: the exception type and text."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def cause_of(error: BaseException) -> FailureCause:
    """Why a trial whose objective raised `error` failed."""
    return FailureCause.INTERRUPTED if isinstance(error, KeyboardInterrupt) else FailureCause.ERROR


def sendable(error: BaseException) -> BaseException:
    """The error itself if it survives pickling (to cross a process boundary), else a RuntimeError
    carrying its message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(describe(error))


def run_trial(study: StudyRunner, objective: Objective, catch: tuple[type[BaseException], ...]) -> TrialRecord:
    """Ask, evaluate, tell. The trial never stays RUNNING: whatever happens it is told.

    Exceptions in `catch` end the trial FAILED and return its record; a search-space error
    (a bug in the objective), KeyboardInterrupt and exceptions outside `catch` are re-raised
    after the trial is marked FAILED.
    """
    return evaluate(study, study.ask(), objective, catch)


def evaluate(study: StudyRunner, trial: Trial, objective: Objective,
             catch: tuple[type[BaseException], ...]) -> TrialRecord:
    """Run `objective` on an asked trial and tell the study how it ended (see `run_trial`).

    Remote executors call this in another process, on a trial asked here and reloaded there.
    """
    try:
        result: Any = objective(trial)
    except TrialStopped:
        return study.tell(trial, state=TrialState.STOPPED)
    except BaseException as error:
        record = study.tell(trial, state=TrialState.FAILED, error=describe(error), cause=cause_of(error))
        if isinstance(error, SearchSpaceError) or not isinstance(error, catch):
            raise
        logger.warning("trial %d failed: %s", record.number, record.error)
        return record
    record = study.tell(trial, result)
    if record.state is TrialState.FAILED:
        logger.warning("trial %d failed: %s", record.number, record.error)
    return record


class _Cell:
    """A plain value holder with the `.value` interface of multiprocessing.Value."""

    def __init__(self, value: int) -> None:
        self.value = value


class Budget:
    """How many trials may still start, shared by all workers of one `optimize` call.

    With a multiprocessing `context`, its counters live in shared memory so that forked
    worker processes draw from the same budget. `until`, when given, is asked before each trial
    (in the worker that would start it): once it returns True no more trials start. It is how
    processes that do not share a budget stop at a total they share through the storage.
    """

    def __init__(self, n_trials: int | None, timeout: float | None, context: Any = None,
                 until: Callable[[], bool] | None = None) -> None:
        self.n_trials, self.deadline = n_trials, (time.monotonic() + timeout if timeout is not None else None)
        self.until = until
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
        """Claim one trial slot; False when the count is reached, time is up, the run was stopped, or
        `until` says so."""
        if self.until is not None and self.until():  # outside the lock: it may read the storage
            return False
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

    def make_budget(self, n_trials: int | None, timeout: float | None,
                    until: Callable[[], bool] | None = None) -> Budget:
        """The budget this executor's workers can share (threads share a plain one)."""
        return Budget(n_trials, timeout, until=until)

    @abstractmethod
    def run(self, study: StudyRunner, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            on_result: ResultHook) -> None:
        """Run trials while `budget.take()` allows, calling `on_result` with each finished record."""


__all__ = ["Budget", "Executor", "Objective", "ResultHook", "StudyRunner", "StudySettings", "cause_of", "describe",
           "evaluate", "run_trial", "sendable"]
