"""The process-fault suite (issue 12): real `zoomtune run` / `worker` / `resume` processes on real
SQLite files (and PostgreSQL), killed or interrupted while their trials run.

Every fault is injected at an event, never at a guessed time: the objective holds trials from a
given number on at a gate (a file the test creates), so the test knows which trials are RUNNING, in
which processes, when it strikes. Which worker dies is drawn from a seeded RNG; the seed is in every
assertion message (set ZOOMTUNE_FAULT_SEED to replay one). After each fault the suite checks what a
trusted database promises: no duplicated trial number, no lost told result, no trial RUNNING once
three heartbeat intervals have passed, and (SQLite) `PRAGMA integrity_check` is ok.

The ledger: a process appends "pid,number,value" (fsync'd) for the trial it finished last when it
starts its next one. By then `tell` has returned for it, so every ledger line is a told result,
and must be a COMPLETE trial with that value in the database, whatever was killed afterwards.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import zoomtune as zt
from helpers import wait_for
from pg_server import fresh_database, postgres_bin, postgres_server
from zoomtune.panda import interrupted
from zoomtune.records import BranchPayload, BranchReason, FailureCause, TrialRecord, TrialState

HEARTBEAT_S = 0.5
STALE_S = 3 * HEARTBEAT_S
N_TRIALS = 12
HELD_FROM = 4  # trials 0-3 finish freely; from trial 4 on, each waits at the gate

OBJECTIVE = textwrap.dedent("""
    import os, time
    from pathlib import Path

    _last = None  # (number, value) this process returned last; told once its next trial starts


    def _write_ledger():
        global _last
        if _last is not None:
            with open(os.environ["ZT_LEDGER"], "a") as ledger:
                ledger.write(f"{os.getpid()},{_last[0]},{_last[1]!r}\\n")
                ledger.flush()
                os.fsync(ledger.fileno())
            _last = None


    def work(trial):
        global _last
        _write_ledger()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("pid", os.getpid())
        trial.flush()  # the test sees which process runs the trial while it is held
        gate = Path(os.environ["ZT_GATE"])
        if trial.number >= int(os.environ["ZT_HELD_FROM"]):
            while not gate.exists():  # until the test opens the gate, or kills or interrupts us
                time.sleep(0.01)
        for step in range(3):
            trial.report(x * step, step)
            time.sleep(float(os.environ.get("ZT_STEP_S", "0")))  # a storm needs trials that last a while
        _last = (trial.number, x)
        return x
