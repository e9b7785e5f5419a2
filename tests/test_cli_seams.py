"""The command line's seams (issue 10): one way to reopen a study, a study file's n_trials as the
study's total, babysit's checks, SIGTERM, reaping in `status`, exit statuses, branch steps, stored
seeds, and the smaller promises. Real subprocesses on real SQLite files; no mocks; every wait is on
a file or on the storage."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import zoomtune as zt
from zoomtune.records import BranchReason, FailureCause, TrialState

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# `line`: minimise x over 5 reports, stopping when told. It records its process id first (flushed,
# so the test sees it while the trial runs). With BLOCK_AT=all (or the trial's number) it touches
# running-<number> and waits there until it is interrupted or killed.
OBJECTIVES = textwrap.dedent("""
    import os, time
    from pathlib import Path

    import zoomtune


    def line(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("pid", os.getpid())
        trial.flush()
        block = os.environ.get("BLOCK_AT")
        if block == "all" or block == str(trial.number):
            Path(f"running-{trial.number}").touch()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # until the test interrupts or kills this process
                time.sleep(0.01)
            raise RuntimeError("blocked for 120 s: the test never stopped this trial")
        for step in range(5):
            trial.report(x, step)
            if trial.should_stop():
                raise zoomtune.TrialStopped()
        return x


    def boom(trial):
        trial.suggest_float("x", 0.0, 1.0)
        raise ValueError("boom")
""")


def zoomtune(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "zoomtune", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=240, env={**os.environ, **(env or {})}, check=False)


def start(*args, cwd, env=None):
    return subprocess.Popen([sys.executable, "-m", "zoomtune", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def wait_for(condition, what, timeout=120.0):
    """Poll until `condition()` is truthy; the timeout only keeps a broken run from hanging."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last saw {value!r})")
        time.sleep(0.02)


def one_error_line(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stdout, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def trials_of(url, name="s"):
    try:
        return zt.load_study(name, storage=url).trials
    except zt.StudyNotFoundError:
        return []


def heartbeats_stale(db, interval):
    """Whether every RUNNING trial's last heartbeat in the SQLite file `db` is older than three intervals."""
    with sqlite3.connect(db) as conn:
        beats = [row[0] for row in conn.execute("SELECT heartbeat FROM zt_trials WHERE state = 'RUNNING'")]
    return bool(beats) and all(time.time() - beat > 3 * interval + 0.05 for beat in beats)


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def fine(trials):
    """Finished trials that count toward n_trials: all but the interrupted and the lost."""
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.STOPPED)
            or (t.state is TrialState.FAILED and t.cause in (FailureCause.ERROR, FailureCause.BAD_VALUE))]


