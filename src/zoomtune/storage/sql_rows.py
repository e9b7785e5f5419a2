"""How the SQL storage turns its rows back into records: timestamps, objective vectors, events, and whole
trials assembled with four queries (what `SQLStorage` reads with)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select

from zoomtune.records import Event, EventKind, FailureCause, TrialRecord, TrialState, payload_from_dict
from zoomtune.space import distribution_from_dict
from zoomtune.storage import schema as s


def timestamp(value: float | None) -> datetime | None:
    """A stored epoch-seconds column as an aware UTC datetime (None stays None)."""
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def vector_text(vector: tuple[float, ...]) -> str:
    """Values as a JSON list, NaN as null (as the `value` column stores it as NULL)."""
    return json.dumps([v if math.isfinite(v) else None for v in vector])


def vector_of(text: str) -> tuple[float, ...]:
    """The inverse of `vector_text` (null back to NaN)."""
    return tuple(math.nan if v is None else float(v) for v in json.loads(text))


def raw_rows(conn: Connection, statement: Any) -> list[tuple[Any, ...]]:
    """Plain tuples straight from the driver: for the one query that can return half a million
    rows (a study's intermediate values), SQLAlchemy's row objects cost more than the query."""
    # its only parameters are ids and state names (our values, never user text): safe to render inline
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def event_of(row: Any) -> Event:
    """An events row as an Event."""
    return Event(payload_from_dict(EventKind(row.kind), json.loads(row.payload)), row.trial_number, row.step,
                 timestamp(row.created))


def load_trials(conn: Connection, ids: Any, study_id: int | None = None) -> list[TrialRecord]:
    """Assemble records for trial ids (a list or a sub-select) with four queries in all."""
    t = s.trials.c
    rows = conn.execute(select(s.trials).where(t.trial_id.in_(ids)).order_by(t.number)).all()
    if not rows:
        return []
    if study_id is None:
        study_id = rows[0].study_id
    params: dict[int, dict[str, Any]] = defaultdict(dict)
    dists: dict[int, dict[str, Any]] = defaultdict(dict)
    cached_dists: dict[str, Any] = {}
    for trial_id, name, value, dist in conn.execute(
            select(s.params.c.trial_id, s.params.c.name, s.params.c.value, s.params.c.distribution)
            .where(s.params.c.trial_id.in_(ids))).all():
        params[trial_id][name] = json.loads(value)
        if dist not in cached_dists:
            cached_dists[dist] = distribution_from_dict(json.loads(dist), name=name)
        dists[trial_id][name] = cached_dists[dist]
    reports: dict[int, dict[int, float]] = defaultdict(dict)
    vectors: dict[int, dict[int, tuple[float, ...]]] = defaultdict(dict)
    nan = math.nan
    for trial_id, step, value, vector in raw_rows(conn, (  # primary-key order: no sort needed
            select(s.values.c.trial_id, s.values.c.step, s.values.c.value, s.values.c.vector)
            .where(s.values.c.trial_id.in_(ids)).order_by(s.values.c.trial_id, s.values.c.step))):
        reports[trial_id][step] = nan if value is None else value
        if vector is not None:
            vectors[trial_id][step] = vector_of(vector)
    events: dict[int, list[Event]] = defaultdict(list)
    numbers = [r.number for r in rows] if isinstance(ids, list) else select(t.number).where(t.trial_id.in_(ids))
    for event_row in conn.execute(select(s.events).where(s.events.c.study_id == study_id,
                                                         s.events.c.trial_number.in_(numbers))
                                  .order_by(s.events.c.event_id)).all():
        events[event_row.trial_number].append(event_of(event_row))
    return [TrialRecord(
        number=r.number, state=TrialState(r.state),
        params={**(json.loads(r.fixed_params) if r.fixed_params else {}), **params[r.trial_id]},
        distributions=dists[r.trial_id], value=r.value, intermediate_values=reports[r.trial_id],
        user_attrs=json.loads(r.user_attrs), error=r.error, parent=r.parent,
        cause=FailureCause(r.cause) if r.cause else None,
        events=tuple(events[r.number]), datetime_start=timestamp(r.started), datetime_complete=timestamp(r.finished),
        trial_id=r.trial_id, objective_values=vector_of(r.objective_values) if r.objective_values else None,
        constraints=json.loads(r.constraints) if r.constraints else {},
        intermediate_vectors=vectors[r.trial_id]) for r in rows]


__all__ = ["event_of", "load_trials", "raw_rows", "timestamp", "vector_of", "vector_text"]
