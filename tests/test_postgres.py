"""The storage conformance suite and cross-process work against a real PostgreSQL server."""

import subprocess
import sys

import pytest

pytest.importorskip("psycopg")

from pg_server import fresh_database, postgres_bin, postgres_server

import zoomtune as zt
from zoomtune.storage.sql import SQLStorage
from zoomtune.testing.storage_suite import StorageConformance

pytestmark = pytest.mark.skipif(postgres_bin() is None,
                                reason="PostgreSQL is not installed (apt-get install postgresql)")


@pytest.fixture(scope="module")
def pg_server():
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server):
    return fresh_database(pg_server)


class TestPostgresStorage(StorageConformance):
    @pytest.fixture
    def storage(self, pg_url):
        storage = SQLStorage(pg_url)
        yield storage
        storage.close()


WORKER = """
import sys, zoomtune as zt
study = zt.load_study("shared", storage=sys.argv[1])
study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=250)
"""


def test_processes_share_one_postgres_study_without_losing_trials(pg_url):
    zt.create_study("shared", storage=pg_url)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, pg_url]) for _ in range(4)]
    assert all(w.wait(timeout=300) == 0 for w in workers)
    trials = zt.load_study("shared", storage=pg_url).trials
    assert len(trials) == 1000 and sorted(t.number for t in trials) == list(range(1000))
    assert all(t.state is zt.TrialState.COMPLETE for t in trials)
