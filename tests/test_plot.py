"""`zoomtune.plot`: one source of every figure. Each notebook function returns a plotly Figure of the very spec
the dashboard serves for the same study (its StudyCache body is what /api/study answers), with each parameter
on its own scale, the coarse-to-fine boxes, the most important pair by default, and clear errors for a figure
a study cannot have."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

go = pytest.importorskip("plotly.graph_objects")

import zoomtune as zt  # noqa: E402
import zoomtune.plot as zp  # noqa: E402
from zoomtune.dashboard.cache import StudyCache  # noqa: E402
from zoomtune.dashboard.payload import trial_payload  # noqa: E402
from zoomtune.importance import importance as ped_anova  # noqa: E402
from zoomtune.plot.data import data_of  # noqa: E402
from zoomtune.plot.figures.common import fmt, thin  # noqa: E402
from zoomtune.plot.figures.surface import GRID  # noqa: E402
from zoomtune.plot.page import FigureKind, figures  # noqa: E402
from zoomtune.errors import StudyNotFoundError  # noqa: E402
from zoomtune.records import Direction, EventKind  # noqa: E402
from zoomtune.storage import get_storage  # noqa: E402

HOSTILE = "<b>act</b>"
NOTEBOOK = {zp.history: FigureKind.HISTORY, zp.params: FigureKind.PARAMS, zp.contour: FigureKind.PAIR,
            zp.parallel_coordinates: FigureKind.PARCOORDS, zp.curves: FigureKind.CURVES,
            zp.lineage: FigureKind.LINEAGE, zp.importance: FigureKind.IMPORTANCE}


def objective(trial: zt.Trial) -> float:
    """A bowl in log10(lr), a weaker one in log10(1 - beta), an int on a log scale and a categorical."""
    lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    beta = trial.suggest_float("beta", 0.9, 0.999, scale="log1m")
    units = trial.suggest_int("units", 16, 512, scale="log")
    act = trial.suggest_categorical(HOSTILE, ["relu", "tanh"])
    value = (math.log10(lr) + 2) ** 2 + 0.3 * (math.log10(1 - beta) + 2) ** 2 + 0.01 * math.log2(units)
    value += 0.1 if act == "relu" else 0.3
    for step in range(4):
        trial.report(value + 1.0 / (1 + step), step)
    return value


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('plot') / 'z.db'}"


@pytest.fixture(scope="module")
def ctf(url: str) -> zt.Study:
    """Coarse to fine in rounds of 10 (two zoom rounds after 30 trials), one trial branched."""
    study = zt.create_study("ctf", storage=url, sampler=zt.samplers.CoarseToFineSampler(seed=0, round_size=10),
                            heartbeat_interval=None)
    study.optimize(objective, n_trials=30)
    study.branch(3, step=1, overrides={"lr": 0.01})
    study.optimize(objective, n_trials=1)
    return study


@pytest.fixture(scope="module")
def served(ctf: zt.Study, url: str) -> dict[str, Any]:
    """The dashboard's study payload of `ctf`, as it travels (JSON)."""
    return json.loads(StudyCache(get_storage(url)).study_json("ctf")[1])


def _roundtrip(spec: Any) -> Any:
    return json.loads(json.dumps(spec, allow_nan=False))


def test_every_figure_is_the_one_the_dashboard_serves(ctf: zt.Study, served: dict[str, Any]) -> None:
    built = figures(data_of(ctf))
    for function, kind in NOTEBOOK.items():
        spec = served["figures"][kind.value]
        assert spec is not None and _roundtrip(built[kind.value]) == spec, kind
        figure = function(ctf)
        assert isinstance(figure, go.Figure)
        assert figure.to_dict() == zp.to_figure(spec).to_dict(), kind
    assert served["figures"]["front"] is None and served["figures"]["hypervolume"] is None


def test_a_study_name_and_its_storage_give_the_same_figures(ctf: zt.Study, url: str) -> None:
    assert zp.history("ctf", storage=url).to_dict() == zp.history(ctf).to_dict()
    with pytest.raises(StudyNotFoundError):
        zp.params("nope", storage=url)


def _x_axes(layout: Any) -> dict[str, Any]:
    """The x axes of the params figure by parameter (the first word of their titles), with their trace refs."""
    keys = ["xaxis", *(f"xaxis{k}" for k in range(2, 5))]
    return {layout[key].title.text.split(" ")[0]: layout[key] for key in keys}


