"""Panda mode through the command line, with real processes and real SQLite."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import zoomtune as zt
from helpers import wait_for

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# The example's panda_curve, held after its checkpoint at step $PANDA_HOLD_AT: it touches the file
# $PANDA_HELD and waits for the file $PANDA_GO. The test acts (nudges, presses Ctrl-C) while the
# trial is held, so nothing depends on how slow its steps are.
HELD_OBJECTIVE = textwrap.dedent("""
    import os, time
    from pathlib import Path

    import objectives


    def panda_curve(trial):
        hold_at, save = int(os.environ.get("PANDA_HOLD_AT", "-1")), trial.save_checkpoint

        def save_then_hold(state, *args, **kwargs):
            save(state, *args, **kwargs)
            if state["step"] == hold_at:
                Path(os.environ["PANDA_HELD"]).touch()
                deadline = time.monotonic() + 120
                while not Path(os.environ.get("PANDA_GO", "")).is_file():
                    if time.monotonic() > deadline:
                        raise RuntimeError("held for 120 s: the test never let the trial go on")
                    time.sleep(0.01)

        trial.save_checkpoint = save_then_hold
        return objectives.panda_curve(trial)
""")


@pytest.fixture
def workdir(tmp_path):
    for name in ("objectives.py", "panda.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path)
    (tmp_path / "held.py").write_text(HELD_OBJECTIVE)
    study_file = (tmp_path / "panda.yaml").read_text()
    assert "objective: objectives:panda_curve" in study_file
    (tmp_path / "held.yaml").write_text(study_file.replace("objectives:panda_curve", "held:panda_curve"))
    return tmp_path


def zoomtune(*args, cwd, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "zoomtune", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})}, check=False, **kwargs)


def babysit_held(workdir, lr, step, **kwargs):
    """`zoomtune babysit held.yaml lr=...` in the background, held after its checkpoint at `step`;
    returns the process once the trial is held there."""
    held = workdir / "held"
    env = {**os.environ, "PANDA_STEP_SECONDS": "0", "PANDA_HOLD_AT": str(step), "PANDA_HELD": str(held),
           "PANDA_GO": str(workdir / "go")}
    babysitter = subprocess.Popen([sys.executable, "-m", "zoomtune", "babysit", "held.yaml", f"lr={lr}"],
                                  cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                  **kwargs)
    wait_for(lambda: held.exists() or babysitter.poll() is not None, f"the babysat trial to reach step {step}")
    assert held.exists(), babysitter.communicate()
    return babysitter


def test_a_nudge_from_another_process_changes_the_running_trial(workdir):
    url = f"sqlite:///{workdir / 'zoomtune.db'}"
    babysitter = babysit_held(workdir, 0.01, step=2)
    assert zt.load_study("panda", storage=url).trial(0).state is zt.TrialState.RUNNING
    nudged = zoomtune("nudge", "panda", "0", "lr=0.3", cwd=workdir)
    assert nudged.returncode == 0 and "applied at its next report" in nudged.stdout
    (workdir / "go").touch()
    _out, err = babysitter.communicate(timeout=120)
    assert babysitter.returncode == 0, err
    assert "babysitting panda" in err and "step" in err  # the live panel with its curve
    study = zt.load_study("panda", storage=url)
    trial = study.trial(0)
    assert trial.state is zt.TrialState.COMPLETE and trial.params["lr"] == 0.3
    [event] = study.events(zt.EventKind.NUDGE)
    step = event.step
    assert step == 3  # held after step 2, it takes the nudge at its next report
    assert (event.payload.old, event.payload.new) == ({"lr": 0.01}, {"lr": 0.3})
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
    babysitter = babysit_held(workdir, 0.05, step=3,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    babysitter.send_signal(2)  # Ctrl-C, while the trial is held after its checkpoint at step 3
    out, _ = babysitter.communicate(timeout=60)
    assert babysitter.returncode == 130 and "zoomtune resume panda 0" in out
    first = zt.load_study("panda", storage=url).trial(0)
    assert first.state is zt.TrialState.FAILED and first.error.startswith("KeyboardInterrupt")
    assert sorted(first.intermediate_values) == [0, 1, 2, 3]
    resumed = zoomtune("resume", "panda", "0", cwd=workdir, env={"PANDA_STEP_SECONDS": "0"})
    assert resumed.returncode == 0, resumed.stderr
    second = zt.load_study("panda", storage=url).trial(1)
    assert second.parent == 0 and second.state is zt.TrialState.COMPLETE
    # it continues after the last checkpoint, step 3
    assert sorted(second.intermediate_values) == list(range(4, 30))
    assert second.intermediate_values[4] == pytest.approx(first.intermediate_values[3] * 0.95)


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
