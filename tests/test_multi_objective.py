"""Studies of several objectives and constraints: directions, vector results, the Pareto front, storage.

The storage conformance suite (zoomtune.testing.storage_suite) checks vectors and constraints on every backend;
these tests check the study API on top and the v3 -> v4 schema migration.
"""

import dataclasses
import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import zoomtune as zt
from zoomtune import pareto
from zoomtune.errors import ConfigError
from zoomtune.records import Direction, FailureCause, TrialState
from zoomtune.schedulers.base import Decision
from zoomtune.storage.schema import SCHEMA_VERSION
from zoomtune.storage.sql import SQLStorage

V3_DB = Path(__file__).parent / "data" / "v3_single_objective.db"


def _study(**kwargs):
    return zt.create_study(sampler=zt.samplers.RandomSampler(seed=0), heartbeat_interval=None, **kwargs)


# -- directions ---------------------------------------------------------------------------------
def test_directions_and_names_are_kept_and_direction_points_to_them():
    study = _study(directions=["maximize", "minimize"], metric_names=["acc", "size"])
    assert study.directions == (Direction.MAXIMIZE, Direction.MINIMIZE)
    assert study.metric_names == ("acc", "size") and study.is_multi_objective
    with pytest.raises(ValueError, match=r"study\.directions"):
        _ = study.direction
    single = _study(direction="maximize")
    assert single.direction is Direction.MAXIMIZE and single.directions == (Direction.MAXIMIZE,)
    assert not single.is_multi_objective and _study().direction is Direction.MINIMIZE


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"direction": "maximize", "directions": ["maximize", "minimize"]}, "not both"),
    ({"directions": []}, "non-empty list"),
    ({"directions": "maximize"}, "non-empty list"),
    ({"directions": ["maximize", "sideways"]}, "'minimize' or 'maximize'"),
    ({"directions": ["maximize", "minimize"], "metric_names": ["acc"]}, "one name per objective"),
    ({"directions": ["maximize", "minimize"], "metric_names": ["acc", "acc"]}, "unique"),
    ({"directions": ["maximize", "minimize"], "metric_names": ["acc", ""]}, "non-empty"),
    ({"directions": ["maximize", "minimize"], "metric_names": "ab"}, "list of names"),
])
def test_bad_directions_or_names_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        _study(**kwargs)


def test_load_study_checks_the_directions(sqlite_url):
    zt.create_study("mo", storage=sqlite_url, directions=["maximize", "minimize"], metric_names=["a", "b"])
    loaded = zt.load_study("mo", storage=sqlite_url)
    assert loaded.directions == (Direction.MAXIMIZE, Direction.MINIMIZE) and loaded.metric_names == ("a", "b")
    again = zt.create_study("mo", storage=sqlite_url, directions=["maximize", "minimize"], load_if_exists=True)
    assert again.study_id == loaded.study_id
    with pytest.raises(ConfigError, match="created to maximize, minimize"):
        zt.load_study("mo", storage=sqlite_url, direction="maximize")


# -- results ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("returned", "why"), [
    ((1.0,), "2 numbers, one per objective; got 1"),
    ((1.0, 2.0, 3.0), "got 3"),
    ((1.0, math.nan), "value 1 is nan"),
    ((math.inf, 1.0), "value 0 is inf"),
    (("a", 1.0), "value 0: got str 'a', not a number"),
    ("ab", "got str 'ab'"),
    (1.0, "got float 1.0"),
    (None, "returned None"),
])
def test_a_bad_vector_fails_the_trial_with_the_reason(returned, why):
    study = _study(directions=["maximize", "minimize"])
    study.optimize(lambda t: returned, n_trials=1)
    trial = study.trials[0]
    assert trial.state is TrialState.FAILED and trial.cause is FailureCause.BAD_VALUE
    assert why in trial.error and trial.values is None


def test_a_vector_result_is_stored_and_numpy_arrays_work():
    study = _study(directions=["maximize", "minimize"])
    study.optimize(lambda t: np.array([t.suggest_float("x", 0, 1), 2.0]), n_trials=2)
    study.optimize(lambda t: [0.5, np.float32(4.0)], n_trials=1)
    values = [t.values for t in study.trials]
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert values[2] == (0.5, 4.0) and all(v is not None and v[1] == 2.0 for v in values[:2])
    assert study.trials[2].value == 0.5  # the first objective's, what single-objective samplers see


def test_values_of_a_single_objective_trial_follow_its_value():
    study = _study()
    trial = study.ask()
    record = study.tell(trial, 2.0)
    assert trial.values == record.values == study.trials[0].values == (2.0,)
    assert dataclasses.replace(record, value=3.0).values == (3.0,)  # what a sampler's view of it sees
    failed = study.tell(study.ask(), "x")
    assert failed.values is None and study.trials[1].values is None


