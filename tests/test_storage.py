import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import event
from sqlalchemy.pool import Pool

from zoomtune.errors import StorageError
from zoomtune.records import BranchPayload, BranchReason, Direction, FailureCause, TrialState
from zoomtune.storage.schema import SCHEMA_VERSION
from zoomtune.storage import InMemoryStorage, get_storage
from zoomtune.storage.engines import sqlite_synchronous
from zoomtune.storage.sql import SQLStorage
from zoomtune.testing.storage_suite import StorageConformance


class TestInMemoryStorage(StorageConformance):
    @pytest.fixture
    def storage(self):
        return InMemoryStorage()


class TestSQLiteStorage(StorageConformance):
    @pytest.fixture
    def storage(self, sqlite_url):
        storage = SQLStorage(sqlite_url)
        yield storage
        storage.close()


def test_sqlite_runs_in_wal_mode(tmp_path, sqlite_url):
    SQLStorage(sqlite_url).close()
    with sqlite3.connect(tmp_path / "zoomtune.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM zt_version").fetchone()[0] == SCHEMA_VERSION


def _trials_in_file_alone(db, tmp_path) -> int:
    """Trials found in a copy of the .db file without its -wal / -shm companions (a study mailed on its own)."""
    alone = tmp_path / "alone" / "copy.db"
    alone.parent.mkdir()
    shutil.copyfile(db, alone)
    with sqlite3.connect(f"file:{alone}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM zt_trials").fetchone()[0]


def test_the_db_file_alone_holds_every_trial_after_the_process_exits(tmp_path):
    # 300 trials write well under SQLite's 1000-page auto-checkpoint: without a checkpoint at exit,
    # the last trials live only in zoomtune.db-wal
    script = ("import zoomtune as zt\n"
              "study = zt.create_study('s', storage='sqlite:///zoomtune.db',\n"
              "                        sampler=zt.samplers.RandomSampler(seed=0))\n"
              "study.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=300)\n")
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=300)
    assert _trials_in_file_alone(tmp_path / "zoomtune.db", tmp_path) == 300


def test_close_checkpoints_and_never_recreates_a_removed_file(tmp_path, sqlite_url):
    storage = SQLStorage(sqlite_url)
    study = storage.create_study("s", Direction.MINIMIZE)
    storage.create_trial(study.study_id)
    storage.close()
    assert _trials_in_file_alone(tmp_path / "zoomtune.db", tmp_path) == 1
    other = SQLStorage(f"sqlite:///{tmp_path / 'gone.db'}")
    os.remove(tmp_path / "gone.db")
    other.close()
    assert not (tmp_path / "gone.db").exists()


def test_sqlite_synchronous_level_comes_from_the_url(tmp_path):
    seen = []

    def on_checkout(dbapi_conn, record, proxy):
        seen.append(dbapi_conn.execute("PRAGMA synchronous").fetchone()[0])

    event.listen(Pool, "checkout", on_checkout)
    try:
        for query, level in (("", 1), ("?synchronous=full", 2), ("?synchronous=EXTRA", 3)):
            url = f"sqlite:///{tmp_path / f'db{level}.db'}{query}"
            storage = SQLStorage(url)
            study = storage.create_study("s", Direction.MINIMIZE)
            storage.create_trial(study.study_id)
            storage.close()
            assert seen and set(seen) == {level}, (query, seen)
            seen.clear()
            assert sqlite_synchronous(url) == ["NORMAL", "FULL", "EXTRA"][level - 1]
    finally:
        event.remove(Pool, "checkout", on_checkout)
    with pytest.raises(StorageError, match="synchronous must be one of normal, full, extra; got 'off'"):
        SQLStorage(f"sqlite:///{tmp_path / 'off.db'}?synchronous=off")


