"""The faces of a study of several objectives: `zoomtune demo --objectives accuracy,size` (the real CLI, real
SQLite), the progress line's Pareto front, and importance naming the objective it ranks for."""

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import zoomtune as zt
from zoomtune.cli import cli
from zoomtune.importance import describe, importance
from zoomtune.progress import TrialProgress
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.space import Float

UNIT = {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}


def record(number, values, state=TrialState.COMPLETE, constraints=None, params=None):
    return TrialRecord(number, state, params or {"x": 0.5, "y": 0.5}, UNIT, value=values[0],
                       objective_values=tuple(values), constraints=constraints or {})


@pytest.mark.parametrize("objectives", ["size", "accuracy,accuracy", "accuracy,latency", "", "accuracy;size"])
def test_demo_refuses_unknown_objectives_before_loading_anything(tmp_path, objectives):
    result = CliRunner().invoke(cli, ["demo", "--quick", "--objectives", objectives,
                                      "--storage", f"sqlite:///{tmp_path / 'd.db'}"])
    assert result.exit_code == 2 and "--objectives: must be accuracy, or accuracy and size" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "d.db").exists()


def test_demo_tunes_accuracy_against_size_and_prints_the_front(tmp_path):
    pytest.importorskip("torch")
    result = subprocess.run([sys.executable, "-m", "zoomtune", "demo", "--quick", "--objectives", "accuracy,size",
                             "-n", "2", "--epochs", "2", "--jobs", "1", "-o", "r.html"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = " ".join(result.stdout.split())  # the banner and table titles wrap
    assert "zoomtune demo --quick --objectives accuracy,size: tuning a batch-norm MLP on digits" in out, out
    assert "validation accuracy (maximize) and size in parameters (minimize), NSGA-II (population 4)" in out
    assert "2 epochs per trial (none stopped early)" in out and "2 trials (at most 4 min)" in out
    assert "accuracy (max)" in out and "size (min)" in out and "the most accurate: #" in out
    [summary] = zt.list_studies(f"sqlite:///{tmp_path / 'zoomtune.db'}")
    study = zt.load_study(summary.name, storage=f"sqlite:///{tmp_path / 'zoomtune.db'}")
    assert study.directions == (Direction.MAXIMIZE, Direction.MINIMIZE) and study.metric_names == ("accuracy", "size")
    assert f"zoomtune status {study.name} --best" in out and "zoomtune dashboard" in out
    trials = study.trials
    assert len(trials) == 2 and all(t.state is TrialState.COMPLETE and len(t.intermediate_values) == 2 for t in trials)
    from zoomtune.nn import MLP

    for t in trials:  # the size is the model's parameter count
        p = t.params
        model = MLP(64, [p["units"]] * p["layers"], 10, batchnorm=p["batchnorm"], bn_beta=p.get("bn_beta"))
        assert t.values[1] == t.user_attrs["parameters"] == sum(w.numel() for w in model.parameters())
        assert t.values[0] == t.intermediate_values[1]
    front = study.best_trials
    assert front and f"Pareto front: {len(front)} of 2 trials" in out
    smallest = min(front, key=lambda t: t.values[1])
    assert f"the smallest: #{smallest.number} (accuracy " in out


def test_progress_shows_the_front_and_each_objectives_best_on_it():
    progress = TrialProgress((Direction.MAXIMIZE, Direction.MINIMIZE), 6, enabled=False, names=("accuracy", "size"))
    assert progress.status() == "running 0 | failed 0 | front 0"
    for trial in (record(0, (0.8, 100.0)), record(1, (0.9, 300.0)), record(2, (0.7, 200.0)),  # 2: dominated by 0
                  record(3, (0.95, 50.0), constraints={"size <= 40": 10.0}),  # infeasible: never on the front
                  record(4, (0.99, 10.0), TrialState.FAILED), record(5, (0.85, 100.0))):  # 5 dominates 0
        progress.update(trial)
    assert [t.number for t in progress.front] == [1, 5]
    assert progress.status() == "running 0 | failed 1 | front 2: accuracy 0.9 (#1), size 100 (#5)"
    single = TrialProgress(Direction.MINIMIZE, 2, enabled=False)
    single.update(TrialRecord(0, TrialState.COMPLETE, {}, {}, value=0.5))
    assert single.status() == "running 0 | failed 0 | best 0.5 (trial 0)"


def test_importance_ranks_for_the_objective_it_is_asked_about_and_says_which():
    # x alone decides objective 0, y alone objective 1
    points = np.random.default_rng(0).random((40, 2))
    trials = [record(i, (x, y), params={"x": x, "y": y}) for i, (x, y) in enumerate(points.tolist())]
    first, second = importance(trials, "minimize"), importance(trials, "minimize", objective=1, objective_name="size")
    assert first.ranked()[0][0] == "x" and second.ranked()[0][0] == "y"
    assert describe(first).startswith("what mattered for 0 (PED-ANOVA") and first.objective == "0"
    assert describe(second).startswith("what mattered for size (PED-ANOVA")
    one = [TrialRecord(t.number, t.state, t.params, UNIT, value=t.values[0]) for t in trials]
    assert describe(importance(one, "minimize")).startswith("what mattered (PED-ANOVA")  # one objective: unnamed
    with pytest.raises(zt.errors.ConfigError, match="objective: must be an objective's index"):
        importance(trials, "minimize", objective=-1)
