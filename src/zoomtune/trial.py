"""The live trial an objective receives: define-by-run suggestions, reports, early stopping.

>>> import zoomtune as zt
>>> study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=0))
>>> trial = study.ask()
>>> lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
>>> lr == trial.suggest_float("lr", 1e-4, 1.0, scale="log")   # same name, same value
True
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import replace
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from zoomtune.checkpoints import CheckpointStore, latest_checkpoint
from zoomtune.errors import SearchSpaceError, StorageError, shown
from zoomtune.records import (BranchReason, CheckpointPayload, ControlAction, ControlPayload, Direction, Event,
                              EventKind, FailureCause, NudgePayload, TrialRecord, TrialState)
from zoomtune.results import as_number, first_line
from zoomtune.samplers.base import SampleContext, Sampler
from zoomtune.schedulers.base import Decision, ScheduleContext, Scheduler
from zoomtune.space import Categorical, ChoiceType, Distribution, Float, Int, Space, check_param_name
from zoomtune.storage.base import Storage, StorageFailure


logger = logging.getLogger("zoomtune")


class TrialHost(Protocol):
    """What a live trial needs from its study: the study's settings, its storage and its history.

    `zoomtune.Study` provides it; a trial never touches the study's private state.
    """

    @property
    def name(self) -> str: ...

    @property
    def directions(self) -> tuple[Direction, ...]: ...

    @property
    def metric_names(self) -> tuple[str, ...]: ...

    @property
    def storage(self) -> Storage: ...

    @property
    def sampler(self) -> Sampler: ...

    @property
    def scheduler(self) -> Scheduler | None: ...

    @property
    def space(self) -> Space | None: ...

    @property
    def checkpoints(self) -> CheckpointStore: ...

    def finished_trials(self) -> list[TrialRecord]:
        """COMPLETE and STOPPED trials, what samplers learn from."""

    def get_trials(self, states: Iterable[TrialState] | None = None) -> list[TrialRecord]:
        """Trials in number order, optionally only those in `states`."""

    def events(self, kind: EventKind | None = None, trial_number: int | None = None) -> list[Event]:
        """The study's events, oldest first."""

    def add_event(self, event: Event) -> None:
        """Record an event."""

    def branch(self, trial_number: int, step: int | None = None, overrides: Mapping[str, Any] | None = None, *,
               reason: BranchReason = BranchReason.BRANCH, replaces: int | None = None,
               user_attrs: Mapping[str, Any] | None = None) -> int:
        """Queue a trial starting from `trial_number`'s checkpoint; its number."""

    def release(self, trial_id: int) -> None:
        """This process no longer vouches for the trial (its heartbeat stops)."""


# Objectives suggest the same distributions trial after trial: build and validate each once.
@lru_cache(maxsize=2048)
def _float(low: float, high: float, scale: str, log: bool) -> Float:
    return Float(low, high, scale, log)


@lru_cache(maxsize=2048)
def _int(low: int, high: int, scale: str, log: bool) -> Int:
    return Int(low, high, scale, log)


@lru_cache(maxsize=2048)
def _cached_categorical(choices: Any) -> Categorical:
    return Categorical(choices)


@lru_cache(maxsize=4096)
def _checked_name(name: str) -> str:
    return check_param_name(name)


def _categorical(choices: Any) -> Categorical:
    try:
        return _cached_categorical(choices)
    except TypeError:  # unhashable choices: let validation explain what is wrong with them
        return Categorical(choices)


#: the user attribute of a branched (or retried) trial that holds the checkpoint it starts from
BRANCH_CHECKPOINT_ATTR = "branch_checkpoint"