""")



def study_file(n_trials: int) -> str:
    return f"study: f\nobjective: faultobj:work\nn_trials: {n_trials}\nheartbeat_interval: {HEARTBEAT_S}\nseed: 1\n"



def fault_seed() -> int:
    """The seed of the "which worker" RNG: ZOOMTUNE_FAULT_SEED when set, else a fresh one (printed on failure)."""
    chosen = os.environ.get("ZOOMTUNE_FAULT_SEED")
    return int(chosen) if chosen else random.SystemRandom().randrange(2**32)


@dataclass
class Scene:
    """One fault scenario's folder, study file, gate, ledger and seeded RNG."""

    root: Path
    url: str
    seed: int = field(default_factory=fault_seed)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.gate, self.ledger = self.root / "gate", self.root / "ledger.csv"
        (self.root / "faultobj.py").write_text(OBJECTIVE)
        (self.root / "f.yaml").write_text(study_file(N_TRIALS))

    @property
    def why(self) -> str:
        """What every assertion message carries, to replay the run."""
        return f"fault seed {self.seed} (replay: ZOOMTUNE_FAULT_SEED={self.seed})"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "ZT_GATE": str(self.gate), "ZT_LEDGER": str(self.ledger),
                "ZT_HELD_FROM": str(HELD_FROM), **self.extra_env}

    def start(self, *args: str) -> subprocess.Popen[str]:
        """A `zoomtune` command in its own process group, with Ctrl-C's default handler (a shell that
        runs tests in the background may ignore SIGINT, and children inherit that)."""
        process = subprocess.Popen([sys.executable, "-m", "zoomtune", *args, "--storage", self.url, "-q"],
                                   cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
        self.processes.append(process)
        return process

    def zoomtune(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a `zoomtune` command to its end."""
        return subprocess.run([sys.executable, "-m", "zoomtune", *args, "--storage", self.url], cwd=self.root,
                              env=self.env, capture_output=True, text=True, timeout=240, check=False)

    def trials(self) -> list[TrialRecord]:
        try:
            return zt.load_study("f", storage=self.url).trials
        except zt.StudyNotFoundError:
            return []

    def held(self, count: int) -> list[TrialRecord]:
        """The trials waiting at the gate, once `count` of them are, each with its process id stored."""
        trials = self.trials()
        held = [t for t in trials if t.state is TrialState.RUNNING and "pid" in t.user_attrs]
        done = sum(t.state is TrialState.COMPLETE for t in trials)
        if any(p.poll() is not None for p in self.processes):
            raise AssertionError(f"a process ended before the fault: {self.outputs()}; {self.why}")
        return held if len(held) == count and done >= HELD_FROM else []

    def outputs(self) -> list[tuple[int | None, str, str]]:
        return [(p.returncode, *p.communicate(timeout=240)) if p.poll() is not None else (None, "", "")
                for p in self.processes]

    def finish(self, process: subprocess.Popen[str]) -> tuple[int, str, str]:
        out, err = process.communicate(timeout=240)
        return process.returncode, out, err

    def ledger_lines(self) -> list[tuple[int, int, float]]:
        if not self.ledger.exists():
            return []
        return [(int(pid), int(number), float(value)) for pid, number, value in
                (line.split(",") for line in self.ledger.read_text().splitlines())]

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate(timeout=60)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    made = Scene(tmp_path, f"sqlite:///{tmp_path / 'zoomtune.db'}")
    yield made
    made.stop_all()


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed")
    with postgres_server() as url:
        yield url


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet waited for, does not)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return status not in ("Z", "X")


def stale(scene: Scene) -> bool:
    """Whether every RUNNING trial's last heartbeat is older than three intervals (the stored one)."""
    study = zt.load_study("f", storage=scene.url)
    assert zt.study.stored_heartbeat(study.attrs) == HEARTBEAT_S, (study.attrs, scene.why)
    running = [t for t in study.trials if t.state is TrialState.RUNNING]
    return bool(running) and all(time.time() - last_heartbeat(scene, t) > STALE_S for t in running)


def stale_trials(scene: Scene) -> list[int]:
    """The RUNNING trials whose last heartbeat is older than three intervals."""
    return [t.number for t in scene.trials()
            if t.state is TrialState.RUNNING and time.time() - last_heartbeat(scene, t) > STALE_S]


def last_heartbeat(scene: Scene, trial: TrialRecord) -> float:
    """A trial's last heartbeat time, read from the database itself."""
    from sqlalchemy import create_engine, text

    engine = create_engine(scene.url)
    try:
        with engine.connect() as conn:
            return float(conn.execute(text("SELECT heartbeat FROM zt_trials WHERE trial_id = :i"),
                                      {"i": trial.trial_id}).scalar_one())
    finally:
        engine.dispose()


def check_promises(scene: Scene) -> list[TrialRecord]:
    """No duplicated number, no lost told result, nothing RUNNING once three heartbeats have passed
    since the last process ended (`zoomtune status` reaps what a dead worker left), an intact
    database; the trials."""
    wait_for(lambda: not any(alive(p.pid) for p in scene.processes), "every started process to end")
    trials = scene.trials()
    if any(t.state is TrialState.RUNNING for t in trials):
        wait_for(lambda: stale(scene), f"the dead workers' trials to go stale; {scene.why}")
        shown = scene.zoomtune("status", "f", "--limit", "0")
        assert shown.returncode == 0 and "RUNNING" not in shown.stdout, (shown.stdout, shown.stderr, scene.why)
        trials = scene.trials()
    assert not [t.number for t in trials if t.state is TrialState.RUNNING], scene.why
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials))), (numbers, scene.why)  # unique, and none skipped
    by_number = {t.number: t for t in trials}
    lines = scene.ledger_lines()
    assert len({n for _, n, _ in lines}) == len(lines), (lines, scene.why)  # each told once
    for pid, number, value in lines:
        record = by_number.get(number)
        assert record is not None and record.state is TrialState.COMPLETE and record.value == value, \
            (pid, number, value, record, scene.why)
        assert record.user_attrs["pid"] == pid, (record, scene.why)
    if scene.url.startswith("sqlite:///"):
        with sqlite3.connect(scene.url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], scene.why
    return trials


