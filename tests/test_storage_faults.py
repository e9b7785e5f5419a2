"""Storage faults made real: files that are not SQLite or are damaged, a disk that fills up, a database made
immutable or removed mid-run, a lock held too long, a PostgreSQL server restarted mid-study and one that
stays down. Each gives a one-line `StorageFailure` naming its `StorageFault` (exit 2 from the CLI, never
a traceback), and whatever was told before the fault is still there, in a database that passes its
integrity check."""

from __future__ import annotations

import enum
import importlib.util
import os
import pickle
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import wait_for
from pg_server import PostgresServer, controlled_postgres_server, fresh_database, postgres_bin
from sqlalchemy import event
from sqlalchemy.pool import Pool

import zoomtune as zt
from zoomtune.errors import StorageError
from zoomtune.records import Direction, TrialState
from zoomtune.storage import InMemoryStorage, StorageServer
from zoomtune.storage.base import StorageFailure, StorageFault
from zoomtune.storage.sql import SQLStorage

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def zoomtune(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zoomtune", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)


def zoomtune_side_by_side(*commands: tuple[str, ...], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Several `zoomtune` commands run at once (each one's start-up is most of its time)."""
    started = [subprocess.Popen([sys.executable, "-m", "zoomtune", *args], cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for args in commands]
    outputs = [p.communicate(timeout=300) for p in started]
    return [subprocess.CompletedProcess(p.args, p.returncode, out, err)
            for p, (out, err) in zip(started, outputs, strict=True)]


def assert_one_line(result: subprocess.CompletedProcess[str], *fragments: str, lost_results: bool = False) -> str:
    """Exit 2, one `error:` line on stderr holding every fragment, no traceback; the line. With `lost_results`,
    the error may follow warnings of trials whose result the storage refused (each of those trials ended FAILED
    with the reason, and the run went on until the next write failed too)."""
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-4000:])
    lines = result.stderr.strip().splitlines()
    if lost_results:
        lines = [line for line in lines if line.startswith("error: ") or "its result could not be stored" not in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-4000:]
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def fault_of(error: BaseException) -> StorageFault:
    """The fault of the `StorageFailure` that `error` is or was caused by (a trial that could not store its
    result raises a `StorageError` caused by one)."""
    seen: BaseException | None = error
    while seen is not None and not isinstance(seen, StorageFailure):
        seen = seen.__cause__
    assert seen is not None, repr(error)
    assert "\n" not in str(seen), str(seen)
    return seen.fault


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "objectives.py", tmp_path)
    shutil.copy(EXAMPLES / "quickstart.yaml", tmp_path)
    return tmp_path


def write_real_study(path: Path, trials: int = 120, reports: int = 20) -> None:
    """A real database file of many pages: study 'quickstart' with finished trials and their reports."""
    storage = SQLStorage(f"sqlite:///{path}")
    sid = storage.create_study("quickstart", Direction.MINIMIZE).study_id
    for _ in range(trials):
        trial = storage.create_trial(sid)
        storage.update_trial(trial.trial_id, values={step: 1.0 / (step + 1) for step in range(reports)},
                             state=TrialState.COMPLETE, value=0.5)
    storage.close()
    assert not Path(f"{path}-wal").exists()  # the last close folded the log into the file


class Damage(enum.Enum):
    """Ways a file given as a database is not one."""

    TEXT = "a text file"
    TRUNCATED = "the first 1,000 bytes of a database"
    CORRUPTED = "a database whose middle pages are overwritten"


@pytest.fixture(scope="module")
def real_study(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real many-page database file holding study 'quickstart'."""
    path = tmp_path_factory.mktemp("real") / "zoomtune.db"
    write_real_study(path)
    return path.read_bytes()


def damaged_file(path: Path, damage: Damage, real: bytes) -> None:
    if damage is Damage.TEXT:
        path.write_text("study: quickstart\nthis is not a database\n" * 50)
        return
    data = bytearray(real)
    if damage is Damage.TRUNCATED:
        path.write_bytes(bytes(data[:1000]))
        return
    assert len(data) > 20 * 4096, len(data)
    quarter = len(data) // 4
    data[quarter:3 * quarter] = bytes(range(251)) * (2 * quarter // 251) + bytes(2 * quarter % 251)
    path.write_bytes(bytes(data))


EXPECTED = {Damage.TEXT: (StorageFault.NOT_A_DATABASE, "is not a SQLite database"),
            Damage.TRUNCATED: (StorageFault.DAMAGED, "is damaged"),
            Damage.CORRUPTED: (StorageFault.DAMAGED, "is damaged")}


@pytest.mark.parametrize("damage", list(Damage), ids=[d.name.lower() for d in Damage])
def test_a_file_that_is_not_a_sound_database_is_one_line(workdir: Path, damage: Damage, real_study: bytes) -> None:
    db = workdir / "bad.db"
    damaged_file(db, damage, real_study)
    fault, words = EXPECTED[damage]
    url = f"sqlite:///{db}"
    status, run = zoomtune_side_by_side(("status", "quickstart", "--storage", url),
                                        ("run", "quickstart.yaml", "-n", "3", "-q", "--storage", url), cwd=workdir)
    assert_one_line(status, words, str(db))
    assert_one_line(run, words)
    with pytest.raises(StorageError) as caught:
        zt.load_study("quickstart", storage=url).trials  # noqa: B018 - reading the trials is the point
    assert fault_of(caught.value) is fault and words in str(caught.value)


# -- a disk that fills up ------------------------------------------------------------------------------

class DiskKind(enum.Enum):
    """How a test gets a disk that fills up: a 4 MiB tmpfs (needs root), else SQLite's own page limit."""

    TMPFS = "tmpfs"
    PAGE_LIMIT = "max_page_count"


def _can_mount_tmpfs() -> bool:
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"zoomtune-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                                 capture_output=True, check=False).returncode == 0
        if mounted:
            subprocess.run(["umount", str(probe)], check=True)
        return mounted
    except FileNotFoundError:
        return False
    finally:
        probe.rmdir()


DISK_KIND = DiskKind.TMPFS if _can_mount_tmpfs() else DiskKind.PAGE_LIMIT


@dataclass
class SmallDisk:
    """A folder on a disk of about 4 MiB, and a 256 KiB filler file whose removal frees room again."""

    kind: DiskKind
    folder: Path

    @property
    def filler(self) -> Path:
        return self.folder / "filler"


@pytest.fixture(params=[DISK_KIND], ids=[DISK_KIND.value])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmallDisk]:
    kind: DiskKind = request.param
    folder = tmp_path / "disk"
    folder.mkdir()
    if kind is DiskKind.PAGE_LIMIT:  # every connection this process opens may hold 1024 pages (4 MiB)
        def limit(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            dbapi_conn.execute("PRAGMA max_page_count = 1024")

        event.listen(Pool, "connect", limit)
        try:
            yield SmallDisk(kind, folder)
        finally:
            event.remove(Pool, "connect", limit)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], check=True)
    try:
        disk = SmallDisk(kind, folder)
        disk.filler.write_bytes(bytes(256 * 1024))
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def assert_told_results_are_there(url: str, told: dict[int, float]) -> list[zt.TrialRecord]:
    trials = {t.number: t for t in zt.load_study("full", storage=url).trials}
    for number, value in told.items():
        assert trials[number].state is TrialState.COMPLETE and trials[number].value == value, trials[number]
    return list(trials.values())