def _v1_database(path) -> None:
    """A database file as schema v1 wrote it (before trials had a failure cause), with one FAILED trial."""
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE zt_version (version INTEGER NOT NULL);
            INSERT INTO zt_version VALUES (1);
            CREATE TABLE zt_studies (study_id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(512) NOT NULL UNIQUE,
                direction VARCHAR(16) NOT NULL, space TEXT, attrs TEXT NOT NULL, created FLOAT NOT NULL);
            CREATE TABLE zt_trials (trial_id INTEGER PRIMARY KEY AUTOINCREMENT,
                study_id INTEGER NOT NULL REFERENCES zt_studies (study_id) ON DELETE CASCADE,
                number INTEGER NOT NULL, state VARCHAR(16) NOT NULL, value FLOAT, error TEXT, parent INTEGER,
                fixed_params TEXT, user_attrs TEXT NOT NULL, started FLOAT, finished FLOAT, heartbeat FLOAT,
                CONSTRAINT zt_trials_study_number UNIQUE (study_id, number));
            CREATE INDEX zt_trials_study_state ON zt_trials (study_id, state, number);
            CREATE TABLE zt_params (trial_id INTEGER NOT NULL REFERENCES zt_trials (trial_id) ON DELETE CASCADE,
                name VARCHAR(512) NOT NULL, value TEXT NOT NULL, distribution TEXT NOT NULL,
                PRIMARY KEY (trial_id, name));
            CREATE TABLE zt_values (trial_id INTEGER NOT NULL REFERENCES zt_trials (trial_id) ON DELETE CASCADE,
                step INTEGER NOT NULL, value FLOAT, PRIMARY KEY (trial_id, step));
            CREATE TABLE zt_events (event_id INTEGER PRIMARY KEY AUTOINCREMENT,
                study_id INTEGER NOT NULL REFERENCES zt_studies (study_id) ON DELETE CASCADE,
                trial_number INTEGER, kind VARCHAR(32) NOT NULL, step INTEGER, payload TEXT NOT NULL,
                created FLOAT NOT NULL);
            INSERT INTO zt_studies VALUES (1, 'old', 'minimize', NULL, '{}', 1700000000.0);
            INSERT INTO zt_trials VALUES (1, 1, 0, 'FAILED', NULL, 'KeyboardInterrupt', NULL, NULL, '{}',
                1700000000.0, 1700000001.0, 1700000001.0);
            INSERT INTO zt_events VALUES (1, 1, 0, 'branch', NULL, '{"parent": 0, "overrides": {}, "reason": "resume",
                "at_step": 3}', 1700000002.0);
        """)


def test_a_v1_database_is_migrated_and_keeps_its_trials(tmp_path):
    _v1_database(tmp_path / "old.db")
    storage = SQLStorage(f"sqlite:///{tmp_path / 'old.db'}")
    sid = storage.get_study("old").study_id
    old = storage.get_trial(sid, 0)
    assert old.state is TrialState.FAILED and old.error == "KeyboardInterrupt" and old.cause is None
    branch = storage.get_events(sid)[0]
    assert branch.payload == BranchPayload(0, {}, BranchReason.RESUME)  # unknown keys of old payloads are dropped
    new = storage.create_trial(sid)
    storage.update_trial(new.trial_id, state=TrialState.FAILED, error="x", cause=FailureCause.WORKER_LOST)
    assert storage.get_trial(sid, new.number).cause is FailureCause.WORKER_LOST
    storage.close()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        assert conn.execute("SELECT version FROM zt_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path, sqlite_url):
    SQLStorage(sqlite_url).close()
    with sqlite3.connect(tmp_path / "zoomtune.db") as conn:
        conn.execute("UPDATE zt_version SET version = 99")
    with pytest.raises(StorageError, match="newer zoomtune"):
        SQLStorage(sqlite_url)


def test_reopening_keeps_data(sqlite_url):
    first = SQLStorage(sqlite_url)
    first.create_study("kept", "minimize")
    first.close()
    assert SQLStorage(sqlite_url).get_study("kept").name == "kept"


def test_bad_urls_are_clear(tmp_path):
    with pytest.raises(StorageError, match="cannot read storage URL"):
        get_storage("not a url")
    with pytest.raises(StorageError, match="does not exist"):
        get_storage(f"sqlite:///{tmp_path}/missing/dir/z.db")


def test_study_user_attrs_are_stored_and_seen_by_every_process_that_opens_the_study(sqlite_url):
    import zoomtune as zt

    study = zt.create_study("noted", storage=sqlite_url)
    assert study.user_attrs == {}
    study.set_user_attr("dataset", {"name": "digits", "rows": 1797})
    study.set_user_attr("note", "baseline")
    assert study.attrs["user_attrs"] == study.user_attrs == {"dataset": {"name": "digits", "rows": 1797},
                                                              "note": "baseline"}
    assert "sampler_seed" in study.attrs and "sampler_seed" not in study.user_attrs  # zoomtune's own stay apart
    code = ("import sys, zoomtune as zt; s = zt.load_study('noted', storage=sys.argv[1]); "
            "assert s.user_attrs['note'] == 'baseline', s.user_attrs; s.set_user_attr('note', 'tuned')")
    subprocess.run([sys.executable, "-c", code, sqlite_url], check=True, timeout=120)
    assert study.user_attrs["note"] == "tuned"  # read from storage: another process's write is seen
    with pytest.raises(TypeError, match=r"study 'noted': attribute 'model' must be JSON-serialisable"):
        study.set_user_attr("model", object())


def test_a_finished_trial_must_be_finished_and_keep_only_json_attributes():
    from datetime import datetime, timezone

    from zoomtune.errors import TrialStateError
    from zoomtune.storage import FinishedTrial

    with pytest.raises(TrialStateError, match="COMPLETE, STOPPED or FAILED; got RUNNING"):
        FinishedTrial(TrialState.RUNNING)
    with pytest.raises(TypeError, match="attribute 'f' must be JSON-serialisable"):
        FinishedTrial(TrialState.COMPLETE, value=1.0, user_attrs={"f": {1, 2}})
    with pytest.raises(ValueError, match=r"intermediate_vectors at steps \[2\] need intermediate_values"):
        FinishedTrial(TrialState.COMPLETE, intermediate_vectors={2: (1.0, 2.0)})
    naive = datetime(2024, 1, 2, 3, 4, 5)  # as Optuna writes times: local, without a zone
    assert FinishedTrial(TrialState.FAILED, datetime_start=naive).datetime_start == naive.astimezone(timezone.utc)
