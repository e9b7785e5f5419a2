"""What the cluster executors (Dask, Ray) share: the driver loop here, the trial task there.

The driver (this process) asks each trial, stores its sampled parameters, and submits a task
that names the trial by number. The task, in a worker process of the cluster, reopens the study
(once per run and worker), rebuilds the trial, and evaluates it exactly as the local executors do
(`zoomtune.executors.base.evaluate`), so reports, attributes, checkpoints and the result all reach
the storage from the worker. The finished record comes back to the driver for the progress bar
and the callbacks.

Workers reach the study's storage through a `StorageRef`: the SQL URL, which each worker opens
itself, or, for a study that lives in this process (in memory, or an in-memory SQLite database), a
`ServedStorage` connected to a `StorageServer` the driver runs on 127.0.0.1 for the length of the
run. A served study needs every worker on this machine: a local cluster, or one whose scheduler
listens on a loopback address; a cluster elsewhere needs SQL storage that all its workers reach.

At most `n_jobs` tasks are in flight. A task whose worker died (killed, out of memory, node
lost) ends its trial FAILED with "worker lost: ..." (queued again while the study's
`max_retries` allows) and the study goes on; an error that must propagate (a search-space
error, an exception outside `catch`) stops new trials, lets the ones in flight finish, and is
re-raised here, as with the local executors. The driver sends the heartbeats of the trials it
has in flight (queued on the cluster or running), the worker those of the trial it runs.

An engine implements the few methods of `RemoteExecutor` marked abstract.
"""

from __future__ import annotations

import logging
import os
import pickle
import uuid
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from zoomtune.errors import ConfigError
from zoomtune.executors.base import (Budget, Executor, Objective, ResultHook, StudyRunner, StudySettings, describe,
                                     evaluate, sendable)
from zoomtune.records import FailureCause, TrialRecord, TrialState
from zoomtune.storage.base import Storage
from zoomtune.trial import Trial

logger = logging.getLogger("zoomtune")


# -- the worker side ---------------------------------------------------------------------------
StorageRef = str | Storage
"""What workers open: a SQL URL (each worker connects to the database itself), or a picklable
`Storage` that reaches the driver's storage from any process on this machine (a `ServedStorage`)."""


@dataclass
class RemoteJob:
    """Everything a worker needs to run trials of one `optimize` call (pickled once, with cloudpickle)."""

    run_id: str
    storage: StorageRef
    settings: StudySettings
    objective: Objective
    catch: tuple[type[BaseException], ...]


_STORAGES: dict[str, Storage] = {}  # one engine per database URL and worker process
_JOBS: OrderedDict[str, tuple[RemoteJob, StudyRunner]] = OrderedDict()  # the last few runs this worker served
_KEEP_JOBS = 4


def open_storage(ref: StorageRef) -> Storage:
    """The storage `ref` names, in this process: a SQL URL opened once per process, or the storage itself."""
    if not isinstance(ref, str):
        return ref  # unpickled with its job: connects on first use
    storage = _STORAGES.get(ref)
    if storage is None:
        from zoomtune.storage.sql import SQLStorage

        storage = _STORAGES[ref] = SQLStorage(ref)
    return storage


def _job_here(run_id: str, blob: bytes) -> tuple[RemoteJob, StudyRunner]:
    """The run's job and study in this worker process, unpickled and opened on first use."""
    cached = _JOBS.get(run_id)
    if cached is not None:
        _JOBS.move_to_end(run_id)
        return cached
    job: RemoteJob = pickle.loads(blob)
    study = job.settings.open(open_storage(job.storage))
    _JOBS[run_id] = (job, study)
    while len(_JOBS) > _KEEP_JOBS:
        _JOBS.popitem(last=False)
    return job, study


def run_remote(run_id: str, blob: bytes, number: int, inferred: Sequence[str] = ()) -> TrialRecord:
    """The task: evaluate trial `number` (asked by the driver) in this worker; return its record.

    `inferred` names the parameters the driver sampled from an inferred space (the objective may
    redefine their ranges). A trial that is no longer RUNNING (a task the cluster ran again after
    its worker died past the tell) is returned as it stands.
    """
    job, study = _job_here(run_id, blob)
    record = study.trial(number)
    if record.state is not TrialState.RUNNING:
        return record
    trial = Trial(study, record, inferred)
    study.hold(record.trial_id)  # this worker vouches for the trial while it runs
    try:
        return evaluate(study, trial, job.objective, job.catch)
    except BaseException as error:
        portable = sendable(error)
        if portable is error:
            raise
        raise portable from None
    finally:
        study.release(record.trial_id)


