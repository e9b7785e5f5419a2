"""Optuna's study API over a zoomtune study: `create_study`, `load_study`, `delete_study`,
`get_all_study_names` and the `Study` object (optimize, ask / tell, enqueue, best trials, the data frame).

`Study.optimize` keeps Optuna's semantics: `catch=()` re-raises an objective's exception (after marking the
trial FAIL), `n_jobs` runs trials in threads of this process, callbacks get ``(study, frozen_trial)``, and a
`GridSampler`'s study stops when the grid is done. Without a sampler a study uses TPE and without a pruner
`MedianPruner()`, as Optuna does. The zoomtune study underneath is `study.zoomtune`.
"""

from __future__ import annotations

import enum
import gc
import threading
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from zoomtune.compat.optuna.dataframe import DEFAULT_ATTRS, trials_dataframe
from zoomtune.compat.optuna.distributions import BaseDistribution
from zoomtune.compat.optuna.exceptions import UnsupportedError
from zoomtune.compat.optuna.pruners import BasePruner, MedianPruner, scheduler_of
from zoomtune.compat.optuna.samplers import BaseSampler, GridSampler, TPESampler
from zoomtune.compat.optuna.trial import FrozenTrial, Trial, TrialState
from zoomtune.errors import StudyNotFoundError
from zoomtune.executors import ThreadExecutor, resolve_jobs
from zoomtune.records import Direction, TrialRecord
from zoomtune.records import TrialState as ZtState
from zoomtune.samplers import Sampler
from zoomtune.schedulers import Scheduler
from zoomtune.storage import Storage, get_storage
from zoomtune.study import SAMPLER_SEED_ATTR
from zoomtune.study import Study as ZtStudy
from zoomtune.study import create_study as zt_create_study
from zoomtune.study import delete_study as zt_delete_study
from zoomtune.study import list_studies
from zoomtune.study import load_study as zt_load_study
from zoomtune.trial import Trial as ZtTrial

if TYPE_CHECKING:
    import pandas

ObjectiveFunc = Callable[[Trial], Any]
StudyCallback = Callable[["Study", FrozenTrial], None]
SamplerArg = BaseSampler | Sampler | None
PrunerArg = BasePruner | Scheduler | None
StorageArg = str | Storage | None


class StudyDirection(enum.IntEnum):
    """Optuna's directions, with Optuna's numbers."""

    NOT_SET = 0
    MINIMIZE = 1
    MAXIMIZE = 2

    @classmethod
    def of(cls, direction: Direction) -> StudyDirection:
        return cls.MINIMIZE if direction is Direction.MINIMIZE else cls.MAXIMIZE


def _direction(direction: str | StudyDirection | Direction) -> str | Direction:
    """Optuna's `StudyDirection` as zoomtune's; a string goes as it is (zoomtune's check names a bad one)."""
    if not isinstance(direction, StudyDirection):
        return direction
    if direction is StudyDirection.NOT_SET:
        raise ValueError("direction: StudyDirection.NOT_SET is not a direction; give MINIMIZE or MAXIMIZE")
    return Direction.MINIMIZE if direction is StudyDirection.MINIMIZE else Direction.MAXIMIZE