def test_best_trials_is_the_pareto_front_by_brute_force():
    directions = ["maximize", "minimize", "minimize"]
    study = _study(directions=directions)
    rng = np.random.default_rng(4)
    grid = rng.integers(0, 4, size=(60, 3)).astype(float)  # ties and duplicates on purpose
    rows = iter(grid)
    study.optimize(lambda t: tuple(next(rows)), n_trials=len(grid))
    signs = np.array([-1.0, 1.0, 1.0])

    def dominated(i):
        a = grid[i] * signs
        return any(np.all(b <= a) and np.any(b < a) for b in grid * signs)

    assert [t.number for t in study.best_trials] == [i for i in range(len(grid)) if not dominated(i)]
    assert np.array_equal(pareto.pareto_front_mask(grid * signs),
                          [not dominated(i) for i in range(len(grid))])


def test_best_trial_and_value_point_to_best_trials():
    study = _study(directions=["maximize", "minimize"])
    study.optimize(lambda t: (1.0, 2.0), n_trials=1)
    for attribute in ("best_trial", "best_value", "best_params"):
        with pytest.raises(ValueError, match="best_trials"):
            getattr(study, attribute)
    assert _study(directions=["minimize", "minimize"]).best_trials == []


def test_to_dataframe_has_one_column_per_objective():
    named = _study(directions=["maximize", "minimize"], metric_names=["acc", "size"])
    named.optimize(lambda t: (t.suggest_float("x", 0, 1), 3.0), n_trials=2)
    named.optimize(lambda t: "bad", n_trials=1)
    frame = named.to_dataframe()
    assert "value" not in frame.columns and list(frame["values_size"][:2]) == [3.0, 3.0]
    assert list(frame["values_acc"][:2]) == list(frame["params_x"][:2]) and frame["values_acc"].isna()[2]
    numbered = _study(directions=["maximize", "minimize"])
    numbered.optimize(lambda t: (1.0, 2.0), n_trials=1)
    assert {"values_0", "values_1"} <= set(numbered.to_dataframe().columns)
    single = _study()
    single.optimize(lambda t: 1.0, n_trials=1)
    assert "value" in single.to_dataframe().columns and "values_0" not in single.to_dataframe().columns


# -- reports ------------------------------------------------------------------------------------
def test_reports_take_one_value_per_objective_or_a_single_number():
    study = _study(directions=["maximize", "minimize"])
    trial = study.ask()
    trial.report([0.5, 10.0], 0)
    trial.report(0.75, 1)  # a single number: the first objective's
    with pytest.raises(TypeError, match=r"one per objective \(2\); got 3"):
        trial.report([1.0, 2.0, 3.0], 2)
    with pytest.raises(TypeError, match="value 1 must be a number"):
        trial.report([1.0, "x"], 2)
    study.tell(trial, state=TrialState.STOPPED)
    got = study.trial(trial.number)
    assert got.intermediate_values == {0: 0.5, 1: 0.75} and got.intermediate_vectors == {0: (0.5, 10.0)}
    assert got.state is TrialState.STOPPED and got.values == (0.5, 10.0)  # its last report of every objective


def test_a_single_objective_study_still_refuses_a_list_report():
    trial = _study().ask()
    with pytest.raises(TypeError, match="needs a number"):
        trial.report([1.0], 0)


def test_schedulers_watch_the_first_objective():
    study = _study(directions=["maximize", "minimize"], scheduler=zt.schedulers.MedianStopping(n_startup_trials=1,
                                                                                              n_warmup_steps=0))
    good = study.ask()
    good.report([0.9, 100.0], 0)
    study.tell(good, [0.9, 100.0])
    weak = study.ask()
    weak.report([0.1, 1.0], 0)  # far better in size, worse in the first objective, which is the one watched
    assert weak.should_stop()


class _Watcher(zt.schedulers.Scheduler):
    """Lets every trial go on, keeping what it was shown."""

    def __init__(self):
        super().__init__(seed=0)
        self.seen = []

    def decide(self, trial, context):
        self.seen.append((context.direction, context.directions, dict(trial.intermediate_values)))
        return Decision.CONTINUE


class _Middle(zt.samplers.Sampler):
    """Proposes the middle of the cube, keeping the directions it was shown."""

    def __init__(self):
        super().__init__(seed=0)
        self.seen = []

    def sample(self, space, context):
        self.seen.append((context.direction, context.directions))
        return [0.5] * len(space)