def branch_reasons(url, name="s"):
    return {e.trial_number: e.payload for e in zt.load_study(name, storage=url).events(zt.EventKind.BRANCH)}


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "obj.py").write_text(OBJECTIVES)
    for name in ("objectives.py", "panda.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path)
    return tmp_path


def study_file(workdir, body, name="s.yaml"):
    (workdir / name).write_text(textwrap.dedent(body))
    return name


# -- (2) one way to reopen a study -------------------------------------------------------------------

def test_resume_and_worker_reopen_a_study_with_its_stored_sampler_and_scheduler(workdir):
    url = f"sqlite:///{workdir / 'zoomtune.db'}"
    study_file(workdir, """\
        study: s
        objective: obj:line
        n_trials: 8
        seed: 3
        sampler: {name: tpe, n_startup_trials: 3}
        scheduler: {name: asha, min_resource: 1, reduction_factor: 2}
    """)
    assert zoomtune("run", "s.yaml", "-n", "6", "-q", cwd=workdir).returncode == 0
    study = zt.load_study("s", storage=url)
    queued = [study.enqueue({"x": 0.999}) for _ in range(2)]  # worse than everything at the first rung
    resumed = zoomtune("resume", "s", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert "TPESampler(" in resumed.stdout and "ASHA(" in resumed.stdout
    by_resume = [zt.load_study("s", storage=url).trial(n) for n in queued]
    assert [(t.state, sorted(t.intermediate_values)) for t in by_resume] == [(TrialState.STOPPED, [0])] * 2
    queued = [study.enqueue({"x": 0.999}) for _ in range(2)]
    joined = zoomtune("worker", "s", "-n", "2", "-q", cwd=workdir)
    assert joined.returncode == 0, joined.stderr
    by_worker = [zt.load_study("s", storage=url).trial(n) for n in queued]
    assert [(t.state, sorted(t.intermediate_values)) for t in by_worker] == [(TrialState.STOPPED, [0])] * 2


def test_run_refuses_a_file_that_no_longer_matches_its_study(workdir):
    study_file(workdir, "study: s\nobjective: obj:line\nn_trials: 2\n")
    assert zoomtune("run", "s.yaml", "-q", cwd=workdir).returncode == 0
    study_file(workdir, "study: s\nobjective: obj:line\nn_trials: 2\nsampler: sobol\n")
    one_error_line(zoomtune("run", "s.yaml", "-q", cwd=workdir), "sampler: study 's'", "was created with",
                   "{'name': 'sobol'}")
    assert len(trials_of(f"sqlite:///{workdir / 'zoomtune.db'}")) == 2


# -- (3) n_trials is the study's total ----------------------------------------------------------------

def test_resume_after_a_crash_finishes_the_files_n_trials(workdir):
    db = workdir / "zoomtune.db"
    url = f"sqlite:///{db}"
    study_file(workdir, "study: s\nobjective: obj:line\nn_trials: 8\nheartbeat_interval: 0.2\n")
    crashing = start("run", "s.yaml", "-q", cwd=workdir, env={"BLOCK_AT": "3"})
    wait_for(lambda: (workdir / "running-3").exists() or crashing.poll() is not None, "trial 3 to start")
    assert [t.state for t in trials_of(url)] == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING]
    crashing.kill()  # SIGKILL: no handler runs, trial 3 stays RUNNING
    crashing.communicate(timeout=60)
    wait_for(lambda: heartbeats_stale(db, 0.2), "trial 3's heartbeat to go stale")

    resumed = zoomtune("resume", "s", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 of 8 trials finished" in resumed.stdout and "re-running interrupted trial 3" in resumed.stdout
    trials = trials_of(url)
    assert len(fine(trials)) == 8 and not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert trials[3].state is TrialState.FAILED and trials[3].cause is FailureCause.WORKER_LOST
    [child] = [t for t in trials if t.parent == 3]
    assert branch_reasons(url)[child.number].reason is BranchReason.RESUME and child.state is TrialState.COMPLETE

    again = zoomtune("run", "s.yaml", "-q", cwd=workdir)  # the same file again: nothing is missing
    assert again.returncode == 0 and "has its 8 trials" in again.stdout and len(trials_of(url)) == len(trials)
    more = zoomtune("run", "s.yaml", "-n", "2", "-q", cwd=workdir)  # an explicit -n: that many more
    assert more.returncode == 0 and len(fine(trials_of(url))) == 10
    assert "N more trials in this invocation" in " ".join(zoomtune("run", "--help", cwd=workdir).stdout.split())


# -- (4) babysit checks first, then runs its own trial --------------------------------------------------

def test_babysit_checks_its_values_first_and_runs_exactly_its_own_trial(workdir):
    url = f"sqlite:///{workdir / 'zoomtune.db'}"
    fast = {"PANDA_STEP_SECONDS": "0"}
    assert zoomtune("babysit", "panda.yaml", "lr=0.01", cwd=workdir, env=fast).returncode == 0
    assert zoomtune("branch", "panda", "0", "lr=0.1", cwd=workdir).returncode == 0  # trial 1 waits
    for value, fragment in [("momentum=0.9", "parameter 'momentum': study 'panda' has no such parameter (it has: lr)"),
                            ("lr=5", "parameter 'lr': must lie in"), ("lr=abc", "parameter 'lr': must be a number"),
                            ("lr", "must look like name=value")]:
        one_error_line(zoomtune("babysit", "panda.yaml", value, cwd=workdir, env=fast), fragment)
    assert len(trials_of(url, "panda")) == 2  # nothing was queued by the refused ones
    babysat = zoomtune("babysit", "panda.yaml", "lr=0.5", cwd=workdir, env=fast)
    assert babysat.returncode == 0 and "trial 2 ended COMPLETE" in babysat.stdout, babysat.stderr
    trials = trials_of(url, "panda")
    assert trials[2].params == {"lr": 0.5} and trials[2].state is TrialState.COMPLETE
    assert trials[1].state is TrialState.WAITING  # the branch still waits for `resume`

    # with a declared space, names and values are checked against it before any trial exists
    study_file(workdir, "study: d\nobjective: obj:line\nn_trials: 1\nspace:\n  x: {type: float, low: 0, high: 1}\n",
               "d.yaml")
    one_error_line(zoomtune("babysit", "d.yaml", "x=2", cwd=workdir), "parameter 'x': must lie in Float(")
    one_error_line(zoomtune("babysit", "d.yaml", "y=0.5", cwd=workdir), "study 'd' has no such parameter (it has: x)")
    assert trials_of(url, "d") == []


# -- (5) SIGTERM -----------------------------------------------------------------------------------------

def test_sigterm_stops_a_parallel_run_and_resume_takes_its_trials(workdir):
    url = f"sqlite:///{workdir / 'zoomtune.db'}"
    study_file(workdir, "study: s\nobjective: obj:line\nn_trials: 4\n")
    run = start("run", "s.yaml", "--jobs", "2", "-q", cwd=workdir, env={"BLOCK_AT": "all"})

    def two_running():
        running = [t for t in trials_of(url) if t.state is TrialState.RUNNING and "pid" in t.user_attrs]
        return running if len(running) == 2 or run.poll() is not None else None

    running = wait_for(two_running, "two trials to run in two worker processes")
    pids = {t.user_attrs["pid"] for t in running}
    assert len(pids) == 2 and run.pid not in pids
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 143, (out, err)
    assert ("interrupted by SIGTERM: running trials are marked FAILED (interrupted); `zoomtune resume s` continues"
            in err.splitlines())
    trials = trials_of(url)
    assert not [t for t in trials if t.state is TrialState.RUNNING]
    assert [(t.number, t.state, t.cause) for t in trials] == [
        (t.number, TrialState.FAILED, FailureCause.INTERRUPTED) for t in running]
    assert not [pid for pid in pids if alive(pid)]

    resumed = zoomtune("resume", "s", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    trials = trials_of(url)
    children = {t.parent: t for t in trials if t.parent is not None}
    assert set(children) == {t.number for t in running}
    reasons = branch_reasons(url)
    assert all(reasons[c.number].reason is BranchReason.RESUME and c.state is TrialState.COMPLETE
               for c in children.values())
    assert len(fine(trials)) == 4


# -- (6) status reaps dead trials, with each study's interval ------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import zoomtune as zt

    study = zt.load_study(sys.argv[2], storage=sys.argv[1])
    trial = study.ask()                     # RUNNING, its heartbeat sent from here
    Path(sys.argv[3]).touch()
    time.sleep(600)
""")


@pytest.mark.parametrize("listing", [True, False], ids=["studies-list", "one-study"])
def test_status_fails_the_trials_of_dead_workers_after_the_studys_own_interval(workdir, listing):
    db = workdir / "zoomtune.db"
    url = f"sqlite:///{db}"
    zt.create_study("quick", storage=url, heartbeat_interval=0.2)
    (workdir / "holder.py").write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, "holder.py", url, "quick", "held"], cwd=workdir)
    wait_for(lambda: (workdir / "held").exists() or holder.poll() is not None, "the holder to start a trial")
    holder.kill()
    holder.wait(timeout=60)
    wait_for(lambda: heartbeats_stale(db, 0.2), "the dead trial's heartbeat to go stale")
    shown = zoomtune("status", *([] if listing else ["quick"]), cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    [trial] = trials_of(url, "quick")
    assert trial.state is TrialState.FAILED and trial.cause is FailureCause.WORKER_LOST
    if listing:
        [row] = [line for line in shown.stdout.splitlines() if "quick" in line]
        cells = [c.strip() for c in row.replace("┃", "│").split("│") if c.strip()]
        assert cells[:6] == ["quick", "minimize", "1", "0", "0", "1"], cells  # trials, complete, running, failed
    else:
        assert "FAILED" in shown.stdout and "RUNNING" not in shown.stdout


# -- (7) a failed trial's error, and the exit status ------------------------------------------------------

def test_failed_trials_log_their_error_and_a_run_with_no_result_exits_1(workdir):
    study_file(workdir, "study: s\nobjective: obj:boom\nn_trials: 3\n")
    result = zoomtune("run", "s.yaml", "-q", cwd=workdir)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "trial 0 failed: ValueError: boom" in result.stderr and "failed: None" not in result.stderr
    assert "none of the 3 trials run completed" in result.stdout
    helped = " ".join(zoomtune("--help", cwd=workdir).stdout.split())
    assert "1 the run finished but none of its trials completed" in helped and "2 a user error" in helped
    assert "130 / 143" in helped


# -- (8) branch says which checkpoint it starts from --------------------------------------------------------

def test_branch_reports_the_checkpoint_step_it_uses(workdir):
    fast = {"PANDA_STEP_SECONDS": "0"}
    assert zoomtune("babysit", "panda.yaml", "lr=0.01", cwd=workdir, env=fast).returncode == 0
    branched = zoomtune("branch", "panda", "0", "--step", "10", "lr=0.1", cwd=workdir)
    assert branched.returncode == 0, branched.stderr
    assert "queued trial 1, branched from trial 0 from its checkpoint at step 9" in branched.stdout
    one_error_line(zoomtune("branch", "panda", "0", "--step", "100", cwd=workdir),
                   "step: trial 0 of study 'panda' reported up to step 29")
    study_file(workdir, "study: s\nobjective: obj:line\nn_trials: 1\n")
    assert zoomtune("run", "s.yaml", "-q", cwd=workdir).returncode == 0
    scratch = zoomtune("branch", "s", "0", "--step", "3", cwd=workdir)
    assert "from scratch: trial 0 saved no checkpoint at or before step 3" in scratch.stdout, scratch.stdout


# -- (9) an unseeded study keeps the seed it drew -----------------------------------------------------------

def test_an_unseeded_study_samples_on_with_its_stored_seed(workdir):
    study_file(workdir, "study: s\nobjective: obj:line\nn_trials: 100\n")
    one, two = f"sqlite:///{workdir / 'one.db'}", f"sqlite:///{workdir / 'two.db'}"
    for _ in range(2):
        assert zoomtune("run", "s.yaml", "-n", "3", "-q", "--storage", one, cwd=workdir).returncode == 0
    seed = zt.load_study("s", storage=one).attrs["sampler_seed"]
    assert isinstance(seed, int)
    assert zoomtune("run", "s.yaml", "-n", "6", "-q", "--storage", two, "--seed", str(seed),
                    cwd=workdir).returncode == 0
    assert [t.params for t in trials_of(one)] == [t.params for t in trials_of(two)]


# -- (11) the smaller promises ---------------------------------------------------------------------------

def test_grid_without_a_space_is_refused_when_the_file_is_read(workdir):
    study_file(workdir, "study: g\nobjective: obj:line\nn_trials: 3\nsampler: grid\n")
    one_error_line(zoomtune("run", "s.yaml", cwd=workdir), "s.yaml: sampler: grid needs a declared space")
    assert not (workdir / "zoomtune.db").exists()


def test_messages_name_the_study_by_its_name(workdir):
    assert zoomtune("babysit", "panda.yaml", "lr=0.01", cwd=workdir, env={"PANDA_STEP_SECONDS": "0"}).returncode == 0
    for args in (["nudge", "panda", "7", "lr=0.1"], ["branch", "panda", "7"], ["resume", "panda", "7"]):
        line = one_error_line(zoomtune(*args, cwd=workdir), "study 'panda' has no trial 7")
        assert "#" not in line, line


def test_plan_leaves_nothing_behind_and_reads_a_studys_own_trials(workdir):
    planned = zoomtune("plan", "panda.yaml", "--budget", "1", cwd=workdir, env={"PANDA_STEP_SECONDS": "0"})
    assert planned.returncode == 0, planned.stderr
    assert "timing one trial" in planned.stdout
    assert not (workdir / "zoomtune-artifacts").exists() and not (workdir / "zoomtune.db").exists()
    assert "--storage" in zoomtune("plan", "--help", cwd=workdir).stdout
    assert zoomtune("babysit", "panda.yaml", "lr=0.01", cwd=workdir, env={"PANDA_STEP_SECONDS": "0"}).returncode == 0
    again = zoomtune("plan", "panda.yaml", "--budget", "1", cwd=workdir)
    assert again.returncode == 0 and "median of 1 completed trials of panda" in again.stdout
    assert "timing one trial" not in again.stdout


def test_demo_quick_prints_its_own_settings_and_writes_the_report(tmp_path):
    pytest.importorskip("torch")
    result = zoomtune("demo", "--quick", "--jobs", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())  # the banner wraps
    assert "zoomtune demo --quick: tuning a batch-norm MLP on digits" in out, out
    assert "a Gaussian process on log / log1m scales" in out, out
    assert "up to 6 epochs per trial (ASHA stops the weak ones at 2)" in out and "12 trials (at most 4 min)" in out
    assert "min budget" not in out and "at 2 and 6" not in out
    report = tmp_path / "report.html"
    if importlib.util.find_spec("plotly") is not None:
        assert report.is_file() and report.stat().st_size > 100_000 and "report: " in result.stdout
    else:
        assert "needs the dashboard extra" in result.stdout and not report.exists()