def counted(trials: list[TrialRecord]) -> int:
    """Trials that count toward the study's total: all but those interrupted or lost with their worker."""
    return sum(t.state is TrialState.COMPLETE or (t.state is TrialState.FAILED and not interrupted(t)) for t in trials)


def test_the_only_worker_sigkilled_leaves_no_running_trial_in_status(scene: Scene) -> None:
    run = scene.start("run", "f.yaml")
    [held] = wait_for(lambda: scene.held(1), "one trial held at the gate")
    os.kill(held.user_attrs["pid"], signal.SIGKILL)
    assert scene.finish(run)[0] == -signal.SIGKILL and held.user_attrs["pid"] == run.pid, scene.why
    assert scene.trials()[held.number].state is TrialState.RUNNING  # nobody is left to fail it yet
    # status reaps it on its first call after three of the study's stored heartbeat intervals
    wait_for(lambda: stale(scene), f"trial {held.number}'s heartbeat to go stale; {scene.why}")
    shown = scene.zoomtune("status", "f")
    assert shown.returncode == 0 and "RUNNING" not in shown.stdout, (shown.stdout, shown.stderr, scene.why)
    assert f"no heartbeat for {STALE_S:g} s" in " ".join(shown.stdout.split()), shown.stdout
    trials = check_promises(scene)
    record = trials[held.number]
    assert record.state is TrialState.FAILED and record.cause is FailureCause.WORKER_LOST, (record, scene.why)
    assert record.datetime_complete.timestamp() - last_heartbeat(scene, record) > STALE_S  # type: ignore[union-attr]
    assert len(scene.ledger_lines()) == HELD_FROM, scene.why  # trials 0-3, each logged when the next one started
    assert len(trials) == HELD_FROM + 1