def test_a_full_disk_stops_the_study_in_one_line_and_keeps_every_told_result(small_disk: SmallDisk) -> None:
    db = small_disk.folder / "zoomtune.db"
    url = f"sqlite:///{db}"
    study = zt.create_study("full", storage=url, sampler=zt.samplers.RandomSampler(seed=0))
    told: dict[int, float] = {}
    with pytest.raises(StorageError) as caught:
        for _ in range(100_000):  # far more than 4 MiB holds: the loop ends with the full disk
            trial = study.ask()
            x = trial.suggest_float("x", 0, 1)
            for step in range(5):
                trial.report(x / (step + 1), step)
            study.tell(trial, x)
            told[trial.number] = x
    assert fault_of(caught.value) is StorageFault.FULL and "disk is full" in str(caught.value)
    assert len(told) >= 5, told
    study.storage.close()
    assert integrity(db) == "ok"
    assert_told_results_are_there(url, told)


@pytest.mark.skipif(DISK_KIND is not DiskKind.TMPFS, reason="worker processes need a real small disk (root)")
def test_a_full_disk_with_two_jobs_exits_2_in_one_line_and_resume_goes_on(small_disk: SmallDisk,
                                                                            workdir: Path) -> None:
    db = small_disk.folder / "zoomtune.db"
    url = f"sqlite:///{db}"
    assert_one_line(zoomtune("run", "quickstart.yaml", "-n", "100000", "-j", "2", "-q", "--storage", url,
                             cwd=workdir), "disk is full", str(db), lost_results=True)
    assert integrity(db) == "ok"
    shown = zoomtune("status", "quickstart", "--storage", url, cwd=workdir)  # a full disk can still be read
    assert shown.returncode == 0 and "quickstart" in shown.stdout, shown.stderr[-4000:]
    before = zt.load_study("quickstart", storage=url).trials
    assert [t.number for t in before] == list(range(len(before)))
    done = {t.number: t.value for t in before if t.state is TrialState.COMPLETE}
    assert done
    small_disk.filler.unlink()  # room again: the study goes on where it stopped
    again = zoomtune("run", "quickstart.yaml", "-n", "3", "-q", "--storage", url, cwd=workdir)
    assert again.returncode == 0, again.stderr[-4000:]
    after = zt.load_study("quickstart", storage=url).trials
    assert {t.number: t.value for t in after if t.number in done} == done
    assert sum(t.state is TrialState.COMPLETE for t in after) == len(done) + 3
    assert integrity(db) == "ok"


