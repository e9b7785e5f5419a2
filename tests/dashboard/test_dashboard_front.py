"""The front of a multi-objective study in real headless Chromium: the dashboard draws every COMPLETE trial over
the objectives (2-D, 3-D for three), the feasible front highlighted, infeasible trials apart, and the
normalised hypervolume over trials. (The report embeds the same figures: tests/test_report_front.py.)"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

import zoomtune as zt
from conftest import LiveServer
from test_report_front import expected_hypervolume
from zoomtune.records import TrialState

READY_MS = 90_000  # WebGL (3-D scatter, parallel coordinates) is software-rendered here: slow on a busy machine
TRACES = """(id) => document.getElementById(id).data.map((t) => ({name: t.name, type: t.type,
  n: (t.x || []).length, customdata: t.customdata || null, x: t.x || null, y: t.y || null,
  symbol: t.marker ? t.marker.symbol || null : null}))"""


def two_objectives(trial: zt.Trial) -> tuple[float, float]:
    """ZDT1-like error (minimised) against a score (maximised), with a constraint some trials break."""
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 1e-3, 1.0, scale="log")
    trial.set_constraint("budget", x + y - 0.9)
    if trial.number == 7:
        raise RuntimeError("diverged")
    return x, -(1 + y) * (1 - math.sqrt(x))


def three_objectives(trial: zt.Trial) -> tuple[float, float, float]:
    a, b, c = (trial.suggest_float(name, 0.0, 1.0) for name in "abc")
    return a, b, (1 - a) * (1 - b) + c


@pytest.fixture(scope="module")
def mo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('front') / 'mo.db'}"
    two = zt.create_study("two", storage=url, directions=["minimize", "maximize"], metric_names=["error", "score"],
                          sampler=zt.samplers.RandomSampler(seed=3), heartbeat_interval=None)
    two.optimize(two_objectives, n_trials=40)
    three = zt.create_study("three", storage=url, directions=["minimize"] * 3,
                            sampler=zt.samplers.RandomSampler(seed=4), heartbeat_interval=None)
    three.optimize(three_objectives, n_trials=25)
    one = zt.create_study("one", storage=url, sampler=zt.samplers.RandomSampler(seed=5), heartbeat_interval=None)
    one.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=5)
    return url


@pytest.fixture(scope="module")
def mo_server(mo_url: str) -> Iterator[LiveServer]:
    with LiveServer(mo_url) as live:
        yield live


def open_study(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/#/study/{name}")
    page.wait_for_selector("body[data-ready=study]", timeout=READY_MS)


def test_the_front_of_two_objectives_with_a_constraint(page: Any, mo_server: LiveServer, mo_url: str) -> None:
    study = zt.load_study("two", storage=mo_url)
    complete = study.get_trials([TrialState.COMPLETE])
    front = sorted(t.number for t in study.best_trials)
    infeasible = sorted(t.number for t in complete if not t.feasible)
    assert infeasible and 2 <= len(front) < len(complete) - len(infeasible)  # the study exercises every group
    open_study(page, mo_server.base, "two")
    traces = {t["name"]: t for t in page.evaluate(TRACES, "plot-front")}
    assert sorted(traces["Pareto front"]["customdata"]) == front
    assert sorted(traces["infeasible"]["customdata"]) == infeasible and traces["infeasible"]["symbol"] == "circle-open"
    assert traces["dominated"]["n"] + len(front) + len(infeasible) == len(complete) == 39  # trial 7 failed
    step = traces["front (step)"]
    assert step["x"] == sorted(step["x"]) and step["y"] == sorted(step["y"])  # minimise x, maximise y: rising
    layout = page.evaluate("() => { const l = document.getElementById('plot-front').layout;"
                           " return [l.xaxis.title.text, l.yaxis.title.text]; }")
    assert layout == ["error (minimize)", "score (maximize)"]
    hover = page.evaluate("() => document.getElementById('plot-front').data.find(t => t.name === 'infeasible').text[0]")
    assert "infeasible: violation" in hover and "x = " in hover
    hv = page.evaluate(TRACES, "plot-hypervolume")[0]
    assert hv["y"][-1] == pytest.approx(expected_hypervolume(study), rel=1e-12)
    assert hv["x"][-1] == complete[-1].number and hv["y"] == sorted(hv["y"])
    note = page.evaluate("() => document.getElementById('plot-hypervolume').layout.annotations[0].text")
    assert "to the worst + 10% of the range: error " in note
    summary = page.inner_text("[data-testid=front-summary]")
    assert f"Pareto front: {len(front)} trials" in summary and f"hypervolume {hv['y'][-1]:.5g}" in summary
    assert page.locator("th[data-key='o:1']").inner_text() == "score"
    assert page.locator("th[data-key=violation]").count() == 1 and page.locator("th[data-key=value]").count() == 0
    assert "error (first objective)" in page.evaluate(
        "() => document.getElementById('plot-history').layout.yaxis.title.text")
    assert page.errors == []


def test_three_objectives_draw_a_3d_scatter_and_the_list_counts_objectives(page: Any, mo_server: LiveServer,
                                                                          mo_url: str) -> None:
    page.goto(mo_server.base + "/")
    page.wait_for_selector("[data-testid=study-link]")
    rows = {r.split("\t")[0]: r for r in page.locator("[data-testid=study-row]").all_inner_texts()}
    assert "3 objectives" in rows["three"] and "2 objectives" in rows["two"] and "objectives" not in rows["one"]
    open_study(page, mo_server.base, "three")
    traces = page.evaluate(TRACES, "plot-front")
    assert {t["type"] for t in traces} == {"scatter3d"}
    assert sum(t["n"] for t in traces) == 25
    front = next(t for t in traces if t["name"] == "Pareto front")
    assert sorted(front["customdata"]) == [t.number for t in zt.load_study("three", storage=mo_url).best_trials]
    assert page.locator("#plot-hypervolume .main-svg").count() > 0
    assert page.errors == []