# -- the driver side ---------------------------------------------------------------------------
def worker_url(storage: Storage) -> str | None:
    """The storage's SQL URL as other processes can open it (SQLite paths made absolute), or None
    when the storage lives in this process only (in memory, or an in-memory SQLite database)."""
    from zoomtune.storage.sql import SQLStorage

    if not isinstance(storage, SQLStorage):
        return None
    from sqlalchemy.engine import make_url

    url = make_url(storage.url)
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:" or "mode=memory" in str(url):
            return None
        if not database.startswith("file:") and not os.path.isabs(database):
            url = url.set(database=os.path.abspath(database))
    return url.render_as_string(hide_password=False)


def is_loopback(host: str | None) -> bool:
    """Whether `host` (a name or an IP address) is this machine's loopback interface."""
    import ipaddress

    if not host:
        return False
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def missing_engine(engine: str, error: ImportError) -> ConfigError:
    """The error for an executor whose package is not installed."""
    return ConfigError("executor", f"{engine!r} needs the {engine} package ({error}); "
                                   f"install it with: pip install 'zoomtune[{engine}]'", engine)


class RemoteExecutor(Executor):
    """Trials as tasks of a cluster engine; the driver loop is shared, the engine calls are not.

    `n_jobs` is how many trials run at once (None: as many as the cluster has slots).
    """

    engine = "remote"

    def __init__(self, n_jobs: int | None = None) -> None:
        if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs < 1):
            raise ConfigError("n_jobs", "must be a positive integer", n_jobs)
        self.n_jobs = n_jobs

    # -- what an engine implements -------------------------------------------------------------
    @abstractmethod
    def _open(self) -> None:
        """Start or connect to the engine (raise `missing_engine(...)` when it is not installed)."""

    @abstractmethod
    def _close(self) -> None:
        """Shut down what `_open` started; disconnect from the rest."""

    @abstractmethod
    def _slots(self) -> int:
        """How many trials can run at once when `n_jobs` is None."""

    @abstractmethod
    def _share(self, blob: bytes) -> Any:
        """The pickled job as the engine passes it to tasks (a handle, or the bytes themselves)."""

    @abstractmethod
    def _submit(self, run_id: str, shared: Any, number: int, inferred: list[str]) -> Any:
        """Submit `run_remote(run_id, blob, number, inferred)`; a future."""

    @abstractmethod
    def _wait(self, futures: list[Any], timeout: float) -> list[Any]:
        """The futures among `futures` that are done (possibly none after `timeout` seconds)."""

    @abstractmethod
    def _result(self, future: Any) -> TrialRecord:
        """The task's record, or raise its error (see `_unwrap`)."""

    def _unwrap(self, error: BaseException) -> BaseException:
        """The objective's own error when the engine wraps it."""
        return error

    @abstractmethod
    def _lost(self, error: BaseException) -> bool:
        """Whether `error` says the task's worker died rather than the objective raised."""

    def _why_lost(self, error: BaseException) -> str:
        """The error text of a trial whose worker was lost (after "worker lost: ")."""
        return describe(error)

    @abstractmethod
    def _cancel(self, futures: list[Any]) -> None:
        """Cancel tasks (after an interrupt); best effort."""

    def _where(self) -> str:
        """The cluster, in the words of an error message."""
        return f"the {self.engine!r} executor's cluster"

    def _workers_here(self) -> bool | None:
        """Whether every worker runs on this machine (so it reaches a server on 127.0.0.1): True,
        False, or None when only `_open` can tell (asked again after it, when None means no)."""
        return None

    # -- the storage the workers open ----------------------------------------------------------
    @contextmanager
    def _worker_storage(self, study: StudyRunner) -> Iterator[StorageRef]:
        """The study's SQL URL; or, for a study that lives in this process, a `ServedStorage` of a
        server that runs as long as the block (refused at once when the workers cannot reach it)."""
        url = worker_url(study.storage)
        if url is not None:
            yield url
            return
        self._require_here(study, self._workers_here())
        from zoomtune.storage.served import StorageServer

        with StorageServer(study.storage) as server:
            yield server.storage

    def _require_here(self, study: StudyRunner, here: bool | None) -> None:
        if here is False:
            raise ConfigError("storage", f"the study lives in this process and {self._where()} may run trials on "
                                         "other machines, which cannot reach it; use SQL storage that every worker "
                                         "reaches (e.g. storage='postgresql://host/db', or 'sqlite:///path.db' on a "
                                         "shared file system)", study.storage.url)

    # -- the driver loop -------------------------------------------------------------------------
    def run(self, study: StudyRunner, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            on_result: ResultHook) -> None:
        with self._worker_storage(study) as storage:
            self._drive(study, storage, objective, budget, catch, on_result)

    def _drive(self, study: StudyRunner, storage: StorageRef, objective: Objective, budget: Budget,
               catch: tuple[type[BaseException], ...], on_result: ResultHook) -> None:
        run_id = uuid.uuid4().hex
        job = RemoteJob(run_id, storage, study.settings(), objective, catch)
        blob = self._pickle(job)
        self._open()
        pending: dict[Any, tuple[int, int]] = {}  # future -> (trial number, id); this process beats them
        error: BaseException | None = None  # the first error to re-raise once the tasks in flight end
        try:
            if not isinstance(storage, str):  # served: the engine now knows where its workers are
                self._require_here(study, bool(self._workers_here()))
            shared = self._share(blob)
            slots = self.n_jobs or max(1, self._slots())
            while True:
                while error is None and len(pending) < slots and budget.take():
                    try:
                        trial = study.ask()
                    except Exception as failure:  # noqa: BLE001 - re-raised below
                        budget.stop()
                        error = failure
                        break
                    trial_id = trial.trial_id
                    try:
                        trial.flush()
                        future = self._submit(run_id, shared, trial.number, sorted(trial.inferred))
                    except Exception as failure:  # noqa: BLE001 - re-raised below
                        budget.stop()
                        error = failure
                        study.fail_trial(trial.number, describe(failure), FailureCause.ERROR)
                        continue
                    pending[future] = (trial.number, trial_id)
                if not pending:
                    break
                for future in self._wait(list(pending), timeout=1.0):
                    number, trial_id = pending.pop(future)
                    try:
                        record = self._outcome(study, future, number)
                        if record is not None:
                            on_result(record)
                    except Exception as failure:  # noqa: BLE001 - the objective's, or a callback's
                        budget.stop()
                        error = error or failure
                    finally:
                        study.release(trial_id)
        except BaseException:
            budget.stop()
            self._cancel(list(pending))
            raise
        finally:
            try:
                self._close()
            finally:
                for number, trial_id in pending.values():  # only after an interrupt: do not leave them RUNNING
                    study.release(trial_id)
                    try:
                        study.fail_trial(number, "interrupted: the run was stopped", FailureCause.INTERRUPTED)
                    except Exception:
                        logger.exception("could not mark trial %d FAILED", number)
        if error is not None:
            raise error

    def _outcome(self, study: StudyRunner, future: Any, number: int) -> TrialRecord | None:
        """The record of a finished task; a lost worker's trial is marked FAILED; other errors raise."""
        try:
            return self._result(future)
        except Exception as raised:  # noqa: BLE001 - sorted out below
            failure = self._unwrap(raised)
        if self._lost(failure):
            record = study.fail_trial(number, f"worker lost: {self._why_lost(failure)}", FailureCause.WORKER_LOST,
                                      retry=True)
            logger.warning("trial %d failed: %s", number, record.error)
            return record
        study.fail_trial(number, describe(failure), FailureCause.ERROR)  # done by the task, unless it never ran
        raise failure

    @staticmethod
    def _pickle(job: RemoteJob) -> bytes:
        import cloudpickle  # both engines depend on it; it pickles closures and lambdas by value

        try:
            blob: bytes = cloudpickle.dumps(job)
            return blob
        except Exception as error:  # noqa: BLE001 - explained
            raise ConfigError("objective", "the objective, sampler and scheduler must be picklable to run on a "
                                           f"cluster ({describe(error)})") from None


__all__ = ["RemoteExecutor", "RemoteJob", "StorageRef", "is_loopback", "missing_engine", "open_storage", "run_remote",
           "worker_url"]