# -- read-only, removed, locked ------------------------------------------------------------------------

@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """`chattr +i` on the paths (even root cannot write them), undone at the end."""
    done: list[Path] = []
    try:
        for path in paths:
            made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
            if made.returncode:
                pytest.skip(f"chattr +i is not available here: {made.stderr.strip()}")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_database_made_immutable_mid_run_is_read_only_in_one_line(workdir: Path) -> None:
    db = workdir / "zoomtune.db"
    url = f"sqlite:///{db}"
    storage = SQLStorage(url)
    sid = storage.create_study("quickstart", Direction.MINIMIZE).study_id
    first = storage.create_trial(sid)
    storage.update_trial(first.trial_id, values={0: 1.0})
    # the -shm index stays writable: SQLite maps it into memory, and a write to an immutable mapping is a bus error
    with immutable(db, Path(f"{db}-wal")):
        with pytest.raises(StorageFailure) as caught:
            storage.update_trial(first.trial_id, values={1: 0.5}, state=TrialState.COMPLETE, value=0.5)
        assert caught.value.fault is StorageFault.READ_ONLY and "is read-only" in str(caught.value)
        assert_one_line(zoomtune("run", "quickstart.yaml", "-n", "2", "-q", "--storage", url, cwd=workdir),
                        "is read-only")
    storage.update_trial(first.trial_id, values={1: 0.5}, state=TrialState.COMPLETE, value=0.5)  # writable again
    assert storage.get_trial(sid, 0).intermediate_values == {0: 1.0, 1: 0.5}
    storage.close()
    assert integrity(db) == "ok"


def test_a_database_removed_or_replaced_while_open_is_one_line_and_never_recreated(tmp_path: Path) -> None:
    db = tmp_path / "zoomtune.db"
    storage = SQLStorage(f"sqlite:///{db}")
    sid = storage.create_study("s", Direction.MINIMIZE).study_id
    trial = storage.create_trial(sid)
    os.remove(db)
    for call in (lambda: storage.update_trial(trial.trial_id, values={0: 1.0}), lambda: storage.get_trials(sid),
                 lambda: storage.create_trial(sid)):
        with pytest.raises(StorageFailure, match="was removed while in use") as caught:
            call()
        assert caught.value.fault is StorageFault.VANISHED
    storage.close()
    assert not db.exists()

    storage = SQLStorage(f"sqlite:///{db}")
    SQLStorage(f"sqlite:///{tmp_path / 'other.db'}").close()
    os.replace(tmp_path / "other.db", db)
    with pytest.raises(StorageFailure, match="was replaced by another file") as caught:
        storage.list_studies()
    assert caught.value.fault is StorageFault.VANISHED
    storage.close()


def test_a_lock_held_beyond_the_busy_timeout_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "zoomtune.db"
    storage = SQLStorage(f"sqlite:///{db}?busy_timeout=0.2")
    sid = storage.create_study("s", Direction.MINIMIZE).study_id
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer that does not let go
    try:
        with pytest.raises(StorageFailure, match="is locked by another process") as caught:
            storage.create_trial(sid)
        assert caught.value.fault is StorageFault.LOCKED
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert storage.create_trial(sid).number == 0  # the lock released, the number was never taken
    storage.close()
    with pytest.raises(StorageError, match="busy_timeout must be a number of seconds >= 0; got 'soon'"):
        SQLStorage(f"sqlite:///{db}?busy_timeout=soon")


def test_a_folder_given_as_the_database_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StorageFailure, match=f"^sqlite:///{tmp_path}: cannot be opened; check that") as caught:
        SQLStorage(f"sqlite:///{tmp_path}")
    assert caught.value.fault is StorageFault.OTHER and isinstance(caught.value.__cause__, Exception)