def test_each_parameter_is_on_its_own_scale(ctf: zt.Study) -> None:
    axes = _x_axes(zp.params(ctf).layout)
    assert axes["lr"].type == "log" and axes["lr"].autorange is None
    assert axes["units"].type == "log" and axes["units"].dtick == "D2"
    beta = axes["beta"]  # 1 - beta on a reversed log axis, labelled in beta
    assert beta.type == "log" and beta.autorange == "reversed"
    assert {"0.9", "0.99", "0.999"} <= set(beta.ticktext)
    assert [1 - t for t in beta.tickvals] == pytest.approx([float(t) for t in beta.ticktext])
    hostile = axes["&lt;b&gt;act&lt;/b&gt;"]  # user text escaped for Plotly's markup
    assert hostile.type == "category" and list(hostile.categoryarray) == ["relu", "tanh"]
    trace = next(t for t in zp.params(ctf).data if t.xaxis == beta.anchor.replace("y", "x"))
    assert min(trace.x) > 0 and max(trace.x) <= 0.1  # drawn at 1 - beta for beta in [0.9, 0.999]


def test_the_zoom_boxes_of_each_round_are_drawn_in_values(ctf: zt.Study) -> None:
    zooms = ctf.events(EventKind.ZOOM)
    assert [e.payload.round for e in zooms] == [1, 2]
    layout = zp.params(ctf).layout
    shapes = layout.shapes
    assert {s.name for s in shapes} == {"round 1", "round 2"}
    assert sum(bool(s.showlegend) for s in shapes) == 2  # each round once in the legend
    assert len(shapes) == 2 * 4  # each round's box bounds every parameter
    lr = ctf.trials[0].distributions["lr"]
    ref = _x_axes(layout)["lr"].anchor.replace("y", "x")
    for zoom, band in zip(zooms, [s for s in shapes if s.xref == ref], strict=True):
        lo, hi = zoom.payload.boxes[0]["unit"]["lr"]
        assert (band.x0, band.x1) == pytest.approx((lr.unit_edge(lo), lr.unit_edge(hi)))
        assert 1e-4 <= band.x0 < band.x1 <= 1.0
    assert len(zp.contour(ctf).layout.shapes) == 2


def test_contour_defaults_to_the_most_important_numeric_pair(ctf: zt.Study) -> None:
    scores = ped_anova(ctf.trials, Direction.MINIMIZE)
    numeric = [name for name, _ in scores.ranked() if name != HOSTILE]
    figure = zp.contour(ctf)
    assert [figure.layout.xaxis.title.text.split()[0], figure.layout.yaxis.title.text.split()[0]] == numeric[:2]
    assert figure.layout.xaxis.type == figure.layout.yaxis.type == "log"
    surface, trials = figure.data  # the objective interpolated between the trials, under them
    assert surface.type == "contour" and np.shape(surface.z) == (GRID, GRID)
    assert min(trials.marker.color) == surface.zmin <= np.min(surface.z) <= np.max(surface.z) <= surface.zmax
    low, high = ctf.trials[0].distributions[numeric[0]].low, ctf.trials[0].distributions[numeric[0]].high
    assert (surface.x[0], surface.x[-1]) == pytest.approx((low, high))  # the grid spans the range, in decades
    assert surface.x[1] / surface.x[0] == pytest.approx(surface.x[-1] / surface.x[-2])
    chosen = zp.contour(ctf, x="beta", y="units")
    assert chosen.layout.xaxis.autorange == "reversed" and chosen.layout.yaxis.title.text == "units (log)"
    partner = zp.contour(ctf, x=numeric[1])
    assert partner.layout.yaxis.title.text.split()[0] == numeric[0]
    with pytest.raises(zp.NotPlottableError, match=r"no parameter 'momentum' \(its parameters: .*beta, lr, units\)"):
        zp.contour(ctf, x="lr", y="momentum")


def test_importance_draws_ped_anova_or_says_why_it_cannot(ctf: zt.Study) -> None:
    bars = zp.importance(ctf).data[0]
    expected = dict(ped_anova(ctf.trials, Direction.MINIMIZE))
    assert dict(zip(bars.y, bars.x, strict=True))["lr"] == pytest.approx(expected["lr"])
    assert bars.y[-1] == max(expected, key=expected.__getitem__)  # the most important on top
    few = zt.create_study(sampler=zt.samplers.RandomSampler(seed=0))
    few.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    with pytest.raises(zp.NotPlottableError, match="no importance yet: it needs at least 10 COMPLETE trials"):
        zp.importance(few)
    with pytest.raises(zp.NotPlottableError, match="no branched or nudged trial"):
        zp.lineage(few)


