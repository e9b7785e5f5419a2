"""Study files of several objectives and with constraints: `directions:`, `metric_names:`, `constraints:`,
parsed strictly and run by the real CLI on a real SQLite file."""

import textwrap

import pytest
from click.testing import CliRunner

import zoomtune as zt
from zoomtune.cli import cli
from zoomtune.errors import ConfigError
from zoomtune.records import Direction
from zoomtune.studyfile import Bound, Limit, load_study_file

OBJECTIVE = '''
def two(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    trial.set_user_attr("cost", x + y)
    return x, (1 - x) ** 2 + y


def no_cost(trial):
    return trial.suggest_float("x", 0.0, 1.0), 1.0
'''

MO_FILE = """
study: mo
objective: mo_objectives:two
directions: [minimize, minimize]
metric_names: [error, size]
constraints: {size: {max: 0.8}, cost: {min: 0.2}}
sampler: {name: nsga2, population_size: 6}
n_trials: 24
seed: 3
"""


def write(folder, text, name="study.yaml"):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    (folder / "mo_objectives.py").write_text(OBJECTIVE)
    return path


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_directions_metric_names_and_constraints_are_read(tmp_path):
    spec = load_study_file(write(tmp_path, MO_FILE))
    assert spec.directions == (Direction.MINIMIZE, Direction.MINIMIZE) and spec.metric_names == ("error", "size")
    assert spec.constraints == (Limit("size", Bound.MAX, 0.8), Limit("cost", Bound.MIN, 0.2))
    assert [c.name for c in spec.constraints] == ["size <= 0.8", "cost >= 0.2"]
    assert spec.constraints[0].excess(1.0) == pytest.approx(0.2) and spec.constraints[1].excess(0.5) < 0
    assert spec.build_sampler().__class__ is zt.samplers.NSGA2Sampler
    single = load_study_file(write(tmp_path, "study: s\nobjective: mo_objectives:two\ndirection: maximize\n"
                                             "constraints: {params: {min: 10, max: 1e6}}\n"))
    assert single.directions == (Direction.MAXIMIZE,) and single.metric_names == ()
    assert [(c.bound, c.limit) for c in single.constraints] == [(Bound.MAX, 1e6), (Bound.MIN, 10.0)]  # 1e6: text


@pytest.mark.parametrize("lines, fragment", [
    ("direction: minimize\ndirections: [minimize, maximize]", "directions: give direction: (one objective) or"),
    ("directions: [minimize, upward]", "directions[1]: must be 'minimize' or 'maximize'; got 'upward'"),
    ("directions: maximize", "directions: must be a list with one direction per objective"),
    ("directions: []", "directions: must be a list"),
    ("direction: 3", "direction: must be 'minimize' or 'maximize'; got 3"),
    ("directions: [minimize, maximize]\nmetric_names: [a]", "metric_names: needs one name per objective: 2"),
    ("directions: [minimize, maximize]\nmetric_names: [a, a]", "metric_names: must be unique"),
    ("directions: [minimize, maximize]\nmetric_names: a", "metric_names: must be a list of names"),
    ("directions: [minimize, maximize]\nmetric_names: [a, ' b']", "metric_names[1]: must be a non-empty name"),
    ("metric_names: [a, b]", "metric_names: needs one name per objective: 1"),
    ("constraints: [size]", "constraints: must be a mapping of metric names to limits"),
    ("constraints: {size: 3}", "constraints.size: must be {max: limit}, {min: limit} or both; got 3"),
    ("constraints: {size: {most: 3}}", "constraints.size: must be {max: limit}"),
    ("constraints: {size: {}}", "constraints.size: must be {max: limit}"),
    ("constraints: {size: {max: lots}}", "constraints.size.max: must be a finite number; got 'lots'"),
    ("constraints: {size: {max: .inf}}", "constraints.size.max: must be a finite number; got inf"),
    ("constraints: {size: {max: true}}", "constraints.size.max: must be a finite number; got True"),
    ("constraints: {size: {min: 2, max: 1}}", "constraints.size: needs min <= max"),
    ("constraints: {' size': {max: 1}}", "constraints: names a metric by a non-empty name"),
])
def test_bad_objectives_and_constraints_name_the_file_field_and_value(tmp_path, lines, fragment):
    path = write(tmp_path, "study: s\nobjective: mo_objectives:two\n" + lines + "\n")
    with pytest.raises(ConfigError) as caught:
        load_study_file(path)
    assert str(caught.value).startswith(f"{path}: ") and fragment in str(caught.value), str(caught.value)