def test_a_failure_keeps_its_fault_between_processes_and_a_stopped_storage_server_is_unreachable() -> None:
    failure = StorageFailure("sqlite:///z.db", StorageFault.FULL, "the disk is full", "free some space")
    again = pickle.loads(pickle.dumps(failure))
    assert again.fault is StorageFault.FULL and str(again) == str(failure) == "sqlite:///z.db: the disk is full; " \
        "free some space"
    server = StorageServer(InMemoryStorage())
    client = pickle.loads(pickle.dumps(server.storage))
    assert client.list_studies() == []
    server.close()
    with pytest.raises(StorageFailure, match="the storage server cannot be reached") as caught:
        client.list_studies()
    assert caught.value.fault is StorageFault.UNREACHABLE


# -- PostgreSQL: restarted, and down for good ----------------------------------------------------------

needs_postgres = pytest.mark.skipif(postgres_bin() is None or importlib.util.find_spec("psycopg") is None,
                                    reason="PostgreSQL or psycopg is not installed")


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with controlled_postgres_server() as started:
        yield started


WORKER = """
import sys, zoomtune as zt
study = zt.load_study("shared", storage=sys.argv[1])
with open(sys.argv[2], "a") as ledger:
    for _ in range(int(sys.argv[3])):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        if study.tell(trial, x).state is zt.TrialState.COMPLETE:  # told, and committed
            ledger.write(f"{trial.number} {x!r}\\n")
            ledger.flush()
"""


def _ledger(path: Path) -> dict[int, float]:
    if not path.exists():
        return {}
    return {int(n): float(x) for n, x in (line.split() for line in path.read_text().splitlines() if line)}


@needs_postgres
def test_workers_go_on_after_the_postgres_server_restarts(server: PostgresServer, tmp_path: Path) -> None:
    url = fresh_database(server.url)
    zt.create_study("shared", storage=url).storage.close()
    per_worker = 100
    ledgers = [tmp_path / f"told-{i}" for i in range(2)]
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(ledger), str(per_worker)],
                                stderr=subprocess.PIPE, text=True) for ledger in ledgers]
    try:
        wait_for(lambda: all(len(_ledger(p)) >= 10 for p in ledgers), "both workers to tell 10 results",
                 timeout=240)
        assert all(w.poll() is None for w in workers), "the workers ended before the restart"
        told_before = sum(len(_ledger(p)) for p in ledgers)
        server.stop("fast")  # every session ends, like an administrator's restart
        server.start()
        errors = [w.communicate(timeout=300)[1] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], errors
        assert not any(errors), errors  # not even a logged traceback of a connection the restart broke
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    told = {n: x for p in ledgers for n, x in _ledger(p).items()}
    assert told_before < len(told)  # they went on after the restart
    trials = zt.load_study("shared", storage=url).trials
    assert sorted(t.number for t in trials) == list(range(2 * per_worker))  # unique, none lost, none extra
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAILED) for t in trials)
    by_number = {t.number: t for t in trials}
    assert all(by_number[n].state is TrialState.COMPLETE and by_number[n].value == x for n, x in told.items())


@needs_postgres
def test_a_postgres_server_that_stays_down_is_one_line_after_bounded_retries(server: PostgresServer,
                                                                              workdir: Path) -> None:
    url = fresh_database(server.url).replace("zt@", "zt:s3cret@") + "?retry_seconds=1"
    storage = SQLStorage(url)
    sid = storage.create_study("s", Direction.MINIMIZE).study_id
    server.stop()
    try:
        for call in (lambda: storage.get_trials(sid), lambda: storage.create_trial(sid), lambda: SQLStorage(url)):
            with pytest.raises(StorageFailure) as caught:
                call()
            message = str(caught.value)
            assert caught.value.fault is StorageFault.UNREACHABLE and "\n" not in message
            tries = re.search(r"cannot reach the database server after (\d+) tries over [\d.]+ s", message)
            assert tries and int(tries.group(1)) >= 2, message
            assert "s3cret" not in message and "***" in message
        assert_one_line(zoomtune("status", "--storage", url, cwd=workdir), "cannot reach the database server",
                        "retry_seconds")
    finally:
        server.start()
    assert storage.get_trials(sid) == []  # the same storage goes on once the server is back
    storage.close()
    with pytest.raises(StorageError, match="retry_seconds must be a number of seconds >= 0; got '-1'"):
        SQLStorage(url.replace("retry_seconds=1", "retry_seconds=-1"))