def test_curves_of_chosen_trials_and_the_lineage(ctf: zt.Study) -> None:
    figure = zp.curves(ctf, trials=[0, 2])
    assert [t.name for t in figure.data] == ["#0 COMPLETE", "#2 COMPLETE"] and "of #0, #2" in figure.layout.title.text
    assert list(figure.data[1].y) == list(ctf.trial(2).intermediate_values.values())
    with pytest.raises(zp.NotPlottableError, match="no trial 999"):
        zp.curves(ctf, trials=[999])
    page = trial_payload(ctf.trial(2))["figure"]  # the trial page's curve is built here too
    assert page["data"][0]["x"] == [0, 1, 2, 3] and page["data"][0]["y"] == list(figure.data[1].y)
    lanes = zp.lineage(ctf).layout.yaxis.ticktext
    assert list(lanes) == ["#3", "#30"]  # the branch sits right below its parent


def test_front_of_a_multi_objective_study_is_the_dashboards(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mo.db'}"
    study = zt.create_study("mo", storage=url, directions=["minimize", "maximize"], metric_names=["error", "score"],
                            sampler=zt.samplers.RandomSampler(seed=3), heartbeat_interval=None)
    study.optimize(lambda t: (t.suggest_float("x", 0.0, 1.0), t.suggest_float("y", 1e-3, 1.0, scale="log")
                              - t.params["x"] ** 2), n_trials=20)
    figure = zp.front(study)
    traces = {t.name: t for t in figure.data}
    assert sorted(traces["Pareto front"].customdata) == sorted(t.number for t in study.best_trials)
    assert len(traces["dominated"].x) + len(traces["Pareto front"].x) == 20
    assert [figure.layout.xaxis.title.text, figure.layout.yaxis.title.text] == ["error (minimize)", "score (maximize)"]
    served = json.loads(StudyCache(get_storage(url)).study_json("mo")[1])["figures"]
    assert figure.to_dict() == zp.to_figure(served["front"]).to_dict()
    assert zp.hypervolume(study).to_dict() == zp.to_figure(served["hypervolume"]).to_dict()
    assert zp.history(study).layout.yaxis.title.text == "error (first objective) (minimize)"
    one = zt.create_study()
    one.tell(one.ask(), 1.0)
    with pytest.raises(zp.NotPlottableError, match="single objective"):
        zp.front(one)


def test_large_studies_are_thinned_to_the_best_and_an_even_sample() -> None:
    values = [float(v) for v in range(4000)]
    data = {"direction": "minimize", "trials": {"value": values}}
    kept = thin(data, list(range(4000)), 3000)
    assert len(kept) == 3000 and kept == sorted(kept) and kept[:750] == list(range(750))
    assert thin({**data, "direction": "maximize"}, list(range(4000)), 3000)[-1] == 3999


def test_numbers_are_short_and_readable() -> None:
    assert [fmt(v) for v in (None, 3, 2.0, 0.123456789, 1.5e-5, 123456.7, True, "x")] == [
        "-", "3", "2", "0.12346", "1.5e-5", "1.235e+5", "true", "x"]


def _points(node: Any) -> list[float]:
    """Every float in the point arrays (x, y, z, values) of a figure's traces."""
    if isinstance(node, list):
        return [f for v in node for f in _points(v)]
    if not isinstance(node, dict):
        return []
    found = [f for key in ("x", "y", "z", "values") for f in np.ravel(node.get(key, [])).tolist()
             if isinstance(f, float)]
    return found + [f for key in ("dimensions", "data") for f in _points(node.get(key))]


def test_served_figures_send_each_point_once_in_short_numbers(ctf: zt.Study, served: dict[str, Any]) -> None:
    figs = served["figures"]
    points = [f for kind in ("history", "params", "pair", "parcoords") for f in _points(figs[kind])]
    assert len(points) > 500 and all(f == float(f"{f:.7g}") for f in points)  # 7 significant digits at most
    trials, best = figs["history"]["data"]
    complete = [t for t in ctf.trials if t.state is zt.TrialState.COMPLETE]
    # the step line has a point where the best improved and one at the last complete trial, not one per trial
    improved = [t.number for k, t in enumerate(complete) if all(t.value < u.value for u in complete[:k])]
    ends = [] if complete[-1].number in improved else [complete[-1].number]
    assert best["x"] == improved + ends and len(best["x"]) < len(complete)
    assert best["y"][-1] == pytest.approx(min(t.value for t in complete))
    assert trials["marker"]["color"] == "#2f6fdb"  # one colour: no STOPPED trial
    act = next(t for t in figs["params"]["data"] if t["name"] == "&lt;b&gt;act&lt;/b&gt;")
    assert "text" not in act and "= %{x}<br>" in act["hovertemplate"]  # a choice's label is its x already
    assert not {"curves", "lineage", "importance"} & set(served)  # only the figures were built from them
