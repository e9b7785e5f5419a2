"""The dashboard in real headless Chromium: navigation, plots on each parameter's own scale,
coarse-to-fine boxes, live updates, escaping, and control with a token."""

from __future__ import annotations

from typing import Any

import pytest

import zoomtune as zt
from conftest import ERROR_INJECTION, INJECTION, LiveServer

AXES_BY_TITLE = """(id) => {
  const layout = document.getElementById(id).layout, out = {};
  for (const [key, axis] of Object.entries(layout)) {
    if (!/^[xy]axis\\d*$/.test(key) || !axis.title || !axis.title.text) continue;
    const reversed = axis.autorange === "reversed" || (axis.range && axis.range[0] > axis.range[1]);
    out[axis.title.text.split(" ")[0]] = {type: axis.type, reversed: reversed, ticktext: axis.ticktext || null};
  }
  return out;
}"""


def open_study(page: Any, base: str, name: str = "ctf", query: str = "") -> None:
    page.goto(f"{base}/{query}#/study/{name}")
    page.wait_for_selector("body[data-ready=study]", timeout=20_000)


def test_studies_list_links_to_a_study_that_draws_its_plots(page: Any, server: LiveServer) -> None:
    page.goto(server.base + "/")
    page.wait_for_selector("[data-testid=study-link]")
    links = page.locator("[data-testid=study-link]").all_inner_texts()
    assert links[:2] == ["ctf", "plain/with slash"]
    page.click("[data-testid=study-link] >> text=ctf")
    page.wait_for_selector("body[data-ready=study]", timeout=20_000)
    for plot in ("plot-history", "plot-curves", "plot-params", "plot-pair", "plot-parcoords", "plot-importance",
                 "plot-lineage"):
        assert page.locator(f"#{plot} .main-svg").count() > 0, plot
    assert page.locator("[data-testid=trial-row]").count() == 41
    assert page.errors == []


def test_each_parameter_is_on_its_own_scale(page: Any, server: LiveServer) -> None:
    open_study(page, server.base)
    axes = page.evaluate(AXES_BY_TITLE, "plot-params")
    assert axes["lr"]["type"] == "log" and not axes["lr"]["reversed"]
    assert axes["units"]["type"] == "log"
    assert axes["beta"]["type"] == "log" and axes["beta"]["reversed"]  # 1-β, reversed, labelled as β
    assert {"0.9", "0.99", "0.999"} <= set(axes["beta"]["ticktext"])
    assert axes["act"]["type"] == "category"
    pair = page.evaluate(AXES_BY_TITLE, "plot-pair")
    assert all(axis["type"] == "log" for axis in pair.values())


def test_coarse_to_fine_boxes_are_drawn_over_the_samples(page: Any, server: LiveServer) -> None:
    open_study(page, server.base)
    shapes = page.evaluate("() => document.getElementById('plot-params').layout.shapes.map(s => s.name)")
    assert {"round 1", "round 2", "round 3"} <= set(shapes)
    assert page.locator("#plot-params path[data-index]").count() + page.locator("#plot-params .shapelayer path"
                                                                                ).count() >= len(shapes)
    assert page.evaluate("() => document.getElementById('plot-pair').layout.shapes.length") >= 3
    assert "round 2 searched" in page.inner_text("[data-testid=zoom-rounds]")


def test_hostile_text_is_shown_as_text(page: Any, server: LiveServer) -> None:
    open_study(page, server.base)
    cells = page.locator("[data-testid=trial-row] td").all_inner_texts()
    assert INJECTION in cells and any(ERROR_INJECTION in c for c in cells)
    assert INJECTION in page.inner_text("#plot-params")  # a category label, as text
    page.click("[data-testid=trial-row][data-number='4']")
    page.wait_for_selector("body[data-ready=trial]")
    assert ERROR_INJECTION in page.inner_text("[data-testid=trial-error]")
    assert page.evaluate("() => [document.querySelectorAll('img').length, window.__pwned]") == [0, None]
    assert page.evaluate("() => document.getElementById('plot-trial-curve').data[0].x") == [0, 1, 2, 3, 4]


def test_table_sorts_and_filters_by_state(page: Any, server: LiveServer) -> None:
    open_study(page, server.base)
    page.select_option("[data-testid=state-filter]", "FAILED")
    assert page.locator("[data-testid=trial-row]").count() == 4
    page.select_option("[data-testid=state-filter]", "")
    page.click("th[data-key=value]")
    page.click("th[data-key=value]")  # descending
    first = page.locator("[data-testid=trial-row] td:nth-child(3)").first.inner_text()
    values = [float(v) for v in page.locator("[data-testid=trial-row] td:nth-child(3)").all_inner_texts() if v != "-"]
    assert float(first) == max(values)


def test_a_running_study_updates_without_reload(page: Any, server: LiveServer, db_url: str) -> None:
    study = zt.create_study("live", storage=db_url)
    trial = study.ask()
    trial.suggest_float("lr", 1e-3, 1.0, scale="log")
    trial.report(1.0, 0)
    open_study(page, server.base, "live", "?poll=250")
    assert page.locator("[data-testid=trial-row] .state-RUNNING").count() == 1
    points = "() => document.getElementById('plot-curves').data[0].x.length"
    assert page.evaluate(points) == 1
    page.evaluate("() => { window.__sameDocument = true; }")
    trial.report(0.8, 1)
    trial.report(0.6, 2)
    page.wait_for_function(f"() => ({points[6:]}) === 3", timeout=10_000)
    study.tell(trial, 0.5)
    page.wait_for_selector("[data-testid=trial-row] .state-COMPLETE", timeout=10_000)
    assert page.evaluate("() => window.__sameDocument") is True  # no reload happened


def test_read_only_dashboard_shows_no_controls(page: Any, server: LiveServer, db_url: str) -> None:
    study = zt.create_study("ro", storage=db_url)
    trial = study.ask()
    trial.suggest_float("lr", 1e-3, 1.0, scale="log")
    trial.report(1.0, 0)
    page.goto(f"{server.base}/#/study/ro/trial/{trial.number}")
    page.wait_for_selector("body[data-ready=trial]")
    assert page.locator("[data-testid=nudge-button]").count() == 0
    study.tell(trial, 1.0)


def test_with_a_token_the_page_nudges_and_stops_a_running_trial(page: Any, db_url: str) -> None:
    if not hasattr(zt.Study, "nudge") or not hasattr(zt.Study, "stop_trial"):
        pytest.skip("Study.nudge / Study.stop_trial are not in this zoomtune yet")
    study = zt.create_study("panda", storage=db_url)
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    trial.report(1.0, 0)
    with LiveServer(db_url, token="tok") as live:
        page.goto(f"{live.base}/#token=tok")
        page.wait_for_selector("[data-testid=study-link]")
        page.goto(f"{live.base}/#/study/panda/trial/{trial.number}")
        page.wait_for_selector("[data-testid=nudge-button]")
        page.fill("input[name=lr]", "0.003")
        page.click("[data-testid=nudge-button]")
        page.wait_for_selector("[data-testid=control-message].good")
        trial.report(0.9, 1)
        assert trial.params["lr"] == pytest.approx(0.003)
        page.fill("[data-testid=token-input]", "wrong")
        page.click("[data-testid=stop-button]")
        page.wait_for_selector("[data-testid=control-message].bad")
        page.fill("[data-testid=token-input]", "tok")
        page.click("[data-testid=stop-button]")
        page.wait_for_selector("[data-testid=control-message].good")
        trial.report(0.8, 2)
        assert trial.should_stop()
        study.tell(trial, state=zt.TrialState.STOPPED)
