import sqlite3

import pytest

from zoomtune.errors import StorageError
from zoomtune.storage import InMemoryStorage, get_storage
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
        assert conn.execute("SELECT version FROM zt_version").fetchone()[0] == 1


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