def test_schedulers_and_samplers_see_every_direction_and_the_watched_one():
    watcher, middle = _Watcher(), _Middle()
    study = zt.create_study(directions=["maximize", "minimize"], scheduler=watcher, sampler=middle)
    trial = study.ask()
    assert trial.suggest_float("x", 0, 2) == 1.0
    trial.report([0.5, 7.0], 0)
    assert not trial.should_stop()
    both = (Direction.MAXIMIZE, Direction.MINIMIZE)
    assert watcher.seen == [(Direction.MAXIMIZE, both, {0: 0.5})] and middle.seen == [(Direction.MAXIMIZE, both)]
    single = _Middle()
    zt.create_study(direction="maximize", sampler=single).ask().suggest_float("x", 0, 1)
    assert single.seen == [(Direction.MAXIMIZE, (Direction.MAXIMIZE,))]


# -- constraints --------------------------------------------------------------------------------
def test_only_feasible_trials_can_be_best_in_a_single_objective_study(sqlite_url):
    study = zt.create_study(storage=sqlite_url, heartbeat_interval=None)

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.set_constraint("x_at_least_half", 0.5 - x)
        return x

    for x in (0.1, 0.7, 0.6, 0.3):
        study.enqueue({"x": x})
    study.optimize(objective, n_trials=4)
    assert study.best_trial.params == {"x": 0.6} and study.best_value == 0.6
    assert [t.feasible for t in study.trials] == [False, True, True, False]
    assert study.trials[0].constraints == {"x_at_least_half": 0.4}
    assert zt.list_studies(sqlite_url)[0].best_value == 0.6
    assert study.to_dataframe()["constraints_x_at_least_half"].tolist() == pytest.approx([0.4, -0.2, -0.1, 0.2])


def test_a_study_with_no_feasible_trial_says_so():
    study = _study()

    def objective(trial):
        trial.set_constraint("never", 1.0)
        return 0.0

    study.optimize(objective, n_trials=2)
    with pytest.raises(ValueError, match="none of its 2 COMPLETE trials satisfies its constraints"):
        _ = study.best_trial


def test_best_trials_keep_only_feasible_ones_when_there_are_constraints():
    study = _study(directions=["minimize", "minimize"])
    points = [(0.0, 0.0, 1.0), (1.0, 2.0, -1.0), (2.0, 1.0, 0.0), (3.0, 3.0, -2.0), (0.5, 0.5, 0.5)]
    rows = iter(points)

    def objective(trial):
        a, b, c = next(rows)
        trial.set_constraint("c", c)
        return a, b

    study.optimize(objective, n_trials=len(points))
    assert [t.number for t in study.best_trials] == [1, 2]  # 0 and 4 dominate them but are infeasible
    violations = [max(0.0, c) for *_, c in points]
    by_deb = pareto.pareto_front_mask([p[:2] for p in points], violations)
    assert [i for i, keep in enumerate(by_deb) if keep] == [1, 2]


@pytest.mark.parametrize(("name", "value", "error", "match"), [
    ("", 1.0, TypeError, "non-empty string"),
    (3, 1.0, TypeError, "non-empty string"),
    ("c", math.nan, ValueError, "finite number; got nan"),
    ("c", math.inf, ValueError, "finite"),
    ("c", "1", ValueError, "got str '1', not a number"),
    ("c", True, ValueError, "not a number"),
])
def test_bad_constraints_are_refused_at_once(name, value, error, match):
    trial = _study().ask()
    with pytest.raises(error, match=match):
        trial.set_constraint(name, value)


def test_a_finished_trial_takes_no_constraint():
    study = _study()
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(RuntimeError, match="COMPLETE; cannot set a constraint"):
        trial.set_constraint("late", 0.0)


def test_worker_processes_store_vectors_and_constraints(sqlite_url):
    study = zt.create_study("procs", storage=sqlite_url, directions=["minimize", "maximize"],
                            sampler=zt.samplers.RandomSampler(seed=1))
    study.optimize(_two_objectives, n_trials=4, n_jobs=2)
    trials = study.trials
    assert len(trials) == 4 and all(t.state is TrialState.COMPLETE for t in trials)
    assert all(t.values == (t.params["x"], t.params["x"] ** 2) for t in trials)
    assert all(t.constraints == {"c": t.params["x"] - 0.5} and t.intermediate_vectors == {0: t.values}
               for t in trials)


def _two_objectives(trial):
    x = trial.suggest_float("x", 0, 1)
    trial.set_constraint("c", x - 0.5)
    trial.report((x, x ** 2), 0)
    return x, x ** 2


def test_constraints_set_before_a_report_are_stored_with_it():
    study = _study()
    trial = study.ask()
    trial.set_constraint("mem", -3.0)
    trial.report(1.0, 0)
    assert study.trial(trial.number).constraints == {"mem": -3.0}