class Study:
    """An Optuna-style handle on a zoomtune study (`zoomtune`)."""

    def __init__(self, study: ZtStudy, sampler: BaseSampler | Sampler, pruner: BasePruner | Scheduler) -> None:
        self.zoomtune = study
        self.sampler, self.pruner = sampler, pruner
        self._asked: dict[int, ZtTrial] = {}  # ask()ed here and not told yet: what tell(number) finds
        self._lock = threading.Lock()
        self._stop_requested = False

    def __repr__(self) -> str:
        return f"Study(study_name={self.study_name!r}, zoomtune={self.zoomtune!r})"

    # -- what the study is ------------------------------------------------------------------
    @property
    def study_name(self) -> str:
        return self.zoomtune.name

    @property
    def direction(self) -> StudyDirection:
        """The objective's direction; a study of several objectives has `directions`."""
        if self.zoomtune.is_multi_objective:
            raise RuntimeError(f"study {self.study_name!r} has several objectives: use `study.directions`")
        return StudyDirection.of(self.zoomtune.direction)

    @property
    def directions(self) -> list[StudyDirection]:
        return [StudyDirection.of(d) for d in self.zoomtune.directions]

    @property
    def metric_names(self) -> list[str] | None:
        return list(self.zoomtune.metric_names) or None

    @property
    def user_attrs(self) -> dict[str, Any]:
        """What `set_user_attr` set, in any process that opened the study (a copy)."""
        return self.zoomtune.user_attrs

    @property
    def system_attrs(self) -> dict[str, Any]:
        return {}

    def set_user_attr(self, key: str, value: Any) -> None:
        """Keep a JSON-serialisable value with the study."""
        self.zoomtune.set_user_attr(key, value)

    def set_metric_names(self, metric_names: list[str]) -> None:
        """Refused: zoomtune names objectives when a study is created."""
        raise UnsupportedError("Study.set_metric_names", "create the study with zoomtune.create_study(..., "
                                                         "metric_names=[...])")

    # -- trials -------------------------------------------------------------------------------
    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        """Every trial in number order, or those in `states` (Optuna's `TrialState`s). Always copies."""
        wanted = None if states is None else [s.to_zoomtune() for s in TrialState if s in states]
        return [FrozenTrial.from_record(r) for r in self.zoomtune.get_trials(wanted)]

    @property
    def best_trial(self) -> FrozenTrial:
        return FrozenTrial.from_record(self.zoomtune.best_trial)

    @property
    def best_trials(self) -> list[FrozenTrial]:
        return [FrozenTrial.from_record(r) for r in self.zoomtune.best_trials]

    @property
    def best_value(self) -> float:
        return self.zoomtune.best_value

    @property
    def best_params(self) -> dict[str, Any]:
        return self.zoomtune.best_params

    def trials_dataframe(self, attrs: tuple[str, ...] = DEFAULT_ATTRS, multi_index: bool = False) -> pandas.DataFrame:
        """One row per trial with Optuna's columns (number, value, datetime_start, datetime_complete,
        duration, params_<name>, user_attrs_<name>, state); see `zoomtune.compat.optuna.dataframe`."""
        return trials_dataframe(self.trials, len(self.zoomtune.directions), attrs, multi_index, self.metric_names)

    # -- ask / tell ------------------------------------------------------------------------------
    def ask(self, fixed_distributions: Mapping[str, BaseDistribution] | None = None) -> Trial:
        """Start a trial (the oldest enqueued one first); `fixed_distributions` are suggested at once."""
        live = self.zoomtune.ask()
        trial = Trial(self, live)
        with self._lock:
            self._asked[live.number] = live
        for name, dist in (fixed_distributions or {}).items():
            trial.suggest(name, dist)
        return trial

    def tell(self, trial: Trial | int, values: float | Sequence[float] | None = None,
             state: TrialState | None = None, skip_if_finished: bool = False) -> FrozenTrial:
        """Finish a trial asked here (the `Trial` or its number): COMPLETE with `values`, or `state` PRUNED
        (keeping its last report) or FAIL."""
        number = trial.number if isinstance(trial, Trial) else trial
        with self._lock:
            live = trial.zoomtune if isinstance(trial, Trial) else self._asked.get(number)
        if live is None or live.state.is_finished:
            stored = self.zoomtune.trial(number)
            if stored.state.is_finished:
                if skip_if_finished:
                    return FrozenTrial.from_record(stored)
                raise ValueError(f"Cannot tell a {TrialState.of(stored.state).name} trial (trial {number} has "
                                 f"finished; skip_if_finished=True ignores it)")
            raise UnsupportedError(f"tell({number}) of a trial this Study object did not ask",
                                   "tell the Trial that ask() returned, in the process that asked for it")
        if state in (TrialState.RUNNING, TrialState.WAITING):
            raise ValueError(f"tell() takes state COMPLETE, PRUNED or FAIL; got {state!r}")
        wanted = None if state is None or state is TrialState.COMPLETE else state.to_zoomtune()
        self.zoomtune.tell(live, values, state=wanted, error="told FAIL" if state is TrialState.FAIL else None)
        with self._lock:
            self._asked.pop(number, None)
        return FrozenTrial.from_record(self.zoomtune.trial(number))

    def enqueue_trial(self, params: dict[str, Any], user_attrs: dict[str, Any] | None = None,
                      skip_if_exists: bool = False) -> None:
        """Run these parameter values next (parameters left out are sampled)."""
        if skip_if_exists and any(t.params == params for t in self.zoomtune.trials):
            return
        self.zoomtune.enqueue(params, user_attrs=dict(user_attrs) if user_attrs else None)

    def add_trial(self, trial: FrozenTrial) -> None:
        """Refused: zoomtune's trials are run, not written in by hand."""
        raise UnsupportedError("Study.add_trial", "enqueue_trial(params) and run it, or copy Optuna studies with "
                                                  "zoomtune.compat.optuna_import.import_optuna")

    # -- the loop ----------------------------------------------------------------------------------
    def optimize(self, func: ObjectiveFunc, n_trials: int | None = None, timeout: float | None = None,
                 n_jobs: int = 1, catch: Iterable[type[Exception]] | type[Exception] = (),
                 callbacks: Iterable[StudyCallback] | None = None, gc_after_trial: bool = False,
                 show_progress_bar: bool = False) -> None:
        """Run `func` on new trials until `n_trials` have run, `timeout` seconds have passed, `stop()` was
        called or a grid is done. An exception in `catch` fails the trial and the study goes on; any other
        fails it and is raised (Optuna's default, `catch=()`). `n_jobs` > 1 (-1: one per core) runs trials
        in that many threads, as Optuna does."""
        caught = (catch,) if isinstance(catch, type) else tuple(catch)
        hooks = list(callbacks or ())
        jobs = resolve_jobs(n_jobs)

        def objective(live: ZtTrial) -> Any:
            try:
                return func(Trial(self, live))
            finally:
                if gc_after_trial:
                    gc.collect()

        def notify(_: ZtStudy, record: TrialRecord) -> None:
            if hooks:
                frozen = FrozenTrial.from_record(self.zoomtune.trial(record.number))  # as stored: with its end time
                for hook in hooks:
                    hook(self, frozen)

        self._stop_requested = False
        self.zoomtune.optimize(objective, n_trials, timeout, n_jobs=jobs, catch=caught, callbacks=[notify],
                               show_progress_bar=show_progress_bar,
                               executor=ThreadExecutor(jobs) if jobs > 1 else None, until=self._done)

    def stop(self) -> None:
        """Start no more trials in the running `optimize` (those running finish); from a callback or objective."""
        self._stop_requested = True

    def _done(self) -> bool:
        """Whether `optimize` starts no more trials: `stop()` was called, or a grid sampler's grid is done."""
        if self._stop_requested:
            return True
        if isinstance(self.sampler, GridSampler):
            started = self.zoomtune.get_trials([s for s in ZtState if s is not ZtState.WAITING])
            return len(started) >= self.sampler.size
        return False


