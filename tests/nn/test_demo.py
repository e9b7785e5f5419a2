"""`zoomtune demo --quick` end to end, as a real subprocess."""

import subprocess
import sys

import pytest

pytest.importorskip("torch")

import zoomtune as zt


def test_demo_quick_end_to_end(tmp_path):
    result = subprocess.run([sys.executable, "-m", "zoomtune", "demo", "--quick", "--jobs", "2"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "best trial #" in out and "test accuracy" in out and "hyperparameters: " in out and "lr=" in out
    assert "sqlite:///zoomtune.db" in out
    [summary] = zt.list_studies(f"sqlite:///{tmp_path / 'zoomtune.db'}")
    assert summary.name.startswith("demo-digits-") and summary.n_trials == 12
    study = zt.load_study(summary.name, storage=f"sqlite:///{tmp_path / 'zoomtune.db'}")
    assert study.best_value > 0.8 and study.best_trial.user_attrs["test_accuracy"] > 0.8
    lengths = sorted(len(t.intermediate_values) for t in study.trials)
    assert lengths[0] == 2 and lengths[-1] == 6  # ASHA stopped some trials after 2 epochs, others ran all 6
    assert study.trials[-1].state is not zt.TrialState.FAILED