# -- storage ------------------------------------------------------------------------------------
def test_a_multi_objective_study_survives_sqlite(sqlite_url):
    study = zt.create_study("mo", storage=sqlite_url, directions=["maximize", "minimize"],
                            metric_names=["acc", "size"], heartbeat_interval=None)

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.report([x / 2, 1 - x / 2], 0)
        trial.set_constraint("size_cap", x - 0.9)
        return x, x  # a trade-off: every trial is on the front unless infeasible

    study.optimize(objective, n_trials=6)
    study.storage.close()
    loaded = zt.load_study("mo", storage=SQLStorage(sqlite_url))
    assert loaded.directions == (Direction.MAXIMIZE, Direction.MINIMIZE)
    assert loaded.metric_names == ("acc", "size")
    for trial in loaded.trials:
        x = trial.params["x"]
        assert trial.values == (x, x) and trial.intermediate_vectors == {0: (x / 2, 1 - x / 2)}
        assert trial.constraints == {"size_cap": pytest.approx(x - 0.9)}
    assert [t.number for t in loaded.best_trials] == [t.number for t in loaded.trials if t.feasible]


def test_status_shows_each_objective_and_the_front(tmp_path, sqlite_url):
    from click.testing import CliRunner

    from zoomtune.cli import cli

    study = zt.create_study("mo", storage=sqlite_url, directions=["maximize", "minimize"],
                            metric_names=["acc", "size"], heartbeat_interval=None)
    for values in ((0.9, 5.0), (0.5, 1.0), (0.4, 2.0), (0.8, 3.5)):  # trial 2 is dominated by 1
        study.tell(study.ask(), values)
    listing = CliRunner().invoke(cli, ["status", "--storage", sqlite_url], terminal_width=200)
    assert listing.exit_code == 0, listing.output
    assert "maximize, minimize" in listing.output
    shown = CliRunner().invoke(cli, ["status", "mo", "--storage", sqlite_url, "--best"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "maximize acc, minimize size" in shown.output and "Pareto front: 3 trials (0, 1, 3)" in shown.output
    rows = [line for line in shown.output.splitlines() if "COMPLETE" in line]
    assert [row.split()[1] for row in rows] == ["0", "1", "3", "2"]  # the front first
    assert "0.9" in rows[0] and "5" in rows[0]


def test_the_report_and_dashboard_open_a_multi_objective_study(sqlite_url):
    import json

    from zoomtune.dashboard.cache import StudyCache
    from zoomtune.report import report_data

    study = zt.create_study("mo", storage=sqlite_url, directions=["maximize", "minimize"], heartbeat_interval=None)
    for values in ((0.9, 5.0), (0.5, 1.0)):
        study.tell(study.ask(), values)
    summary = report_data(study)["summary"]
    assert summary["direction"] == "maximize, minimize" and summary["best_value"] is None
    _, body = StudyCache(study.storage).study_json("mo")  # what the dashboard's /api/study answers
    assert json.loads(body)["trials"]["value"] == [0.9, 0.5]


def test_a_v3_database_is_migrated_and_keeps_every_single_objective_value(tmp_path):
    """tests/data/v3_single_objective.db was written by commit fb8e408 (schema v3): study "old" (maximize) with
    trials COMPLETE 0.187.., 0.205.. (a NaN report at step 1), STOPPED 0.566.., COMPLETE 0.150.. and FAILED (a
    NaN result), two reports each; study "other" empty."""
    path = tmp_path / "old.db"
    shutil.copy(V3_DB, path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM zt_version").fetchone()[0] == 3
        before_trials = conn.execute("SELECT number, state, value FROM zt_trials ORDER BY trial_id").fetchall()
        before_reports = conn.execute("SELECT trial_id, step, value FROM zt_values ORDER BY trial_id, step").fetchall()
    url = f"sqlite:///{path}"
    study = zt.load_study("old", storage=url)
    assert study.direction is Direction.MAXIMIZE and study.directions == (Direction.MAXIMIZE,)
    trials = study.trials
    assert [(t.number, t.state.value, t.value) for t in trials] == before_trials
    assert [t.values for t in trials] == [(v,) if v is not None else None for *_, v in before_trials]
    reports = [(t.trial_id, step, value) for t in trials for step, value in sorted(t.intermediate_values.items())]
    assert [(i, s, None if math.isnan(v) else v) for i, s, v in reports] == before_reports
    assert all(t.intermediate_vectors == {} and t.constraints == {} for t in trials)
    assert study.best_value == max(v for n, s, v in before_trials if s == "COMPLETE")
    mo = zt.create_study("new", storage=url, directions=["minimize", "maximize"], heartbeat_interval=None)
    mo.optimize(lambda t: (1.0, 2.0), n_trials=1)
    assert mo.trials[0].values == (1.0, 2.0)
    study.storage.close()
    mo.storage.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM zt_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert conn.execute("SELECT number, state, value FROM zt_trials WHERE study_id = 1 ORDER BY trial_id"
                            ).fetchall() == before_trials
        assert conn.execute("SELECT COUNT(*) FROM zt_trials WHERE study_id = 1 AND objective_values IS NOT NULL"
                            ).fetchone()[0] == 0

