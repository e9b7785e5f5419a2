"""Panda mode through the command line, with real processes and real SQLite."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import zoomtune as zt

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def workdir(tmp_path):
    for name in ("objectives.py", "panda.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path)
    return tmp_path


def zoomtune(*args, cwd, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "zoomtune", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})}, **kwargs)


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def reports(url, number=0):
    try:
        return zt.load_study("panda", storage=url).trial(number).intermediate_values
    except (zt.StudyNotFoundError, zt.TrialNotFoundError):
        return {}


def test_a_nudge_from_another_process_changes_the_running_trial(workdir):
    url = f"sqlite:///{workdir / 'zoomtune.db'}"
    babysitter = subprocess.Popen([sys.executable, "-m", "zoomtune", "babysit", "panda.yaml", "lr=0.01"],
                                  cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "PANDA_STEP_SECONDS": "0.3"})
    wait_for(lambda: len(reports(url)) >= 3)
    nudged = zoomtune("nudge", "panda", "0", "lr=0.3", cwd=workdir)
    assert nudged.returncode == 0 and "applied at its next report" in nudged.stdout
    out, err = babysitter.communicate(timeout=120)
    assert babysitter.returncode == 0, err
    assert "babysitting panda" in err and "step" in err  # the live panel with its curve
    study = zt.load_study("panda", storage=url)
    trial = study.trial(0)
    assert trial.state is zt.TrialState.COMPLETE and trial.params["lr"] == 0.3
    [event] = study.events(zt.EventKind.NUDGE)
    step = event.step
    assert event.payload == {"old": {"lr": 0.01}, "new": {"lr": 0.3}}
    curve = trial.intermediate_values
    before = curve[step] / curve[step - 1]
    after = curve[step + 2] / curve[step + 1]
    assert before == pytest.approx(0.99) and after == pytest.approx(0.7)
    tree = zoomtune("status", "panda", "--tree", cwd=workdir).stdout
    assert "nudged at step" in tree and "lr 0.01→0.3" in tree


def test_bad_nudges_exit_2_with_one_line(workdir):
    zoomtune("babysit", "panda.yaml", "lr=0.01", cwd=workdir, env={"PANDA_STEP_SECONDS": "0"})
    for args, fragment in [(["nudge", "panda", "0", "momentum=0.9"], "parameter 'momentum': trial 0 has no such"),
                           (["nudge", "panda", "0", "lr=abc"], "parameter 'lr': must be a number"),
                           (["nudge", "panda", "0", "lr"], "must look like name=value"),
                           (["nudge", "panda", "7", "lr=0.1"], "has no trial 7"),
                           (["nudge", "panda", "0", "lr=0.1"], "is COMPLETE; only a RUNNING trial")]:
        result = zoomtune(*args, cwd=workdir)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr, (args, lines)


def test_a_branch_resumes_from_the_parents_checkpoint_with_the_new_value(workdir):
    url = f"sqlite:///{workdir / 'zoomtune.db'}"
    assert zoomtune("babysit", "panda.yaml", "lr=0.01", cwd=workdir, env={"PANDA_STEP_SECONDS": "0"}).returncode == 0
    branched = zoomtune("branch", "panda", "0", "--step", "10", "lr=0.1", cwd=workdir)
    assert branched.returncode == 0 and "queued trial 1" in branched.stdout
    assert zoomtune("resume", "panda", cwd=workdir, env={"PANDA_STEP_SECONDS": "0"}).returncode == 0
    study = zt.load_study("panda", storage=url)
    parent, child = study.trial(0), study.trial(1)
    assert child.parent == 0 and child.params["lr"] == 0.1 and child.state is zt.TrialState.COMPLETE
    # checkpoints are kept every 10th step: step 9 is the latest at or before 10
    assert min(child.intermediate_values) == 10
    assert child.intermediate_values[10] == pytest.approx(parent.intermediate_values[9] * 0.9)
    # retention keeps the disk bounded: last two, best, every 10th step
    kept = sorted(p.name for p in (workdir / "zoomtune-artifacts" / "panda" / "trial-0").iterdir())
    assert kept == ["step-19.pkl", "step-28.pkl", "step-29.pkl", "step-9.pkl"]


def test_an_interrupted_babysit_resumes(workdir):
    url = f"sqlite:///{workdir / 'zoomtune.db'}"
    # a shell that runs CI in the background may ignore SIGINT, and children inherit that: restore it
    babysitter = subprocess.Popen([sys.executable, "-m", "zoomtune", "babysit", "panda.yaml", "lr=0.05"],
                                  cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "PANDA_STEP_SECONDS": "0.4"},
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    wait_for(lambda: len(reports(url)) >= 4)
    babysitter.send_signal(2)  # Ctrl-C
    out, _ = babysitter.communicate(timeout=60)
    assert babysitter.returncode == 130 and "zoomtune resume panda 0" in out
    first = zt.load_study("panda", storage=url).trial(0)
    assert first.state is zt.TrialState.FAILED and first.error.startswith("KeyboardInterrupt")
    resumed = zoomtune("resume", "panda", "0", cwd=workdir, env={"PANDA_STEP_SECONDS": "0"})
    assert resumed.returncode == 0, resumed.stderr
    second = zt.load_study("panda", storage=url).trial(1)
    assert second.parent == 0 and second.state is zt.TrialState.COMPLETE
    # it continues after the last checkpoint (Ctrl-C may land between a report and its checkpoint)
    assert max(first.intermediate_values) <= min(second.intermediate_values) <= max(first.intermediate_values) + 1
    assert max(second.intermediate_values) == 29


def test_plan_says_panda_or_caviar_from_a_timed_trial(workdir):
    from zoomtune.plan import asha_cost, make_plan

    assert asha_cost(1) == 1 and asha_cost(9) == pytest.approx(1 + 2 / 3 + 6 / 9)
    tight = make_plan(trial_seconds=600, reports=20, cores=2, gpus=0, budget_seconds=1800)
    assert tight.mode == "panda" and tight.total_trials == 6 and "babysit" in tight.advice[0]
    roomy = make_plan(trial_seconds=10, reports=20, cores=2, gpus=4, budget_seconds=3600)
    assert roomy.mode == "caviar" and roomy.parallel == 4 and roomy.total_trials == 1440
    assert roomy.early_stopping_pays and roomy.trials_with_asha > 3 * roomy.total_trials
    assert not make_plan(10, 1, 2, 0, 3600).early_stopping_pays
    result = zoomtune("plan", "panda.yaml", "--budget", "0.05", cwd=workdir, env={"PANDA_STEP_SECONDS": "0.01"})
    assert result.returncode == 0, result.stderr
    assert "reports per trial" in result.stdout and "30" in result.stdout and "caviar" in result.stdout