def test_sigkill_of_one_of_four_run_workers_fails_its_trial_at_once_and_the_run_goes_on(scene: Scene) -> None:
    run = scene.start("run", "f.yaml", "--jobs", "4")
    held = wait_for(lambda: scene.held(4), "four trials held at the gate, one per worker process")
    pids = {t.user_attrs["pid"] for t in held}
    assert len(pids) == 4 and run.pid not in pids, (held, scene.why)
    victim = scene.rng.choice(sorted(held, key=lambda t: t.number))
    os.kill(victim.user_attrs["pid"], signal.SIGKILL)
    # the parent notices the dead child and fails its trial while the others still wait at the gate
    def victim_failed() -> TrialRecord | None:
        record = scene.trials()[victim.number]
        return record if record.state is TrialState.FAILED else None

    failed = wait_for(victim_failed, f"trial {victim.number} to be failed by the parent; {scene.why}")
    assert failed is not None and failed.cause is FailureCause.WORKER_LOST, (failed, scene.why)
    assert failed.error == "its worker process was killed by SIGKILL", (failed, scene.why)
    assert all(t.state is TrialState.RUNNING for t in scene.trials() if t.number in {h.number for h in held}
               and t.number != victim.number), scene.why
    scene.gate.touch()
    code, out, err = scene.finish(run)
    assert code == 0, (out, err, scene.why)
    trials = check_promises(scene)
    assert len(trials) == N_TRIALS, ([(t.number, t.state) for t in trials], scene.why)  # the run's budget, exactly
    assert [t.number for t in trials if t.state is not TrialState.COMPLETE] == [victim.number], scene.why
    assert len(scene.ledger_lines()) >= HELD_FROM, scene.why
    # the lost trial does not count toward the study's total (resume continues it: see the whole-run kill below)
    assert counted(trials) == N_TRIALS - 1 and interrupted(trials[victim.number]), scene.why


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_of_one_of_four_zoomtune_workers(scene: Scene, backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "postgresql":
        scene.url = fresh_database(request.getfixturevalue("postgres"))
    assert scene.zoomtune("run", "f.yaml", "-n", "1", "-q").returncode == 0, scene.why  # the study, from its file
    # no -n: each worker alone would run what the study lacks (11); together they stop at its total
    workers = [scene.start("worker", "f", "--max-retries", "1") for _ in range(4)]
    held = wait_for(lambda: scene.held(4), "four trials held at the gate, one per worker")
    assert {t.user_attrs["pid"] for t in held} == {w.pid for w in workers}, (held, scene.why)
    victim = scene.rng.choice(sorted(held, key=lambda t: t.number))
    dead = victim.user_attrs["pid"]
    os.kill(dead, signal.SIGKILL)
    # the survivors go on once the dead worker's trial is stale: the first to ask reaps it and retries it
    wait_for(lambda: stale_trials(scene) == [victim.number], f"trial {victim.number} to go stale; {scene.why}")
    scene.gate.touch()
    for worker in workers:
        code, out, err = scene.finish(worker)
        assert code == (-signal.SIGKILL if worker.pid == dead else 0), (out, err, scene.why)
    trials = check_promises(scene)
    lost = trials[victim.number]
    assert lost.state is TrialState.FAILED and lost.cause is FailureCause.WORKER_LOST, (lost, scene.why)
    assert f"no heartbeat for {STALE_S:g} s" in (lost.error or ""), (lost, scene.why)
    [retry] = [t for t in trials if t.parent == victim.number]
    assert retry.user_attrs["retries"] == 1 and retry.state is TrialState.COMPLETE, (retry, scene.why)
    assert retry.user_attrs["pid"] != dead
    assert [t.number for t in trials if t.state is not TrialState.COMPLETE] == [victim.number], scene.why
    # the total, give or take the trials that survivors started at the same instant as the last one
    # (each checks the study before it starts one): three survivors, at most two over
    assert N_TRIALS <= counted(trials) <= N_TRIALS + 2, ([(t.number, t.state) for t in trials], scene.why)


def test_sigkill_of_the_whole_run_then_resume_finishes_the_study(scene: Scene) -> None:
    run = scene.start("run", "f.yaml", "--jobs", "4")
    held = wait_for(lambda: scene.held(4), "four trials held at the gate, one per worker process")
    os.killpg(run.pid, signal.SIGKILL)  # the parent and its workers, at once
    assert scene.finish(run)[0] == -signal.SIGKILL
    wait_for(lambda: not any(alive(t.user_attrs["pid"]) for t in held), "every worker process to die")
    assert {t.number for t in scene.trials() if t.state is TrialState.RUNNING} == {t.number for t in held}
    wait_for(lambda: stale(scene), f"the killed trials' heartbeats to go stale; {scene.why}")
    scene.gate.touch()
    resumed = scene.zoomtune("resume", "f", "--jobs", "2")
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr, scene.why)
    trials = check_promises(scene)
    assert counted(trials) == N_TRIALS, ([(t.number, t.state, t.cause) for t in trials], scene.why)
    reasons = {e.trial_number: e.payload.reason for e in zt.load_study("f", storage=scene.url).events(
        zt.EventKind.BRANCH) if isinstance(e.payload, BranchPayload)}
    for killed in held:  # reaped FAILED (its worker was lost), then continued from its checkpoint
        record = trials[killed.number]
        assert record.state is TrialState.FAILED and record.cause is FailureCause.WORKER_LOST, (record, scene.why)
        [child] = [t for t in trials if t.parent == killed.number]
        assert child.state is TrialState.COMPLETE and reasons[child.number] is BranchReason.RESUME, scene.why
    assert len(scene.ledger_lines()) >= HELD_FROM, scene.why


