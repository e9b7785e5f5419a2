"""The versioned SQL schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Times are stored as UTC epoch seconds and JSON as text, so both databases read the same rows.
Bump `SCHEMA_VERSION` and add an entry to `MIGRATIONS` for every change; a file written by a
newer version is refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (Column, Connection, Double, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, insert, inspect, select, text)

from zoomtune.errors import StorageError
from zoomtune.storage.base import StorageFailure, StorageFault

SCHEMA_VERSION = 4

metadata = MetaData()

version_table = Table("zt_version", metadata, Column("version", Integer, nullable=False))

studies = Table(
    "zt_studies", metadata,
    Column("study_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(512), nullable=False, unique=True),
    Column("direction", String(16), nullable=False),
    Column("space", Text, nullable=True),
    Column("attrs", Text, nullable=False, default="{}"),
    Column("created", Double, nullable=False),
    # a multi-objective study's directions and objective names as JSON lists (schema v4); NULL: one objective,
    # `direction`
    Column("directions", Text, nullable=True),
    Column("metric_names", Text, nullable=True),
)

trials = Table(
    "zt_trials", metadata,
    Column("trial_id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("zt_studies.study_id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Double, nullable=True),
    Column("error", Text, nullable=True),
    Column("cause", String(16), nullable=True),  # FailureCause of a FAILED trial (schema v2)
    Column("parent", Integer, nullable=True),
    Column("fixed_params", Text, nullable=True),
    Column("user_attrs", Text, nullable=False, default="{}"),
    Column("started", Double, nullable=True),
    Column("finished", Double, nullable=True),
    Column("heartbeat", Double, nullable=True),
    # a random tag of the call that made or started the trial (schema v3): a call that retries after a lost
    # connection finds the trial its earlier try saved instead of making a second one
    Column("claim", String(32), nullable=True),
    # schema v4: a multi-objective trial's final values as a JSON list (`value` holds the first; NULL in a
    # single-objective study), and its constraints as a JSON object (NULL: none)
    Column("objective_values", Text, nullable=True),
    Column("constraints", Text, nullable=True),
    UniqueConstraint("study_id", "number", name="zt_trials_study_number"),
    Index("zt_trials_study_state", "study_id", "state", "number"),
)

params = Table(
    "zt_params", metadata,
    Column("trial_id", Integer, ForeignKey("zt_trials.trial_id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("value", Text, nullable=False),
    Column("distribution", Text, nullable=False),
)

values = Table(
    "zt_values", metadata,
    Column("trial_id", Integer, ForeignKey("zt_trials.trial_id", ondelete="CASCADE"), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("value", Double, nullable=True),  # NULL stands for NaN, which SQLite cannot store
    # schema v4: every objective's report as a JSON list in a multi-objective study (`value` holds the first)
    Column("vector", Text, nullable=True),
)

events = Table(
    "zt_events", metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("zt_studies.study_id", ondelete="CASCADE"), nullable=False),
    Column("trial_number", Integer, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("step", Integer, nullable=True),
    Column("payload", Text, nullable=False),
    Column("created", Double, nullable=False),
    Index("zt_events_study_kind", "study_id", "kind", "event_id"),
)



def _add_failure_cause(conn: Connection) -> None:
    """v1 -> v2: trials record why they failed (`FailureCause`); old failures keep NULL."""
    conn.execute(text("ALTER TABLE zt_trials ADD COLUMN cause VARCHAR(16)"))


def _add_claim(conn: Connection) -> None:
    """v2 -> v3: trials record the call that made or started them; old trials keep NULL."""
    conn.execute(text("ALTER TABLE zt_trials ADD COLUMN claim VARCHAR(32)"))


def _add_objective_vectors(conn: Connection) -> None:
    """v3 -> v4: several objectives and constraints. Only columns are added: every single-objective study,
    value and report stays where it was, and the new columns stay NULL for them."""
    for table, column in (("zt_studies", "directions"), ("zt_studies", "metric_names"),
                          ("zt_trials", "objective_values"), ("zt_trials", "constraints"), ("zt_values", "vector")):
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} TEXT"))


# version -> function that upgrades a connection's schema from that version to the next one
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _add_failure_cause, 2: _add_claim,
                                                       3: _add_objective_vectors}


def ensure_schema(conn: Connection, url: str) -> None:
    """Create the schema in an empty database, upgrade an older one, refuse a newer one.

    Runs inside the caller's write transaction, so concurrent first opens do not race.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7735001)"))
    if not inspect(conn).has_table(version_table.name):
        metadata.create_all(conn)
        conn.execute(insert(version_table).values(version=SCHEMA_VERSION))
        return
    found = conn.execute(select(version_table.c.version)).scalar_one_or_none()
    if found is None:
        raise StorageFailure(url, StorageFault.DAMAGED, "is damaged (its zoomtune version table is empty)",
                             "restore it from a backup")
    if found > SCHEMA_VERSION:
        raise StorageError(f"{url} was written by a newer zoomtune (schema v{found}); this version reads up to "
                           f"v{SCHEMA_VERSION}: upgrade zoomtune")
    while found < SCHEMA_VERSION:
        MIGRATIONS[found](conn)
        found += 1
        conn.execute(version_table.update().values(version=found))


__all__ = ["SCHEMA_VERSION", "ensure_schema", "events", "metadata", "params", "studies", "trials", "values"]