class Trial:
    """One evaluation of the objective. Created by `Study.ask` or `Study.optimize`, never by hand."""

    def __init__(self, study: TrialHost, record: TrialRecord, inferred: Iterable[str] = ()) -> None:
        self.study = study
        self.number: int = record.number
        self.parent: int | None = record.parent
        self.params: dict[str, Any] = dict(record.params)
        self.distributions: dict[str, Distribution] = dict(record.distributions)
        self.intermediate_values: dict[int, float] = dict(record.intermediate_values)
        self.user_attrs: dict[str, Any] = dict(record.user_attrs)
        self.state: TrialState = record.state
        self.value: float | None = None
        self.values: tuple[float, ...] | None = None  # one per objective once finished (`(value,)` for one)
        self.constraints: dict[str, float] = dict(record.constraints)
        self.intermediate_vectors: dict[int, tuple[float, ...]] = dict(record.intermediate_vectors)
        self._record = record
        self._pending: dict[str, tuple[Distribution, Any]] = {}
        self._pending_attrs: dict[str, Any] = {}
        self._pending_constraints: dict[str, float] = {}
        self._inferred: set[str] = set(inferred)  # sampled up front from an inferred (undeclared) space
        self._asked: set[str] = set()  # parameters the objective suggested (an unasked inferred one is dropped)
        self._controls_seen = 0
        self._stop_requested = False
        self._ends_stopped = False
        self._history: list[TrialRecord] | None = None

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, state={self.state.value}, params={self.params})"

    @property
    def trial_id(self) -> int:
        """The storage's id of this trial (unique across studies)."""
        return self._record.trial_id

    @property
    def inferred(self) -> frozenset[str]:
        """Parameters sampled up front from a space inferred from past trials (the objective may still
        redefine their ranges)."""
        return frozenset(self._inferred)

    def sample_space(self, space: Space | None) -> None:
        """Sample the parameters of `space` not fixed yet, in one joint draw (what `Study.ask` does).

        With `space=None`, a sampler that learns from history gets the space inferred from past
        trials. Fixed (enqueued) values are checked against the space.
        """
        if space is None and self.study.sampler.uses_history:
            space = self.study.sampler.joint_space(self.finished_trials())
            self._inferred = set(space or ())
        if space is None:
            return
        free = Space({name: dist for name, dist in space.items() if name not in self.params})
        point = self.study.sampler.sample(free, self._sample_context()) if len(free) else []
        for (name, dist), u in zip(free.items(), point, strict=True):
            self._set_param(name, dist, dist.from_unit(u))
        for name in space:
            if name not in free:
                self.suggest(name, space[name])  # validates an enqueued value against the space

    # -- suggestions -----------------------------------------------------------------------
    def suggest_float(self, name: str, low: float, high: float, *, scale: str = "linear", log: bool = False) -> float:
        """A float in [low, high], uniform on `scale` ("linear", "log" or "log1m"); `log=True` means "log"."""
        value: float = self._suggest(name, lambda: _float(low, high, scale, log))
        return value

    def suggest_int(self, name: str, low: int, high: int, *, scale: str = "linear", log: bool = False) -> int:
        """An integer in [low, high] (both included), uniform on `scale` ("linear" or "log")."""
        value: int = self._suggest(name, lambda: _int(low, high, scale, log))
        return value

    def suggest_categorical(self, name: str, choices: Sequence[ChoiceType]) -> ChoiceType:
        """One of `choices`."""
        value: ChoiceType = self._suggest(name, lambda: _categorical(tuple(choices) if isinstance(choices, list)
                                                                     else choices))
        return value

    def suggest(self, name: str, distribution: Distribution) -> Any:
        """A value from any distribution (what the `suggest_*` helpers call)."""
        return self._suggest(name, lambda: distribution)

    def _suggest(self, name: str, make: Callable[[], Distribution]) -> Any:
        if name not in self.distributions:
            _checked_name(name)
        self._asked.add(name)
        try:
            dist = make()
        except SearchSpaceError as error:
            raise error.named(name) from None
        known = self.distributions.get(name)
        if known is not None and known is not dist and known != dist:
            if name not in self._inferred:
                raise SearchSpaceError(f"it was already defined as {known!r} in this trial or the study's space",
                                       repr(dist), param=name)
            known = None  # the objective changed an inferred parameter's range: sample it afresh
            self._inferred.discard(name)
            del self.params[name]
        if known is not None:
            return self.params[name]
        if name in self.params:  # fixed by enqueue / branch
            value = self.params[name]
            if isinstance(dist, Int) and isinstance(value, float) and value.is_integer():
                value = int(value)
            if not dist.contains(value):
                raise SearchSpaceError(f"the enqueued value must lie in {dist!r}", repr(value), param=name)
        else:
            value = dist.from_unit(self.study.sampler.sample_one(name, dist, self._sample_context()))
        self._set_param(name, dist, value)
        return value

    def _set_param(self, name: str, dist: Distribution, value: Any) -> None:
        self.params[name] = value
        self.distributions[name] = dist
        self._pending[name] = (dist, value)

    def finished_trials(self) -> list[TrialRecord]:
        """The study's finished trials, read from storage once per trial (what samplers learn from)."""
        if self._history is None:
            self._history = self.study.finished_trials()
        return self._history

    def _sample_context(self) -> SampleContext:
        study = self.study
        return SampleContext(self.number, self._watched, study.space, self.finished_trials, study.events,
                             study.add_event, self._pending_trials, study.directions)

    def _pending_trials(self) -> list[TrialRecord]:
        """The study's other RUNNING trials (what a sampler may treat as pending proposals)."""
        return [t for t in self.study.get_trials((TrialState.RUNNING,)) if t.number != self.number]

    @property
    def _watched(self) -> Direction:
        """The direction of the objective samplers and schedulers look at: the first one."""
        return self.study.directions[0]

    # -- reports and attributes --------------------------------------------------------------
    def report(self, value: float | Sequence[float], step: int | None = None) -> None:
        """Record an intermediate value (e.g. validation accuracy after an epoch), committed at once.

        `step` defaults to the next step after the last one reported. In a multi-objective study `value`
        may be one number per objective; schedulers watch the first objective's (a single number is
        taken as that one).
        """
        self._require_running("report")
        vector: tuple[float, ...] | None = None
        if len(self.study.directions) > 1 and isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            vector = self._reported_vector(value)
            value = vector[0]
        number, why = as_number(value)
        if number is None:
            raise TypeError(f"trial {self.number}: report() needs a number; {why}")
        value = number
        if step is None:
            step = max(self.intermediate_values, default=-1) + 1
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"trial {self.number}: report() step must be an integer >= 0; got {step!r}")
        self.intermediate_values[step] = value
        if vector is not None:
            self.intermediate_vectors[step] = vector
        else:
            self.intermediate_vectors.pop(step, None)
        self._apply_controls(step)
        unasked = {name: self._pending[name] for name in self._unasked() if name in self._pending}
        ready = {name: item for name, item in self._pending.items() if name not in unasked}
        self.study.storage.update_trial(self._record.trial_id, params=ready or None, values={step: value},
                                        user_attrs=self._pending_attrs or None,
                                        vectors={step: vector} if vector is not None else None,
                                        constraints=self._pending_constraints or None)
        self._pending, self._pending_attrs, self._pending_constraints = unasked, {}, {}

    def _reported_vector(self, value: Sequence[Any]) -> tuple[float, ...]:
        """A report of every objective as floats (NaN allowed, as in single reports), or TypeError saying why not."""
        wanted = len(self.study.directions)
        if len(value) != wanted:
            raise TypeError(f"trial {self.number}: report() takes one number or one per objective ({wanted}); "
                            f"got {len(value)} values")
        out = []
        for i, item in enumerate(value):
            number, why = as_number(item)
            if number is None:
                raise TypeError(f"trial {self.number}: report() value {i} must be a number; {why}")
            out.append(number)
        return tuple(out)

    def set_constraint(self, name: str, value: float) -> None:
        """Record a constraint of this trial: satisfied when `value` <= 0 (e.g. ``params - 1e6`` for at most a
        million parameters). Feasible trials beat infeasible ones; `best_trial(s)` are feasible ones only.
        Stored with the next report or the result."""
        self._require_running("set a constraint")
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"trial {self.number}: a constraint's name must be a non-empty string; got {shown(name)}")
        number, why = as_number(value)
        if number is None or not math.isfinite(number):
            raise ValueError(f"trial {self.number}: constraint {name!r} must be a finite number; "
                             f"{why or f'got {number!r}'}")
        self.constraints[name] = number
        self._pending_constraints[name] = number

    def flush(self) -> None:
        """Write parameters, attributes and constraints not yet stored (reports and results do this anyway);
        needed before another process picks the trial up."""
        if self._pending or self._pending_attrs or self._pending_constraints:
            self.study.storage.update_trial(self._record.trial_id, params=self._pending or None,
                                            user_attrs=self._pending_attrs or None,
                                            constraints=self._pending_constraints or None)
            self._pending, self._pending_attrs, self._pending_constraints = {}, {}, {}

    def _apply_controls(self, step: int) -> None:
        """Take in the nudges and stop requests sent to this trial since its last report."""
        requests = [e.payload for e in self.study.events(EventKind.CONTROL, self.number)]
        for request in requests[self._controls_seen:]:
            if not isinstance(request, ControlPayload):
                continue
            if request.action is ControlAction.STOP:
                self._stop_requested = True
                continue
            old = {name: self.params.get(name) for name in request.params}
            for name, value in request.params.items():
                self._set_param(name, self.distributions[name], value)
            self.study.add_event(Event(NudgePayload(old, dict(request.params)), self.number, step))
        self._controls_seen = len(requests)

    def should_stop(self) -> bool:
        """Whether this trial should end now (raise `zt.TrialStopped`): the study's scheduler says so,
        or someone asked with `study.stop_trial` (seen at the last report)."""
        if self._stop_requested:
            return True
        scheduler = self.study.scheduler
        if scheduler is None or not self.intermediate_values:
            return False
        study = self.study
        context = ScheduleContext(self._watched, study.get_trials, study.branch, study.directions, study.metric_names)
        return scheduler.decide(self.snapshot(), context) is Decision.STOP

    def end_stopped(self) -> None:
        """Have this trial end STOPPED however the objective then ends, returning a value included: what a
        framework callback calls once it has stopped a fit because `should_stop()` said so, so that the
        framework can finish cleanly and the objective need not raise `zt.TrialStopped` itself."""
        self._ends_stopped = True

    @property
    def ends_stopped(self) -> bool:
        """Whether `end_stopped` was called: `Study.tell` then records a returned value as STOPPED."""
        return self._ends_stopped

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self, state: Any, step: int | None = None) -> None:
        """Save any picklable `state` (model and optimizer state dicts, say) for this trial at `step`
        (default: the last reported step), atomically; older ones are pruned (last 2 and the best kept)."""
        self._require_running("save a checkpoint")
        if step is None:
            step = max(self.intermediate_values, default=0)
        store = self.study.checkpoints
        path = store.save(self.number, step, state)
        self.study.add_event(Event(CheckpointPayload(str(path)), self.number, step))
        store.prune(self.number, self.intermediate_values, self._watched)

    def load_checkpoint(self) -> Any:
        """This trial's latest checkpoint; for a branched trial without one yet, its parent's at the
        branch step (or the latest before it); None when there is none."""
        found = latest_checkpoint(self.study.events(EventKind.CHECKPOINT, self.number), self.number)
        if found is not None:
            return CheckpointStore.load(found[0])
        start = self.user_attrs.get(BRANCH_CHECKPOINT_ATTR)  # a copy taken when this trial was branched
        return CheckpointStore.load(start) if start and os.path.exists(start) else None

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to the trial (stored with its next report or result);
        anything else is refused here, naming the attribute, rather than when the result is written."""
        if not isinstance(key, str) or not key.strip():
            raise TypeError(f"trial {self.number}: a user attribute's name must be a non-empty string; "
                            f"got {shown(key)}")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as error:
            raise TypeError(f"trial {self.number}: user attribute {key!r} must be JSON-serialisable (a str, number, "
                            f"bool, None, or a list / dict of them); got {shown(value)} ({error})") from None
        self.user_attrs[key] = value
        self._pending_attrs[key] = value

    def _unasked(self) -> set[str]:
        """Parameters sampled up front from an inferred space that the objective has not asked for (yet),
        when the sampler wants only asked ones recorded: held back from storage, and dropped when the
        trial ends (a branch the objective did not take)."""
        return self._inferred - self._asked if self.study.sampler.records_asked_only else set()

    def _warn_unused_enqueued(self) -> None:
        """An enqueued value the objective never asked for is most likely a misspelt name: say so."""
        declared = set(self.study.space or ())
        unused = sorted(set(self._record.params) - self._asked - self._inferred - declared)
        if unused and self.parent is None:
            logger.warning("trial %d: enqueued parameter(s) %s never asked for by the objective (it asked for: %s); "
                           "a misspelt name?", self.number, ", ".join(map(repr, unused)),
                           ", ".join(sorted(self._asked)) or "none")

    def _require_running(self, what: str) -> None:
        if self.state is not TrialState.RUNNING:
            raise RuntimeError(f"trial {self.number} is {self.state.value}; cannot {what}")

    def snapshot(self) -> TrialRecord:
        """The trial as a record, from what this process knows (no storage read)."""
        return TrialRecord(number=self.number, state=self.state, params=dict(self.params),
                           distributions=dict(self.distributions), value=self.value,
                           intermediate_values=dict(self.intermediate_values), user_attrs=dict(self.user_attrs),
                           parent=self.parent, datetime_start=self._record.datetime_start,
                           trial_id=self._record.trial_id, constraints=dict(self.constraints),
                           objective_values=self.values if len(self.study.directions) > 1 else None,
                           intermediate_vectors=dict(self.intermediate_vectors))

    def record_result(self, state: TrialState, value: float | None, error: str | None = None,
                      cause: FailureCause | None = None, values: tuple[float, ...] | None = None) -> TrialRecord:
        """Write the result and everything still pending in one commit; the trial's final record. In a
        multi-objective study `values` holds every objective's (and `value` the first).
        `Study.tell` calls this after checking the value: use `tell`."""
        self._require_running("finish")
        self._warn_unused_enqueued()
        for name in self._unasked():  # sampled up front, never used: not a parameter of this trial
            self._pending.pop(name, None)
            self.params.pop(name, None)
            self.distributions.pop(name, None)
        try:
            self.study.storage.update_trial(self._record.trial_id, params=self._pending or None,
                                            user_attrs=self._pending_attrs or None, state=state, value=value,
                                            error=error, cause=cause, objective_values=values,
                                            constraints=self._pending_constraints or None)
        except Exception as failure:  # noqa: BLE001 - whatever the write hit, the trial must not stay RUNNING
            state, value, error, cause = self._record_failed_write(failure)
            values = None
        finally:
            self.study.release(self._record.trial_id)
        self._pending, self._pending_attrs, self._pending_constraints = {}, {}, {}
        self.state, self.value = state, value
        self.values = values if values is not None else None if value is None else (value,)
        return replace(self.snapshot(), error=error, cause=cause)

    def _record_failed_write(self, failure: Exception) -> tuple[TrialState, None, str, FailureCause]:
        """The result could not be written: store just FAILED and why (what is pending is dropped), or,
        when storage cannot take even that, raise `StorageError` saying the trial stays RUNNING until a
        process that can write reaps it (its heartbeat stops with this process)."""
        why = f"its result could not be stored: {type(failure).__name__}: {first_line(failure)}"
        try:
            self.study.storage.update_trial(self._record.trial_id, state=TrialState.FAILED, error=why,
                                            cause=FailureCause.STORAGE)
        except Exception as second:  # noqa: BLE001 - reported below as one line
            reaped = "it stays RUNNING until a process that can write reaps it (three heartbeats after this one stops)"
            if isinstance(failure, StorageFailure):  # its message reads alone: lead with it, whole
                raise StorageError(f"{failure} (trial {self.number} of study {self.study.name!r}: neither its result "
                                   f"nor its failure could be stored: {reaped})") from failure
            raise StorageError(f"trial {self.number} of study {self.study.name!r}: {why}; marking it FAILED failed "
                               f"too ({first_line(second)}): {reaped}") from failure
        return TrialState.FAILED, None, why, FailureCause.STORAGE


__all__ = ["BRANCH_CHECKPOINT_ATTR", "Trial", "TrialHost", "TrialRecord", "TrialState"]