def test_a_multi_objective_file_runs_with_its_constraints_and_status_shows_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MO_FILE)
    result = invoke("run", "study.yaml")  # with the progress line, on stderr
    assert result.exit_code == 0, result.output
    assert "Pareto front: " in result.output and "error (min)" in result.output and "size (min)" in result.output
    study = zt.load_study("mo", storage=f"sqlite:///{tmp_path / 'zoomtune.db'}")
    assert study.directions == (Direction.MINIMIZE, Direction.MINIMIZE) and study.metric_names == ("error", "size")
    trials = study.trials
    assert len(trials) == 24 and all(t.state is zt.TrialState.COMPLETE for t in trials)
    for t in trials:  # the runner turned each limit into set_constraint(name, value - limit) / (limit - value)
        assert t.constraints == pytest.approx({"size <= 0.8": t.values[1] - 0.8,
                                               "cost >= 0.2": 0.2 - t.user_attrs["cost"]})
    infeasible = [t for t in trials if not t.feasible]
    front = study.best_trials
    assert infeasible and front and all(t.feasible for t in front)
    smallest = min(front, key=lambda t: t.values[1])
    assert f"front {len(front)}: error " in result.stderr and f"size {smallest.values[1]:.4g} (#{smallest.number})" \
        in result.stderr, result.stderr
    assert not {t.number for t in infeasible} & {t.number for t in front}

    status = invoke("status", "mo", "--limit", "0")
    assert status.exit_code == 0, status.output
    text = " ".join(status.output.split())
    assert "Pareto front (feasible trials only):" in text and "constraints" in text and "size <= 0.8 by" in text
    assert "what mattered for error" in text and "what mattered for size" in text


@pytest.mark.parametrize("change, field", [
    ("constraints: {size: {max: 0.8}, cost: {min: 0.2}}", "constraints"),
    ("directions: [minimize, minimize]", "directions"),
    ("metric_names: [error, size]", "metric_names"),
])
def test_a_study_keeps_its_objectives_and_constraints(tmp_path, monkeypatch, change, field):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MO_FILE.replace("n_trials: 24", "n_trials: 2"))
    assert invoke("run", "study.yaml", "-q").exit_code == 0
    changed = {"constraints": "constraints: {size: {max: 0.9}}", "directions": "directions: [minimize, maximize]",
               "metric_names": "metric_names: [error, bytes]"}[field]
    write(tmp_path, MO_FILE.replace(change, changed).replace("n_trials: 24", "n_trials: 4"))
    again = invoke("run", "study.yaml", "-q")
    assert again.exit_code == 2 and f"{field}: study 'mo' in sqlite:///zoomtune.db was created with" in again.output
    assert len(zt.load_study("mo", storage="sqlite:///zoomtune.db").trials) == 2  # nothing ran


def test_a_worker_applies_the_stored_constraints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MO_FILE.replace("n_trials: 24", "n_trials: 1"))
    assert invoke("run", "study.yaml", "-q").exit_code == 0
    joined = invoke("worker", "mo", "--storage", "sqlite:///zoomtune.db", "-n", "2")
    assert joined.exit_code == 0, joined.output
    trials = zt.load_study("mo", storage="sqlite:///zoomtune.db").trials
    assert len(trials) == 3 and all(set(t.constraints) == {"size <= 0.8", "cost >= 0.2"} for t in trials)


def test_a_constraint_on_a_metric_nobody_reports_fails_the_trial_saying_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MO_FILE.replace(":two", ":no_cost").replace("n_trials: 24", "n_trials: 2"))
    result = invoke("run", "study.yaml", "-q")
    assert result.exit_code == 1, result.output  # every trial FAILED
    [first, _] = zt.load_study("mo", storage="sqlite:///zoomtune.db").trials
    assert first.state is zt.TrialState.FAILED
    assert "constraint 'cost >= 0.2'" in first.error and "trial.set_user_attr('cost', value)" in first.error


def test_a_constrained_objective_leaves_a_bad_result_to_the_study_and_constrains_a_single_objective(tmp_path):
    from zoomtune.studyfile import ConstrainedObjective

    limits = (Limit("loss", Bound.MIN, 0.25),)
    study = zt.create_study(metric_names=["loss"], heartbeat_interval=None, sampler=zt.samplers.RandomSampler(seed=0))
    study.optimize(ConstrainedObjective(lambda t: t.suggest_float("x", 0.0, 1.0), limits, ("loss",), "f.yaml"),
                   n_trials=12)
    assert all(t.constraints == {"loss >= 0.25": pytest.approx(0.25 - t.value)} for t in study.trials)
    assert study.best_value >= 0.25 > min(t.value for t in study.trials)  # the best is the best feasible one
    pair = zt.create_study(directions=["minimize", "minimize"], metric_names=["a", "b"], heartbeat_interval=None)
    pair.optimize(ConstrainedObjective(lambda t: ("text", 1.0), (Limit("a", Bound.MAX, 1.0),), ("a", "b"), "f.yaml"),
                  n_trials=1)
    [failed] = pair.trials  # refused for its value, by the study, as without constraints
    assert failed.state is zt.TrialState.FAILED and "not a number" in failed.error and not failed.constraints
