"""The command line, run as a real subprocess: exit codes, one-line errors, output."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def zoomtune(*args, cwd):
    return subprocess.run([sys.executable, "-m", "zoomtune", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def assert_user_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def workdir(tmp_path):
    shutil.copy(EXAMPLES / "objectives.py", tmp_path)
    shutil.copy(EXAMPLES / "quickstart.yaml", tmp_path)
    return tmp_path


# What would make `zoomtune --help` slow to start: deep-learning and cluster engines, data frames,
# the database toolkit, plotting and the web server. Commands import them when they need them.
HEAVY = {"torch", "tensorflow", "jax", "ray", "dask", "distributed", "pandas", "sqlalchemy", "matplotlib",
         "plotly", "sklearn", "starlette", "uvicorn"}


def test_help_starts_fast(tmp_path):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "zoomtune", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "run" in result.stdout and "status" in result.stdout
    # -X importtime writes one "import time: self | cumulative | module" line per module imported
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "zoomtune" in imported and "click" in imported  # the listing is complete enough to judge
    assert not imported & HEAVY, sorted(imported & HEAVY)


def test_status_loads_no_numerical_stack(workdir):
    """`zoomtune status` must stay quick on a big study: SciPy (0.4 s, 18 MB) loads only when a sampler fits."""
    assert zoomtune("run", "quickstart.yaml", "-n", "2", "-q", cwd=workdir).returncode == 0
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "zoomtune", "status", "quickstart"],
                            cwd=workdir, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "quickstart" in result.stdout, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "sqlalchemy" in imported and "scipy" not in imported


def test_run_then_status(workdir):
    result = zoomtune("run", "quickstart.yaml", "-n", "12", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "best trial: #" in result.stdout and "zoomtune status quickstart" in result.stdout
    assert (workdir / "zoomtune.db").exists()
    listing = zoomtune("status", cwd=workdir)
    assert listing.returncode == 0 and "quickstart" in listing.stdout and "12" in listing.stdout
    trials = zoomtune("status", "quickstart", "--best", "--limit", "3", cwd=workdir)
    assert trials.returncode == 0 and "showing 3 of 12 trials" in trials.stdout and "COMPLETE" in trials.stdout
    again = zoomtune("run", "quickstart.yaml", "-n", "3", "-q", cwd=workdir)
    assert again.returncode == 0 and "12 trials so far" in again.stdout


def test_progress_bar_shows_done_failed_and_best(workdir):
    result = zoomtune("run", "quickstart.yaml", "-n", "5", cwd=workdir)
    assert "5/5" in result.stderr and "failed 0" in result.stderr and "best " in result.stderr


def test_bad_yaml(workdir):
    (workdir / "bad.yaml").write_text("study: [unclosed\nobjective: x:y\n")
    assert_user_error(zoomtune("run", "bad.yaml", cwd=workdir), "bad.yaml", "not valid YAML at line")


def test_bad_range_names_the_parameter(workdir):
    (workdir / "s.yaml").write_text("study: s\nobjective: objectives:momentum_descent\nn_trials: 2\n"
                                    "space:\n  lr: {type: float, low: 0, high: 1, scale: log}\n")
    assert_user_error(zoomtune("run", "s.yaml", cwd=workdir), "parameter 'lr'", "scale 'log' needs low > 0")


def test_bad_range_in_the_objective_stops_at_once(workdir):
    (workdir / "obj.py").write_text("def f(trial):\n    return trial.suggest_float('beta', 0.9, 1.5, scale='log1m')\n")
    (workdir / "s.yaml").write_text("study: s\nobjective: obj:f\nn_trials: 50\n")
    result = zoomtune("run", "s.yaml", "-q", cwd=workdir)
    assert_user_error(result, "parameter 'beta'", "needs high < 1")


def test_unknown_module_and_function(workdir):
    (workdir / "s.yaml").write_text("study: s\nobjective: nosuchmodule:f\nn_trials: 2\n")
    assert_user_error(zoomtune("run", "s.yaml", cwd=workdir), "cannot find module 'nosuchmodule'")
    (workdir / "s.yaml").write_text("study: s\nobjective: objectives:nope\nn_trials: 2\n")
    assert_user_error(zoomtune("run", "s.yaml", cwd=workdir), "has no 'nope'")


def test_unknown_field_and_missing_file(workdir):
    (workdir / "s.yaml").write_text("study: s\nobjective: objectives:momentum_descent\nntrials: 2\n")
    assert_user_error(zoomtune("run", "s.yaml", cwd=workdir), "ntrials: unknown field")
    assert_user_error(zoomtune("run", "missing.yaml", cwd=workdir), "cannot read it")


def test_unknown_study_and_missing_database(workdir):
    assert_user_error(zoomtune("status", cwd=workdir), "no database at 'zoomtune.db'")
    zoomtune("run", "quickstart.yaml", "-n", "1", "-q", cwd=workdir)
    assert_user_error(zoomtune("status", "nope", cwd=workdir), "no study named 'nope'")


def test_failing_objective_is_reported_not_fatal(workdir):
    (workdir / "obj.py").write_text("def f(trial):\n    x = trial.suggest_float('x', 0, 1)\n"
                                    "    if trial.number % 2:\n        raise ValueError('odd trial')\n    return x\n")
    (workdir / "s.yaml").write_text("study: s\nobjective: obj:f\nn_trials: 6\n")
    result = zoomtune("run", "s.yaml", "-q", cwd=workdir)
    assert result.returncode == 0
    status = zoomtune("status", "s", cwd=workdir)
    assert status.stdout.count("FAILED") == 3 and "ValueError: odd trial" in status.stdout


def test_markup_in_user_data_is_shown_as_text(workdir):
    (workdir / "obj.py").write_text("def f(trial):\n    trial.suggest_categorical('c', ['[bold]x[/bold]'])\n"
                                    "    return 1.0\n")
    (workdir / "s.yaml").write_text("study: s\nobjective: obj:f\nn_trials: 1\n")
    zoomtune("run", "s.yaml", "-q", cwd=workdir)
    assert "[bold]x[/bold]" in zoomtune("status", "s", cwd=workdir).stdout


def test_coarse_to_fine_rounds_are_shown(workdir):
    shutil.copy(EXAMPLES / "coarse_to_fine.yaml", workdir)
    assert zoomtune("run", "coarse_to_fine.yaml", "-n", "31", "-q", cwd=workdir).returncode == 0
    status = zoomtune("status", "coarse-to-fine", cwd=workdir).stdout
    assert "coarse to fine: round 1 searched" in status and "round 2 searched" in status and "lr in [" in status


def test_study_file_with_tpe_and_asha(workdir):
    (workdir / "s.yaml").write_text("study: s\nobjective: objectives:momentum_descent\nn_trials: 12\n"
                                    "sampler: {name: tpe, n_startup_trials: 5}\n"
                                    "scheduler: {name: asha, min_resource: 1, reduction_factor: 2}\n")
    assert zoomtune("run", "s.yaml", "-q", cwd=workdir).returncode == 0
    assert "STOPPED" in zoomtune("status", "s", "--limit", "0", cwd=workdir).stdout
    (workdir / "s.yaml").write_text("study: s\nobjective: objectives:momentum_descent\nn_trials: 2\n"
                                    "scheduler: {name: asha, reduction_factor: 0}\n")
    assert_user_error(zoomtune("run", "s.yaml", cwd=workdir), "scheduler: bad option for 'asha'")
    (workdir / "s.yaml").write_text("study: s\nobjective: objectives:momentum_descent\nn_trials: 2\n"
                                    "scheduler: halving\n")
    assert_user_error(zoomtune("run", "s.yaml", cwd=workdir), "scheduler: must be one of median, asha")


def test_worker_joins_a_study_from_its_stored_file(workdir, tmp_path):
    assert zoomtune("run", "quickstart.yaml", "-n", "4", "-q", cwd=workdir).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    url = f"sqlite:///{workdir / 'zoomtune.db'}"
    joined = zoomtune("worker", "quickstart", "--storage", url, "-n", "3", "-q", cwd=elsewhere)
    assert joined.returncode == 0, joined.stderr
    assert "the study has 7 trials" in joined.stdout
    assert_user_error(zoomtune("worker", "nope", "--storage", url, cwd=elsewhere), "no study named 'nope'")
