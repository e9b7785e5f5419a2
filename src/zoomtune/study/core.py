"""The `Study` object: reading its trials, ask / tell, controls (nudge, stop, branch, retry), optimize.

The loops themselves live in `zoomtune.executors`; creating, opening and listing studies in
`zoomtune.study.lifecycle`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoomtune import panda, pareto
from zoomtune.checkpoints import CheckpointStore, default_root, latest_checkpoint
from zoomtune.errors import ConfigError, TrialNotFoundError, TrialStateError, require
from zoomtune.executors import run_study
from zoomtune.executors.base import StudySettings
from zoomtune.heartbeat import Heartbeat
from zoomtune.lineage import LineageNode, lineage
from zoomtune.records import (BranchPayload, BranchReason, ControlAction, ControlPayload, Direction, Event, EventKind,
                              FailureCause, StudyInfo, TrialRecord, TrialState, best_of)
from zoomtune.samplers.base import Sampler
from zoomtune.samplers.random import RandomSampler
from zoomtune.schedulers.base import Scheduler
from zoomtune.space import Space
from zoomtune.storage import Storage
from zoomtune.storage.base import user_attrs_of
from zoomtune.assignments import check_enqueued, check_new_values
from zoomtune.results import coerce_value, coerce_values
from zoomtune.trial import BRANCH_CHECKPOINT_ATTR, Trial

if TYPE_CHECKING:
    import pandas

Objective = Callable[[Trial], Any]
Callback = Callable[["Study", TrialRecord], None]
_FINISHED = (TrialState.COMPLETE, TrialState.STOPPED)
DEFAULT_HEARTBEAT_S = 30.0
#: study attributes zoomtune itself keeps (beside those a study file stores)
HEARTBEAT_ATTR, SAMPLER_SEED_ATTR = "heartbeat_interval", "sampler_seed"


def check_settings(heartbeat_interval: float | None, max_retries: int) -> None:
    require(heartbeat_interval is None or (isinstance(heartbeat_interval, (int, float))
                                           and not isinstance(heartbeat_interval, bool) and heartbeat_interval > 0),
            "Study", "heartbeat_interval", "must be a positive number of seconds or None", heartbeat_interval)
    require(isinstance(max_retries, int) and not isinstance(max_retries, bool) and max_retries >= 0,
            "Study", "max_retries", "must be an integer >= 0", max_retries)


class Study:
    """A named search: its direction, space, sampler and scheduler, and its trials in storage."""

    def __init__(self, info: StudyInfo, storage: Storage, sampler: Sampler | None = None,
                 scheduler: Scheduler | None = None, space: Space | None = None,
                 artifacts: str | os.PathLike[str] | None = None,
                 heartbeat_interval: float | None = DEFAULT_HEARTBEAT_S, max_retries: int = 0) -> None:
        check_settings(heartbeat_interval, max_retries)
        self._info = info
        self.storage = storage
        self.sampler: Sampler = sampler or RandomSampler()
        if scheduler is not None:  # a scheduler watching an objective the study lacks: say so before any trial
            scheduler.check_study(info.directions, info.metric_names)
        self.scheduler = scheduler
        self.space: Space | None = space
        self.artifacts = Path(artifacts) if artifacts is not None else default_root(storage.url)
        self.heartbeat_interval, self.max_retries = heartbeat_interval, max_retries
        self._heartbeat = Heartbeat(storage, heartbeat_interval) if heartbeat_interval else None
        self._last_reap = 0.0

    @property
    def checkpoints(self) -> CheckpointStore:
        """Where this study's trials keep their checkpoints."""
        return CheckpointStore(self.artifacts, self.name)

    def __repr__(self) -> str:
        shown_directions = ", ".join(d.value for d in self.directions)
        return f"Study(name={self.name!r}, direction={shown_directions}, storage={self.storage.url!r})"

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def study_id(self) -> int:
        return self._info.study_id

    @property
    def direction(self) -> Direction:
        """The objective's direction; a multi-objective study has `directions` instead."""
        if self._info.is_multi_objective:
            raise ValueError(f"study {self.name!r} has {len(self.directions)} objectives: use `study.directions` "
                             f"({', '.join(d.value for d in self.directions)})")
        return self._info.direction

    @property
    def directions(self) -> tuple[Direction, ...]:
        """One direction per objective (one for a single-objective study)."""
        return self._info.directions

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The objectives' names as given to `create_study` (empty when none were)."""
        return self._info.metric_names

    @property
    def is_multi_objective(self) -> bool:
        return self._info.is_multi_objective

    @property
    def attrs(self) -> dict[str, Any]:
        """What the study was created with (e.g. the study file's objective, sampler and scheduler, the
        heartbeat interval and the sampler's seed), and its `user_attrs` under "user_attrs"."""
        return dict(self._info.attrs)

    @property
    def user_attrs(self) -> dict[str, Any]:
        """The attributes set with `set_user_attr`, by any process: read from storage at each call."""
        self._info = self.storage.get_study(self.name)
        return user_attrs_of(self._info.attrs)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Keep a JSON-serialisable value with the study (a dataset's version, a note), for every process that
        opens it; anything else is refused here, naming the attribute."""
        self._info = self.storage.set_study_attr(self.study_id, key, value)

    def settings(self) -> StudySettings:
        """What another process needs to open this study over its own connection to the storage."""
        return StudySettings(self.name, self.sampler, self.scheduler, self.space, str(self.artifacts.absolute()),
                             self.heartbeat_interval, self.max_retries, opener=_open_with_settings)

    # -- reading -----------------------------------------------------------------------------
    def get_trials(self, states: Iterable[TrialState] | None = None) -> list[TrialRecord]:
        """Trials in number order, optionally only those in `states`."""
        return self.storage.get_trials(self.study_id, None if states is None else tuple(states))

    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial, in number order."""
        return self.get_trials()

    def finished_trials(self) -> list[TrialRecord]:
        """COMPLETE and STOPPED trials: the history samplers learn from."""
        return self.get_trials(_FINISHED)

    def events(self, kind: EventKind | None = None, trial_number: int | None = None) -> list[Event]:
        """The study's events (nudges, branches, zoom rounds), oldest first; of one kind or trial if asked."""
        return self.storage.get_events(self.study_id, kind, trial_number)

    def add_event(self, event: Event) -> None:
        """Record an event in the study's storage."""
        self.storage.add_event(self.study_id, event)

    def trial(self, number: int) -> TrialRecord:
        """One trial by number; `TrialNotFoundError` names the study and its trial count otherwise."""
        try:
            return self.storage.get_trial(self.study_id, number)
        except TrialNotFoundError:
            count = len(self.trials)
            raise TrialNotFoundError(f"study {self.name!r} has no trial {number} (it has {count} trial"
                                     f"{'' if count == 1 else 's'}, numbered from 0)") from None

    @property
    def best_trial(self) -> TrialRecord:
        """The feasible COMPLETE trial with the best value; ValueError when none has completed, when none of
        those satisfies its constraints, or in a multi-objective study (see `best_trials`)."""
        if self.is_multi_objective:
            raise ValueError(f"study {self.name!r} has {len(self.directions)} objectives, so no single best trial: "
                             f"use `study.best_trials` (the Pareto front)")
        complete = self.get_trials((TrialState.COMPLETE,))
        best = best_of(complete, self.direction)
        if best is None:
            if complete:
                raise ValueError(f"study {self.name!r}: none of its {len(complete)} COMPLETE trials satisfies its "
                                 f"constraints (a constraint is satisfied when its value is <= 0)")
            raise ValueError(f"study {self.name!r} has no COMPLETE trial yet")
        return best

    @property
    def best_trials(self) -> list[TrialRecord]:
        """The COMPLETE trials no other one dominates (the Pareto front), in number order; only feasible trials
        count when any trial has constraints (feasible ones dominate infeasible ones, Deb's rule)."""
        complete = [t for t in self.get_trials((TrialState.COMPLETE,))
                    if t.values is not None and len(t.values) == len(self.directions)]
        if any(t.constraints for t in complete):
            complete = [t for t in complete if t.feasible]
        if not complete:
            return []
        signs = [1.0 if d is Direction.MINIMIZE else -1.0 for d in self.directions]
        points = [[sign * v for sign, v in zip(signs, t.values or (), strict=True)] for t in complete]
        mask = pareto.pareto_front_mask(points)
        return [t for t, keep in zip(complete, mask, strict=True) if keep]

    @property
    def best_value(self) -> float:
        value = self.best_trial.value
        assert value is not None  # a COMPLETE trial has a finite value
        return value

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best_trial.params

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per trial: number, state, value (in a multi-objective study one `values_<name>` column per
        objective instead, named by `metric_names` or numbered), one `params_<name>` column per parameter,
        `constraints_<name>` and `user_attrs_<name>` ones, times."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError("to_dataframe", "needs pandas: pip install 'zoomtune[pandas]'") from None

        names = self._info.objective_names()
        rows = []
        for t in self.trials:
            row: dict[str, Any] = {"number": t.number, "state": t.state.value}
            if self.is_multi_objective:
                row.update({f"values_{name}": t.values[i] if t.values else None for i, name in enumerate(names)})
            else:
                row["value"] = t.value
            row.update({"datetime_start": t.datetime_start, "datetime_complete": t.datetime_complete,
                        "duration": t.duration, "parent": t.parent, "error": t.error})
            row.update({f"params_{k}": v for k, v in t.params.items()})
            row.update({f"constraints_{k}": v for k, v in t.constraints.items()})
            row.update({f"user_attrs_{k}": v for k, v in t.user_attrs.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    # -- ask / tell ----------------------------------------------------------------------------
    def ask(self, number: int | None = None) -> Trial:
        """Start a trial: the enqueued trial `number` when given, else the oldest enqueued one, else
        a new one. Declared parameters are sampled now; others when the objective first suggests them."""
        if self.heartbeat_interval and time.monotonic() - self._last_reap >= self.heartbeat_interval:
            self.reap_stale_trials()
        try:
            record = self.storage.start_trial(self.study_id, number)
        except TrialStateError:
            raise TrialStateError(f"trial {number} of study {self.name!r} is not waiting to run "
                                  f"(it is {self.trial(number).state.value})") from None  # type: ignore[arg-type]
        trial = Trial(self, record)
        self.hold(record.trial_id)
        try:
            trial.sample_space(self.space)
        except BaseException as error:  # a bad enqueued value: the trial must not stay RUNNING
            trial.record_result(TrialState.FAILED, None, f"{type(error).__name__}: {error}", FailureCause.ERROR)
            raise
        return trial

    def tell(self, trial: Trial | int, value: Any = None, state: TrialState | None = None,
             error: str | None = None, cause: FailureCause | None = None) -> TrialRecord:
        """Finish a trial, committed before this returns; its final record.

        With `state=None` the trial is COMPLETE when `value` is a finite number (in a multi-objective study: a
        sequence of one finite number per objective), FAILED otherwise.
        STOPPED keeps `value`, or the last reported value when `value` is None; a trial whose fit a framework
        callback stopped (`Trial.end_stopped`) is STOPPED with `state=None` too. FAILED stores
        `error` and `cause` (default `FailureCause.ERROR`).
        """
        if isinstance(trial, int):
            raise TypeError("tell() needs the Trial object that ask() returned, so nothing pending is lost")
        if state is None and trial.ends_stopped:  # a framework callback stopped the fit: see Trial.end_stopped
            state = TrialState.STOPPED
        if self.is_multi_objective and state in (None, TrialState.COMPLETE, TrialState.STOPPED):
            return self._tell_values(trial, value, state or TrialState.COMPLETE)
        if state is TrialState.STOPPED:
            if value is None and trial.intermediate_values:
                value = trial.intermediate_values[max(trial.intermediate_values)]
            number, why = coerce_value(value) if value is not None else (None, None)
            return trial.record_result(TrialState.STOPPED, number, why)
        if state is TrialState.FAILED:
            return trial.record_result(TrialState.FAILED, None, error or "failed", cause or FailureCause.ERROR)
        if state is None or state is TrialState.COMPLETE:
            number, why = coerce_value(value)
            if why is not None:
                return trial.record_result(TrialState.FAILED, None, why, FailureCause.BAD_VALUE)
            return trial.record_result(TrialState.COMPLETE, number)
        raise ValueError(f"tell() takes state COMPLETE, STOPPED or FAILED; got {state!r}")

    def _tell_values(self, trial: Trial, value: Any, state: TrialState) -> TrialRecord:
        """Finish a trial of a multi-objective study: `value` must hold one finite number per objective. A STOPPED
        trial without one keeps its last report of every objective (or none)."""
        if state is TrialState.STOPPED and value is None:
            last = max(trial.intermediate_vectors, default=None)
            value = trial.intermediate_vectors[last] if last is not None else None
            if value is None:
                return trial.record_result(TrialState.STOPPED, None)
        values, why = coerce_values(value, len(self.directions))
        if values is None:
            if state is TrialState.STOPPED:
                return trial.record_result(TrialState.STOPPED, None, why)
            return trial.record_result(TrialState.FAILED, None, why, FailureCause.BAD_VALUE)
        return trial.record_result(state, values[0], values=values)

    def fail_trial(self, number: int, error: str, cause: FailureCause, retry: bool = False) -> TrialRecord:
        """Mark trial `number` FAILED with `error` and `cause` unless it has already finished; its record.

        With `retry`, a trial failed here is queued again while `max_retries` allows (see `retry`).
        """
        record = self.trial(number)
        if record.state is not TrialState.RUNNING:
            return record
        self.storage.update_trial(record.trial_id, state=TrialState.FAILED, error=error, cause=cause)
        self.release(record.trial_id)
        if retry:
            self.retry(number)
        return self.trial(number)

    def retry(self, number: int) -> int | None:
        """Queue a failed trial again, from its last checkpoint, while its retries are under
        `max_retries`; the new trial's number, or None when no retry is left."""
        retries = int(self.trial(number).user_attrs.get("retries", 0))
        if retries >= self.max_retries:
            return None
        return self.branch(number, user_attrs={"retries": retries + 1}, reason=BranchReason.RETRY)

    def reap_stale_trials(self) -> list[int]:
        """Mark FAILED the RUNNING trials whose heartbeat is older than three intervals (their worker
        died), re-queue them while `max_retries` allows (resuming from their last checkpoint), and
        return their numbers. `ask` calls this once per interval; `zoomtune status` calls it too."""
        self._last_reap = time.monotonic()
        if not self.heartbeat_interval:
            return []
        silence = 3 * self.heartbeat_interval
        failed = self.storage.fail_stale_trials(
            self.study_id, silence, f"no heartbeat for {silence:g} s: the worker running it died or hung")
        for number in failed:
            self.retry(number)
        return failed

    def hold(self, trial_id: int) -> None:
        """This process vouches for the RUNNING trial: its heartbeat is sent from here."""
        if self._heartbeat is not None:
            self._heartbeat.add(trial_id)

    def release(self, trial_id: int) -> None:
        """This process no longer sends the trial's heartbeat (it finished, or went elsewhere)."""
        if self._heartbeat is not None:
            self._heartbeat.remove(trial_id)

    def lineage(self) -> list[LineageNode]:
        """Branches (by hand, PBT, retries, resumes) and nudges as a forest of trial trees."""
        return lineage(self.trials, self.events())

    def babysit(self, objective: Objective, params: Mapping[str, Any] | None = None) -> TrialRecord:
        """Panda mode: run one trial in the foreground with its learning curve drawn live."""
        return panda.babysit(self, objective, params)

    def _running(self, trial_number: int, what: str) -> TrialRecord:
        record = self.trial(trial_number)
        if record.state is not TrialState.RUNNING:
            raise TrialStateError(f"trial {trial_number} of study {self.name!r} is {record.state.value}; only a "
                                  f"RUNNING trial can be {what}")
        return record

    def nudge(self, trial_number: int, params: Mapping[str, Any]) -> None:
        """Change hyperparameters of a RUNNING trial: it takes them at its next `report()`, after
        which `trial.params` holds them and a NUDGE event records the step, old and new values."""
        record = self._running(trial_number, "nudged")
        if not params:
            raise ConfigError("nudge", "needs at least one name=value")
        check_new_values(record, params)
        self.add_event(Event(ControlPayload(ControlAction.NUDGE, dict(params)), trial_number))

    def stop_trial(self, trial_number: int) -> None:
        """Ask a RUNNING trial to stop: its `should_stop()` is True after its next `report()`."""
        self._running(trial_number, "stopped")
        self.add_event(Event(ControlPayload(ControlAction.STOP), trial_number))

    def branch(self, trial_number: int, step: int | None = None, overrides: Mapping[str, Any] | None = None, *,
               reason: BranchReason = BranchReason.BRANCH, replaces: int | None = None,
               user_attrs: Mapping[str, Any] | None = None) -> int:
        """Queue a new trial with `trial_number`'s parameters changed by `overrides`; when it runs,
        `trial.load_checkpoint()` returns the parent's checkpoint at `step` (or the latest before it;
        none: its latest). A `step` past the parent's last report is refused. Returns the new
        trial's number; its BRANCH event's `from_step` says which checkpoint it starts from."""
        parent = self.trial(trial_number)
        overrides = dict(overrides or {})
        check_new_values(parent, overrides)
        if step is not None:
            last = parent.last_step
            require(isinstance(step, int) and not isinstance(step, bool) and step >= 0, "branch", "step",
                    "must be an integer >= 0", step)
            if last is None or step > last:
                raise ConfigError("step", f"trial {trial_number} of study {self.name!r} "
                                          + ("has no reports" if last is None else f"reported up to step {last}"),
                                  step)
        attrs: dict[str, Any] = {"branch_step": step, **(user_attrs or {})}
        found = latest_checkpoint(self.events(EventKind.CHECKPOINT, trial_number), trial_number, step)
        if found is not None:  # copy it now: the parent may go on and prune it
            attrs.update({BRANCH_CHECKPOINT_ATTR: str(self.checkpoints.snapshot(found[0])),
                          "branch_from_step": found[1]})
        number = self._queue({**parent.params, **overrides}, parent=trial_number, user_attrs=attrs)
        self.add_event(Event(BranchPayload(trial_number, overrides, BranchReason(reason),
                                           found[1] if found is not None else None, replaces),
                             trial_number=number, step=step))
        return number

    def enqueue(self, params: Mapping[str, Any], parent: int | None = None,
                user_attrs: dict[str, Any] | None = None) -> int:
        """Queue a trial with these parameter values (state WAITING); returns its number.

        Each value must be a plain number, string, bool or None (inside the range when the study's
        space declares the parameter); a name that is not a known parameter but is close to one
        (``lerning_rate`` beside ``learning_rate``) is refused as a typo; other new names are new
        parameters (define-by-run objectives may suggest them), and one the objective never asks for
        is named in a warning when the trial ends.
        """
        known = set(self.space or ()) | {name for t in self.finished_trials() for name in t.params}
        for name, value in params.items():
            check_enqueued(name, value, self.space[name] if self.space is not None and name in self.space else None,
                           known)
        return self._queue(params, parent, user_attrs)

    def _queue(self, params: Mapping[str, Any], parent: int | None, user_attrs: Mapping[str, Any] | None) -> int:
        return self.storage.create_trial(self.study_id, TrialState.WAITING, dict(params), parent,
                                         dict(user_attrs) if user_attrs else None).number

    # -- the loop --------------------------------------------------------------------------------
    def optimize(self, objective: Objective, n_trials: int | None = None, timeout: float | None = None,
                 n_jobs: int = 1, catch: type[BaseException] | Sequence[type[BaseException]] = (Exception,),
                 callbacks: Sequence[Callback] = (), show_progress_bar: bool = False,
                 executor: Any = None, until: Callable[[], bool] | None = None) -> None:
        """Run `objective` on new trials until `n_trials` have run or `timeout` seconds have passed.

        A trial whose objective raises one of `catch` (any Exception by default) or returns
        NaN/inf ends FAILED with the message stored, and the study goes on; other exceptions
        propagate after the trial is marked FAILED. A search-space error always propagates.
        `executor` is "local" (the default), "dask", "ray" or a `zoomtune.executors.Executor`.
        `until`, when given, is asked before each trial starts: once it returns True no more
        start (how processes that run one study together stop at its total).
        """
        def on_result(record: TrialRecord) -> None:
            for callback in callbacks:
                callback(self, record)

        run_study(self, objective, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs,
                  catch=tuple(catch) if isinstance(catch, Sequence) else (catch,), on_result=on_result,
                  show_progress_bar=show_progress_bar, executor=executor, until=until)


def _open_with_settings(storage: Storage, settings: StudySettings) -> Study:
    """The study `settings` describe, over `storage` (how executors reopen a study in a worker)."""
    return Study(storage.get_study(settings.name), storage, settings.sampler, settings.scheduler, settings.space,
                 settings.artifacts, settings.heartbeat_interval, settings.max_retries)


__all__ = ["DEFAULT_HEARTBEAT_S", "HEARTBEAT_ATTR", "SAMPLER_SEED_ATTR", "Callback", "Objective", "Study",
           "check_settings"]
