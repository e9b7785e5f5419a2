"""The report of a multi-objective study carries its front and its hypervolume over trials (the data and the
figures the page draws, built by `zoomtune.plot`); a single-objective report carries neither."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zoomtune as zt
from zoomtune.plot.front_data import FrontHistory, front_history, observed_box, pareto_payload
from zoomtune.dashboard.payload import study_payload, summaries
from zoomtune.pareto import normalized_hypervolume
from zoomtune.plot.figures.front import front_figure
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.report import report_data, report_html


def expected_hypervolume(study: zt.Study) -> float:
    """The normalised hypervolume of the feasible COMPLETE trials, in the box the dashboard documents: from the
    best value of each objective to the worst plus a tenth of its range (maximised objectives negated)."""
    signs = np.array([1.0 if d is Direction.MINIMIZE else -1.0 for d in study.directions])
    points = np.array([t.values for t in study.get_trials([TrialState.COMPLETE]) if t.feasible]) * signs
    best, worst = points.min(axis=0), points.max(axis=0)
    return normalized_hypervolume(points, worst + 0.1 * (worst - best), best)


def accuracy_against_size(trial: zt.Trial) -> tuple[float, float]:
    width = trial.suggest_int("width", 8, 512, scale="log")
    lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    trial.set_constraint("max_width", width - 300)
    return 1.0 - 1.0 / (1.0 + width / 64) - 0.1 * abs(np.log10(lr) + 2), float(width)


@pytest.fixture
def mo_study(sqlite_url: str) -> zt.Study:
    study = zt.create_study("mo", storage=sqlite_url, directions=["maximize", "minimize"],
                            metric_names=["accuracy", "size"], sampler=zt.samplers.NSGA2Sampler(seed=0),
                            heartbeat_interval=None)
    study.optimize(accuracy_against_size, n_trials=30)
    return study


def test_the_report_carries_the_front_and_the_hypervolume(mo_study: zt.Study) -> None:
    data = report_data(mo_study)
    pareto = data["study"]["pareto"]
    assert [o["name"] for o in pareto["objectives"]] == ["accuracy", "size"]
    assert pareto["front"] == [t.number for t in mo_study.best_trials]
    trials = mo_study.trials
    assert [v > 0 for v in pareto["violation"]] == [not t.feasible for t in trials] and any(pareto["violation"])
    assert pareto["values"][1] == [t.values[1] if t.values else None for t in trials]
    hv = pareto["hypervolume"]
    assert hv["value"][-1] == pytest.approx(expected_hypervolume(mo_study), rel=1e-12)
    assert hv["value"] == sorted(hv["value"]) and hv["number"][-1] == trials[-1].number
    assert data["summary"]["directions"] == ["maximize", "minimize"]
    page = report_html(mo_study)
    embedded = json.loads(page.split('id="zt-data">', 1)[1].split("</script>", 1)[0])
    assert embedded["study"]["pareto"] == json.loads(json.dumps(pareto))
    figures = embedded["study"]["figures"]  # built in Python (zoomtune.plot), the page only draws them
    assert figures["front"] == json.loads(json.dumps(front_figure(data["study"]))) and '"plot-front"' in page
    assert sorted(figures["front"]["data"][2]["customdata"]) == pareto["front"]
    assert figures["hypervolume"]["data"][0]["y"] == hv["value"]


def test_unnamed_objectives_are_numbered_and_a_payload_needs_every_name(sqlite_url: str) -> None:
    study = zt.create_study("plain", storage=sqlite_url, directions=["minimize", "minimize"], heartbeat_interval=None)
    study.tell(study.ask(), (1.0, 2.0))
    assert [o["name"] for o in report_data(study)["study"]["pareto"]["objectives"]] == ["0", "1"]
    with pytest.raises(ValueError, match="objective_names: one name per objective"):
        study_payload("plain", study.directions, study.trials, [], objective_names=["only one"])


def test_a_single_objective_report_has_no_front(sqlite_url: str) -> None:
    study = zt.create_study("one", storage=sqlite_url, sampler=zt.samplers.RandomSampler(seed=0),
                            heartbeat_interval=None)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=4)
    data = report_data(study)
    assert "pareto" not in data["study"] and data["summary"]["directions"] == ["minimize"]
    assert data["study"]["figures"]["front"] is None and data["study"]["figures"]["hypervolume"] is None
    assert [s["directions"] for s in summaries(study.storage)] == [["minimize"]]


def test_the_hypervolume_line_steps_where_the_feasible_front_grows() -> None:
    # minimised points in trial order: 0 is infeasible, 3 is dominated by 1, 4 equals 2
    points = np.array([[0.0, 0.0], [1.0, 3.0], [3.0, 1.0], [2.0, 4.0], [3.0, 1.0], [2.0, 2.0]])
    feasible = [False, True, True, True, True, True]
    box = observed_box(points[feasible])
    assert box.ideal.tolist() == [1.0, 1.0] and box.reference.tolist() == pytest.approx([3.2, 4.3])
    history = front_history([0, 1, 2, 3, 4, 5], points, feasible, box)
    assert history.front == [1, 2, 4, 5] and history.numbers == [0, 1, 2, 5]
    prefix = [normalized_hypervolume(points[1:k + 1], box.reference, box.ideal) for k in (1, 2, 5)]
    assert history.hypervolume == pytest.approx([0.0, *prefix], rel=1e-12)
    assert history.hypervolume[-1] > history.hypervolume[-2]
    assert front_history([0, 1, 2, 3, 4, 5], points, feasible, None) == FrontHistory([1, 2, 4, 5], [], [])


def test_four_objectives_have_a_front_but_no_hypervolume(mo_study: zt.Study) -> None:
    trials = mo_study.get_trials([TrialState.COMPLETE])
    widened = [TrialRecord(t.number, t.state, t.params, t.distributions, t.value,
                           objective_values=(*t.values, -t.values[0], t.values[1] ** 2))
               for t in trials if t.values]
    pareto = pareto_payload(widened, [Direction.MAXIMIZE, Direction.MINIMIZE] * 2, ["a", "b", "c", "d"])
    assert pareto["hypervolume"] is None and pareto["front"]