def _storage(storage: Any) -> StorageArg:
    if storage is None or isinstance(storage, (str, Storage)):
        return storage
    raise UnsupportedError(f"storage={type(storage).__name__}(...)",
                           "pass a URL such as 'sqlite:///study.db' (zoomtune keeps its own tables there) or a "
                           "zoomtune Storage")


def _chosen(sampler: Any) -> BaseSampler | Sampler:
    """`sampler` checked, TPE when None (Optuna's default)."""
    if sampler is None:
        return TPESampler()
    if isinstance(sampler, (BaseSampler, Sampler)):
        return sampler
    raise UnsupportedError(f"sampler={type(sampler).__name__}", "pass one of zoomtune.compat.optuna.samplers "
                                                                "(TPESampler, ...) or a zoomtune sampler")


def _pruner(pruner: PrunerArg) -> BasePruner | Scheduler:
    """`pruner`, or Optuna's default `MedianPruner()` when None."""
    return MedianPruner() if pruner is None else pruner


def _wrap(study: ZtStudy, sampler: BaseSampler | Sampler, pruner: BasePruner | Scheduler) -> Study:
    """The Optuna-style study over `study`, sampling with `sampler`, seeded with the study's stored seed when
    `sampler` was given none (so every process that opens the study samples alike)."""
    if isinstance(sampler, BaseSampler):
        study.sampler = sampler.for_study(study.attrs.get(SAMPLER_SEED_ATTR))
    else:
        study.sampler = sampler
    return Study(study, sampler, pruner)


def create_study(*, storage: StorageArg = None, sampler: SamplerArg = None, pruner: PrunerArg = None,
                 study_name: str | None = None, direction: str | StudyDirection | None = None,
                 load_if_exists: bool = False,
                 directions: Sequence[str | StudyDirection] | None = None) -> Study:
    """A new study (in memory unless `storage` is a URL such as ``sqlite:///study.db``); a generated name when
    `study_name` is None; the existing one of that name with `load_if_exists`."""
    chosen, rule = _chosen(sampler), _pruner(pruner)
    grid = chosen.search_space if isinstance(chosen, BaseSampler) else None
    if load_if_exists and storage is not None and study_name is not None and direction is None and directions is None:
        try:  # as in Optuna, an existing study loads whatever its direction
            return load_study(study_name=study_name, storage=storage, sampler=chosen, pruner=rule)
        except StudyNotFoundError:
            pass
    study = zt_create_study(study_name, direction=None if direction is None else _direction(direction),
                            storage=_storage(storage), sampler=chosen.zoomtune if isinstance(chosen, BaseSampler)
                            else chosen, scheduler=scheduler_of(rule), space=grid,
                            load_if_exists=load_if_exists,
                            directions=None if directions is None else [_direction(d) for d in directions])
    return _wrap(study, chosen, rule)


def load_study(*, study_name: str | None, storage: str | Storage, sampler: SamplerArg = None,
               pruner: PrunerArg = None) -> Study:
    """An existing study; with `study_name=None`, the storage's only study."""
    backend = get_storage(_storage(storage))
    if study_name is None:
        names = [s.name for s in list_studies(backend)]
        if len(names) != 1:
            raise ValueError(f"load_study(study_name=None) needs a storage with exactly one study; "
                             f"{backend.url} has {len(names)}: give study_name")
        study_name = names[0]
    chosen, rule = _chosen(sampler), _pruner(pruner)
    grid = chosen.search_space if isinstance(chosen, BaseSampler) else None
    return _wrap(zt_load_study(study_name, backend, scheduler=scheduler_of(rule), space=grid), chosen, rule)


def delete_study(*, study_name: str, storage: str | Storage) -> None:
    """Remove a study and its trials."""
    zt_delete_study(study_name, _storage(storage))


def get_all_study_names(storage: str | Storage) -> list[str]:
    """The names of the storage's studies, oldest first."""
    return [s.name for s in list_studies(_storage(storage))]


__all__ = ["ObjectiveFunc", "Study", "StudyCallback", "StudyDirection", "create_study", "delete_study",
           "get_all_study_names", "load_study"]