@pytest.mark.parametrize(("signum", "jobs", "to_group"), [
    (signal.SIGINT, 4, True),  # Ctrl-C in a terminal: the parent and every worker get it
    (signal.SIGTERM, 4, True),  # `kill -TERM -PGID`, a service manager stopping the run
    (signal.SIGINT, 1, False),  # one job, in the parent's own process
], ids=["sigint-group-jobs4", "sigterm-group-jobs4", "sigint-jobs1"])
def test_an_interrupted_run_leaves_no_trial_running(scene: Scene, signum: signal.Signals, jobs: int,
                                                    to_group: bool) -> None:
    run = scene.start("run", "f.yaml", "--jobs", str(jobs))
    held = wait_for(lambda: scene.held(jobs), f"{jobs} trial(s) held at the gate")
    if to_group:
        os.killpg(run.pid, signum)
    else:
        run.send_signal(signum)
    code, out, err = scene.finish(run)
    assert code == (130 if signum is signal.SIGINT else 143), (code, out, err, scene.why)
    assert "Traceback" not in err, err
    # at once, not after three heartbeats: every held trial was told FAILED (interrupted) before the exit
    trials = scene.trials()
    assert [(t.number, t.state, t.cause) for t in trials if t.state is not TrialState.COMPLETE] == [
        (t.number, TrialState.FAILED, FailureCause.INTERRUPTED) for t in held], (trials, err, scene.why)
    assert not [t.user_attrs["pid"] for t in held if alive(t.user_attrs["pid"])], scene.why
    check_promises(scene)


STORM_TRIALS, STORM_KILLS = 40, 3


def test_a_storm_of_sigkills_at_random_moments_during_a_parallel_run(scene: Scene) -> None:
    """Workers die wherever they happen to be: in the objective, asking, telling, mid-commit."""
    scene.extra_env.update(ZT_HELD_FROM=str(10**9), ZT_STEP_S="0.05")  # no gate
    (scene.root / "storm.yaml").write_text(study_file(STORM_TRIALS))
    run = scene.start("run", "storm.yaml", "--jobs", "4")
    killed: list[int] = []
    for threshold in sorted(scene.rng.sample(range(4, STORM_TRIALS // 2), STORM_KILLS)):
        def running_pids(at_least: int = threshold) -> list[int] | bool:
            trials = scene.trials()
            if run.poll() is not None:
                return True
            if sum(t.state is TrialState.COMPLETE for t in trials) < at_least:
                return []
            return sorted({t.user_attrs["pid"] for t in trials if t.state is TrialState.RUNNING
                           and "pid" in t.user_attrs and t.user_attrs["pid"] not in killed})

        pids = wait_for(running_pids, f"{threshold} trials complete and one running; {scene.why}")
        if pids is True:
            break  # the run ended first: fewer faults this time (counted below)
        victim = scene.rng.choice(pids)  # type: ignore[arg-type]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
    code, out, err = scene.finish(run)
    assert code == 0, (out, err, scene.why)
    assert killed, f"no fault was injected: the run ended first; {scene.why}"
    trials = check_promises(scene)
    lost = [t for t in trials if t.state is not TrialState.COMPLETE]
    assert all(t.state is TrialState.FAILED and t.cause is FailureCause.WORKER_LOST for t in lost), (lost, scene.why)
    assert {t.user_attrs.get("pid") for t in lost} <= set(killed), (lost, killed, scene.why)
    # a kill between taking a budget slot and committing the new trial costs the slot; otherwise the
    # run holds exactly its n_trials
    assert STORM_TRIALS - len(killed) <= len(trials) <= STORM_TRIALS, (len(trials), killed, scene.why)
    assert len(lost) <= len(killed), scene.why


def test_sigkill_of_the_parent_alone_stops_its_workers(scene: Scene) -> None:
    """`kill -9` of the run's own process id: no worker carries on orphaned, no trial stays RUNNING."""
    run = scene.start("run", "f.yaml", "--jobs", "4")
    held = wait_for(lambda: scene.held(4), "four trials held at the gate, one per worker process")
    run.kill()
    assert run.wait(timeout=60) == -signal.SIGKILL  # not communicate(): an orphan would hold the pipes open
    wait_for(lambda: not any(alive(t.user_attrs["pid"]) for t in held), f"the orphaned workers to stop; {scene.why}")
    # each told its trial FAILED (interrupted) as it stopped: nothing is left for the reaper
    trials = scene.trials()
    assert [(t.number, t.state, t.cause) for t in trials if t.state is not TrialState.COMPLETE] == [
        (t.number, TrialState.FAILED, FailureCause.INTERRUPTED) for t in held], (trials, scene.why)
    assert len(trials) == HELD_FROM + 4, scene.why  # and none started a trial after the parent died
    check_promises(scene)
