"""SQL storage through SQLAlchemy Core: SQLite (the default file) and PostgreSQL.

SQLite runs in WAL mode with a long busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing with "database is locked"
when a read lock would have to be upgraded. Every method commits before it returns.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from zoomtune.errors import (DuplicatedStudyError, StorageError, StudyNotFoundError, TrialNotFoundError,
                             TrialStateError)
from zoomtune.records import (Direction, Event, EventKind, FailureCause, StudyInfo, StudySummary, TrialRecord,
                              TrialState, payload_to_dict)
from zoomtune.storage import schema as s
from zoomtune.storage.base import (AttrScope, FinishedTrial, ParamWrite, Storage, StorageFailure, StorageFault,
                                   check_attr, with_attr)
from zoomtune.storage.engines import DEFAULT_RETRY_SECONDS, seconds_option, server_engine, sqlite_engine
from zoomtune.storage.faults import shown_url
from zoomtune.storage.retry import CommitUnknown, Replay, Retrier, guarded
from zoomtune.storage.sql_rows import event_of, load_trials, timestamp, vector_text


def _close_at_exit(ref: weakref.ref[SQLStorage]) -> None:
    storage = ref()
    if storage is not None:
        storage.close()


class SQLStorage(Storage):
    """Storage in a SQL database named by a SQLAlchemy URL.

    Every database failure raises `StorageFailure` (a `StorageError`) whose `fault` says what went wrong.
    On a server (PostgreSQL), a call that loses its connection tries again with growing pauses for up to
    ``?retry_seconds=`` (15 s by default) before it raises `StorageFault.UNREACHABLE`; only calls that are
    safe to run twice are tried again after a COMMIT whose outcome is unknown (`zoomtune.storage.retry`).

    >>> storage = SQLStorage("sqlite:///zoomtune.db")  # doctest: +SKIP
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise StorageError(f"cannot read storage URL {url!r}; expected e.g. sqlite:///zoomtune.db") from None
        self._shown = shown_url(url)
        self._sqlite = backend == "sqlite"
        database = make_url(url).database if self._sqlite else None
        self._database = database if database and database != ":memory:" else None
        self._file_id: tuple[int, int] | None = None
        self._pid = os.getpid()
        self._prepare_statements()
        try:
            self._engine = sqlite_engine(url) if self._sqlite else server_engine(url)
            self._dbapi_error: type[Exception] = self._engine.dialect.loaded_dbapi.Error
        except (NoSuchModuleError, ModuleNotFoundError) as error:
            raise StorageError(f"no driver for {self._shown} ({error}); for PostgreSQL install "
                               f"'zoomtune[postgres]'") from None
        self._retrier = Retrier(self._shown, self._database, not self._sqlite,
                                seconds_option(url, "retry_seconds", DEFAULT_RETRY_SECONDS), self._dbapi_error)
        self._retrier.run(self._open, Replay.ALWAYS)
        if self._sqlite:  # so that the .db file alone holds every committed result once the process ends
            atexit.register(_close_at_exit, weakref.ref(self))

    def _open(self) -> None:
        with self._write() as conn:
            s.ensure_schema(conn, self._shown)
        if self._database:  # the file this storage writes; one removed or replaced later is never recreated
            found = os.stat(self._database)
            self._file_id = (found.st_dev, found.st_ino)
            # a log left long by a run that stopped on a full disk is copied in, so that the next write starts it
            # over instead of growing it into the space just freed
            self._checkpoint()

    # -- connections and failures ----------------------------------------------------------
    def _engine_here(self) -> Engine:
        if self._file_id is not None:
            self._check_file()
        if os.getpid() != self._pid:  # a forked child must not share the parent's connections
            self._engine.dispose(close=False)
            self._pid = os.getpid()
        return self._engine

    def _check_file(self) -> None:
        """Refuse to go on when the database file was removed or replaced: SQLite would keep writing into the
        removed file (lost at close) or open a new empty one."""
        assert self._database is not None
        try:
            found = os.stat(self._database)
        except FileNotFoundError:
            raise StorageFailure(self._shown, StorageFault.VANISHED, "was removed while in use",
                                 "restore the file; zoomtune never recreates a removed one") from None
        if (found.st_dev, found.st_ino) != self._file_id:
            raise StorageFailure(self._shown, StorageFault.VANISHED, "was replaced by another file while in use",
                                 "open the new file in a new run")

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        committing = False
        try:
            with self._engine_here().begin() as conn:
                yield conn
                committing = True
        except DBAPIError as error:
            if committing and not self._sqlite:
                raise CommitUnknown(error) from error
            raise

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine_here().connect().execution_options(zt_read=True) as conn, conn.begin():
            yield conn

    def _checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database file, as far as it can without waiting for other
        processes (a passive checkpoint); a file that is gone, full or unreadable is left as it is."""
        if self._database and os.path.exists(self._database) and os.getpid() == self._pid:
            try:
                raw = self._engine.raw_connection()
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    raw.close()
            except (SQLAlchemyError, self._dbapi_error):
                pass  # nothing to checkpoint into: the next write says why

    def close(self) -> None:
        """Release the connections; on SQLite, first copy the write-ahead log into the database file (other
        processes checkpoint when they close)."""
        self._checkpoint()
        self._engine.dispose()

    # -- studies ---------------------------------------------------------------------------
    @staticmethod
    def _info(row: Any) -> StudyInfo:
        return StudyInfo(row.study_id, row.name, Direction(row.direction),
                         json.loads(row.space) if row.space else None, json.loads(row.attrs), timestamp(row.created),
                         tuple(Direction(d) for d in json.loads(row.directions)) if row.directions else (),
                         tuple(json.loads(row.metric_names)) if row.metric_names else ())

    @guarded(Replay.BEFORE_COMMIT)
    def create_study(self, name: str, direction: Direction, space: dict[str, Any] | None = None,
                     attrs: dict[str, Any] | None = None, *, directions: tuple[Direction, ...] = (),
                     metric_names: tuple[str, ...] = ()) -> StudyInfo:
        try:
            with self._write() as conn:
                if conn.execute(select(s.studies.c.study_id).where(s.studies.c.name == name)).first():
                    raise DuplicatedStudyError(f"a study named {name!r} already exists in {self._shown}")
                conn.execute(insert(s.studies).values(
                    name=name, direction=Direction(direction).value,
                    space=json.dumps(space) if space is not None else None,
                    attrs=json.dumps(attrs or {}), created=time.time(),
                    directions=json.dumps([Direction(d).value for d in directions]) if len(directions) > 1 else None,
                    metric_names=json.dumps(list(metric_names)) if metric_names else None))
        except IntegrityError:
            raise DuplicatedStudyError(f"a study named {name!r} already exists in {self._shown}") from None
        return self.get_study(name)

    @guarded(Replay.ALWAYS)
    def get_study(self, name: str) -> StudyInfo:
        with self._read() as conn:
            row = conn.execute(select(s.studies).where(s.studies.c.name == name)).first()
        if row is None:
            raise StudyNotFoundError(name, self._shown)
        return self._info(row)

    @guarded(Replay.ALWAYS)
    def list_studies(self) -> list[StudySummary]:
        t = s.trials.c
        with self._read() as conn:
            infos = [self._info(r) for r in conn.execute(select(s.studies).order_by(s.studies.c.study_id))]
            counts: dict[int, dict[TrialState, int]] = defaultdict(lambda: dict.fromkeys(TrialState, 0))
            for study_id, state, n in conn.execute(
                    select(t.study_id, t.state, func.count()).group_by(t.study_id, t.state)):
                counts[study_id][TrialState(state)] = n
            complete = t.state == TrialState.COMPLETE.value
            extremes = {row.study_id: [row.lo, row.hi] for row in conn.execute(
                select(t.study_id, func.min(t.value).label("lo"), func.max(t.value).label("hi"))
                .where(complete, t.constraints.is_(None)).group_by(t.study_id))}
            # trials with constraints count only when feasible: few, so checked here rather than in SQL
            for study_id, value, constraints in conn.execute(
                    select(t.study_id, t.value, t.constraints).where(complete, t.constraints.is_not(None))):
                if value is not None and all(c <= 0 for c in json.loads(constraints).values()):
                    lo, hi = extremes.setdefault(study_id, [None, None])
                    extremes[study_id] = [value if lo is None else min(lo, value),
                                          value if hi is None else max(hi, value)]
        out = []
        for info in infos:
            lo, hi = extremes.get(info.study_id, (None, None))
            best = None if info.is_multi_objective else lo if info.direction is Direction.MINIMIZE else hi
            by_state = counts[info.study_id]
            out.append(StudySummary(info.name, info.direction, sum(by_state.values()), dict(by_state), best,
                                    info.created, info.directions))
        return out

    @guarded(Replay.BEFORE_COMMIT)
    def delete_study(self, name: str) -> None:
        with self._write() as conn:
            if not conn.execute(delete(s.studies).where(s.studies.c.name == name)).rowcount:
                raise StudyNotFoundError(name, self._shown)

    @guarded(Replay.ALWAYS)  # setting the same value twice leaves what setting it once leaves
    def set_study_attr(self, study_id: int, key: str, value: Any, *, scope: AttrScope = AttrScope.USER) -> StudyInfo:
        with self._write() as conn:
            # the row is locked (PostgreSQL; SQLite's BEGIN IMMEDIATE already is) so no concurrent setter's key is lost
            row = conn.execute(select(s.studies).where(s.studies.c.study_id == study_id).with_for_update()).first()
            if row is None:
                raise StudyNotFoundError(f"#{study_id}", self._shown)
            check_attr(f"study {row.name!r}", key, value)
            attrs = with_attr(json.loads(row.attrs), key, value, AttrScope(scope))
            conn.execute(update(s.studies).where(s.studies.c.study_id == study_id).values(attrs=json.dumps(attrs)))
        return replace(self._info(row), attrs=attrs)

    # -- trials ----------------------------------------------------------------------------
    def _prepare_statements(self) -> None:
        """Build the hot-path statements once; constructing them per call costs more than running them."""
        t, p, v = s.trials.c, s.params.c, s.values.c
        self._q_study_lock = (select(s.studies.c.study_id).where(s.studies.c.study_id == bindparam("sid"))
                              .with_for_update())
        self._q_next_number = (select(func.coalesce(func.max(t.number), -1) + 1)
                               .where(t.study_id == bindparam("sid")))
        self._q_waiting = (select(t.trial_id).where(t.study_id == bindparam("sid"),
                                                    t.state == TrialState.WAITING.value)
                           .order_by(t.number).limit(1).with_for_update(skip_locked=True))
        self._q_waiting_number = (select(t.trial_id).where(t.study_id == bindparam("sid"),
                                                           t.number == bindparam("number"),
                                                           t.state == TrialState.WAITING.value).with_for_update())
        self._q_claim = (update(s.trials).where(t.trial_id == bindparam("tid"), t.state == TrialState.WAITING.value)
                         .values(state=TrialState.RUNNING.value, started=bindparam("now"),
                                 heartbeat=bindparam("now"), claim=bindparam("claim")))
        self._q_claimed = select(t.trial_id).where(t.study_id == bindparam("sid"), t.claim == bindparam("claim"))
        self._q_insert_trial = insert(s.trials)
        self._q_update_trial = update(s.trials).where(t.trial_id == bindparam("tid"))
        self._q_attrs = select(t.user_attrs, t.constraints).where(t.trial_id == bindparam("tid"))
        self._q_del_params = delete(s.params).where(p.trial_id == bindparam("tid"),
                                                    p.name.in_(bindparam("names", expanding=True)))
        self._q_del_values = delete(s.values).where(v.trial_id == bindparam("tid"),
                                                    v.step.in_(bindparam("steps", expanding=True)))

    def _next_number(self, conn: Connection, study_id: int) -> int:
        """The study's next free trial number, the study row locked (PostgreSQL; SQLite's BEGIN IMMEDIATE already
        runs one writer at a time) so that two writers cannot take the same one."""
        if conn.execute(self._q_study_lock, {"sid": study_id}).first() is None:
            raise StudyNotFoundError(self._study_name(conn, study_id), self._shown)
        return int(conn.execute(self._q_next_number, {"sid": study_id}).scalar_one())

    def _insert_trial(self, conn: Connection, study_id: int, state: TrialState, fixed_params: dict[str, Any] | None,
                      parent: int | None, user_attrs: dict[str, Any] | None, claim: str) -> TrialRecord:
        number = self._next_number(conn, study_id)
        started = time.time() if state is TrialState.RUNNING else None
        inserted = conn.execute(self._q_insert_trial, {
            "study_id": study_id, "number": number, "state": state.value, "parent": parent,
            "fixed_params": json.dumps(fixed_params) if fixed_params else None,
            "user_attrs": json.dumps(user_attrs or {}), "started": started,
            "heartbeat": started, "claim": claim}).inserted_primary_key
        assert inserted is not None
        trial_id = inserted[0]
        return TrialRecord(number=number, state=state, params=dict(fixed_params or {}), distributions={},
                           user_attrs=dict(user_attrs or {}), parent=parent, datetime_start=timestamp(started),
                           trial_id=trial_id)

    def _insert_finished(self, conn: Connection, study_id: int, trial: FinishedTrial, claim: str) -> TrialRecord:
        number = self._next_number(conn, study_id)
        started = trial.datetime_start.timestamp() if trial.datetime_start is not None else None
        finished = trial.datetime_complete.timestamp() if trial.datetime_complete is not None else time.time()
        inserted = conn.execute(self._q_insert_trial, {
            "study_id": study_id, "number": number, "state": trial.state.value, "value": trial.value,
            "error": trial.error, "cause": trial.cause.value if trial.cause is not None else None,
            "user_attrs": json.dumps(dict(trial.user_attrs)), "started": started, "finished": finished,
            "claim": claim, "constraints": json.dumps(dict(trial.constraints)) if trial.constraints else None,
            "objective_values": None if trial.objective_values is None else vector_text(trial.objective_values),
        }).inserted_primary_key
        assert inserted is not None
        trial_id = inserted[0]
        self._write_params(conn, trial_id, trial.params)
        self._write_values(conn, trial_id, trial.intermediate_values, trial.intermediate_vectors)
        return TrialRecord(
            number=number, state=trial.state, params={name: v for name, (_, v) in trial.params.items()},
            distributions={name: dist for name, (dist, _) in trial.params.items()}, value=trial.value,
            intermediate_values=dict(trial.intermediate_values), user_attrs=dict(trial.user_attrs), error=trial.error,
            cause=trial.cause, datetime_start=timestamp(started), datetime_complete=timestamp(finished),
            trial_id=trial_id,
            objective_values=None if trial.objective_values is None else tuple(trial.objective_values),
            constraints=dict(trial.constraints),
            intermediate_vectors={step: tuple(v) for step, v in trial.intermediate_vectors.items()})

    @staticmethod
    def _write_params(conn: Connection, trial_id: int, params: ParamWrite) -> None:
        if params:
            conn.execute(insert(s.params), [
                {"trial_id": trial_id, "name": name, "value": json.dumps(v),
                 "distribution": json.dumps(dist.to_dict())} for name, (dist, v) in params.items()])

    @staticmethod
    def _write_values(conn: Connection, trial_id: int, values: Mapping[int, float],
                      vectors: Mapping[int, tuple[float, ...]] | None) -> None:
        if values:
            conn.execute(insert(s.values), [
                {"trial_id": trial_id, "step": step, "value": v if math.isfinite(v) else None,
                 "vector": vector_text(vectors[step]) if vectors and step in vectors else None}
                for step, v in values.items()])

    @staticmethod
    def _study_name(conn: Connection, study_id: int) -> str:
        """A study's name for messages (its id when it is gone)."""
        name = conn.execute(select(s.studies.c.name).where(s.studies.c.study_id == study_id)).scalar_one_or_none()
        return str(name) if name is not None else f"with id {study_id}"

    def _new_trial(self, study_id: int, attempt: Callable[[Connection, str], TrialRecord]) -> TrialRecord:
        """Run `attempt(conn, claim)` in a write transaction until it takes a free number; the trial it makes or
        starts carries a fresh `claim`, so that a try after a lost connection whose COMMIT may have gone through
        returns the trial that COMMIT saved instead of making a second one."""
        claim, tries = uuid.uuid4().hex, 0

        def once() -> TrialRecord:
            nonlocal tries
            for _ in range(20):
                tries += 1
                try:
                    with self._write() as conn:
                        earlier = conn.execute(self._q_claimed, {"sid": study_id, "claim": claim}).first() \
                            if tries > 1 else None
                        return load_trials(conn, [earlier.trial_id])[0] if earlier else attempt(conn, claim)
                except IntegrityError:  # another writer took the number first: try again
                    continue
            raise StorageError(f"could not allocate a trial number in {self._shown}")  # pragma: no cover

        return self._retrier.run(once, Replay.ALWAYS)

    def create_trial(self, study_id: int, state: TrialState = TrialState.RUNNING,
                     fixed_params: dict[str, Any] | None = None, parent: int | None = None,
                     user_attrs: dict[str, Any] | None = None) -> TrialRecord:
        return self._new_trial(study_id, lambda conn, claim: self._insert_trial(
            conn, study_id, TrialState(state), fixed_params, parent, user_attrs, claim))

    def add_finished_trial(self, study_id: int, trial: FinishedTrial) -> TrialRecord:
        return self._new_trial(study_id, lambda conn, claim: self._insert_finished(conn, study_id, trial, claim))

    def start_trial(self, study_id: int, number: int | None = None) -> TrialRecord:
        def attempt(conn: Connection, claim: str) -> TrialRecord:
            while True:
                if number is not None:
                    row = conn.execute(self._q_waiting_number, {"sid": study_id, "number": number}).first()
                    if row is None:
                        raise TrialStateError(f"trial {number} of study {self._study_name(conn, study_id)!r} in "
                                              f"{self._shown} is not waiting to run")
                else:
                    row = conn.execute(self._q_waiting, {"sid": study_id}).first()
                if row is None:
                    return self._insert_trial(conn, study_id, TrialState.RUNNING, None, None, None, claim)
                if conn.execute(self._q_claim, {"tid": row.trial_id, "now": time.time(), "claim": claim}).rowcount:
                    return load_trials(conn, [row.trial_id])[0]

        return self._new_trial(study_id, attempt)

    @guarded(Replay.ALWAYS)
    def update_trial(self, trial_id: int, *, params: ParamWrite | None = None,
                     values: Mapping[int, float] | None = None, user_attrs: Mapping[str, Any] | None = None,
                     state: TrialState | None = None, value: float | None = None,
                     error: str | None = None, cause: FailureCause | None = None,
                     vectors: Mapping[int, tuple[float, ...]] | None = None,
                     objective_values: tuple[float, ...] | None = None,
                     constraints: Mapping[str, float] | None = None) -> None:
        with self._write() as conn:
            changes: dict[str, Any] = {}
            if user_attrs or constraints:
                current = conn.execute(self._q_attrs, {"tid": trial_id}).first()
                if current is None:
                    raise TrialNotFoundError(f"no trial with id {trial_id} in {self._shown}")
                if user_attrs:
                    changes["user_attrs"] = json.dumps({**json.loads(current.user_attrs), **user_attrs})
                if constraints:
                    changes["constraints"] = json.dumps({**json.loads(current.constraints or "{}"), **constraints})
            if params:
                conn.execute(self._q_del_params, {"tid": trial_id, "names": list(params)})
                self._write_params(conn, trial_id, params)
            if values:
                conn.execute(self._q_del_values, {"tid": trial_id, "steps": list(values)})
                self._write_values(conn, trial_id, values, vectors)
            changes["heartbeat"] = time.time()  # a trial that writes is alive
            if state is not None:
                changes.update(state=TrialState(state).value, value=value, error=error,
                               cause=cause.value if cause is not None else None, finished=time.time(),
                               objective_values=None if objective_values is None else vector_text(objective_values))
            conn.execute(self._q_update_trial, {"tid": trial_id, **changes})

    @guarded(Replay.ALWAYS)
    def get_trial(self, study_id: int, number: int) -> TrialRecord:
        t = s.trials.c
        with self._read() as conn:
            row = conn.execute(select(t.trial_id).where(t.study_id == study_id, t.number == number)).first()
            if row is None:
                raise TrialNotFoundError(f"study {self._study_name(conn, study_id)!r} in {self._shown} has no trial "
                                         f"{number}")
            return load_trials(conn, [row.trial_id])[0]

    @guarded(Replay.ALWAYS)
    def get_trials(self, study_id: int, states: Collection[TrialState] | None = None, *,
                   from_number: int = 0) -> list[TrialRecord]:
        t = s.trials.c
        query = select(t.trial_id).where(t.study_id == study_id)
        if from_number > 0:
            query = query.where(t.number >= from_number)
        if states is not None:
            query = query.where(t.state.in_([TrialState(x).value for x in states]))
        with self._read() as conn:
            return load_trials(conn, query, study_id)

    # -- liveness --------------------------------------------------------------------------
    @guarded(Replay.ALWAYS)
    def heartbeat(self, trial_ids: Collection[int]) -> None:
        if not trial_ids:
            return
        t = s.trials.c
        with self._write() as conn:
            conn.execute(update(s.trials).where(t.trial_id.in_(list(trial_ids)), t.state == TrialState.RUNNING.value)
                         .values(heartbeat=time.time()))

    @guarded(Replay.ALWAYS)
    def fail_stale_trials(self, study_id: int, older_than: float, error: str) -> list[int]:
        t = s.trials.c
        cutoff = time.time() - older_than
        stale = (t.study_id == study_id, t.state == TrialState.RUNNING.value, t.heartbeat < cutoff)
        with self._read() as conn:  # the common case, nothing stale, costs one read
            rows = conn.execute(select(t.trial_id, t.number).where(*stale)).all()
        failed = []
        for trial_id, number in rows:
            with self._write() as conn:  # conditional: a concurrent caller fails each trial once
                if conn.execute(update(s.trials).where(t.trial_id == trial_id, *stale[1:])
                                .values(state=TrialState.FAILED.value, error=error,
                                        cause=FailureCause.WORKER_LOST.value, finished=time.time())).rowcount:
                    failed.append(number)
        return failed

    # -- events ----------------------------------------------------------------------------
    @guarded(Replay.BEFORE_COMMIT)
    def add_event(self, study_id: int, event: Event) -> None:
        with self._write() as conn:
            conn.execute(insert(s.events).values(
                study_id=study_id, trial_number=event.trial_number, kind=event.kind.value,
                step=event.step, payload=json.dumps(payload_to_dict(event.payload)),
                created=event.time.timestamp() if event.time else time.time()))

    @guarded(Replay.ALWAYS)
    def get_events(self, study_id: int, kind: EventKind | None = None,
                   trial_number: int | None = None) -> list[Event]:
        query = select(s.events).where(s.events.c.study_id == study_id).order_by(s.events.c.event_id)
        if kind is not None:
            query = query.where(s.events.c.kind == EventKind(kind).value)
        if trial_number is not None:
            query = query.where(s.events.c.trial_number == trial_number)
        with self._read() as conn:
            return [event_of(row) for row in conn.execute(query)]


__all__ = ["SQLStorage"]
