"""Learning curves: the reports of the trials whose curves the data holds (running trials in front), and one
trial's curve for its own page."""

from __future__ import annotations

from typing import Any

from zoomtune.plot.data import StudyData
from zoomtune.plot.figures.common import MARGIN, FigureSpec

FINISHED_COLOUR = "#9aa3ad"
#: beyond this many curves the legend is hidden
MAX_LEGEND = 12


def curves_figure(data: StudyData, heading: str = "Learning curves (running, best and latest trials)") -> FigureSpec:
    """One line per curve in `data["curves"]`; running trials thick and coloured, finished ones thin and grey."""
    cols = data["trials"]
    state_of = dict(zip(cols["number"], cols["state"], strict=True))
    traces: list[dict[str, Any]] = []
    for key, (steps, values) in data["curves"].items():
        number = int(key)
        state = state_of.get(number, "?")
        running = state == "RUNNING"
        line: dict[str, Any] = {"width": 2.5 if running else 1}
        if not running:
            line["color"] = FINISHED_COLOUR
        traces.append({"type": "scatter", "mode": "lines", "x": steps, "y": values, "name": f"#{number} {state}",
                       "line": line, "opacity": 1 if running else 0.6, "customdata": [number] * len(steps),
                       "hovertemplate": f"trial #{number} ({state})<br>step %{{x}}<br>value %{{y}}<extra></extra>"})
    traces.sort(key=lambda t: t["line"]["width"])
    return {"data": traces, "layout": {"title": {"text": heading}, "margin": MARGIN,
                                       "xaxis": {"title": {"text": "step"}},
                                       "yaxis": {"title": {"text": "reported value"}},
                                       "showlegend": len(traces) <= MAX_LEGEND}}


def trial_curve_figure(number: int, steps: list[int], values: list[float | None]) -> FigureSpec:
    """One trial's learning curve, for its own page."""
    return {"data": [{"type": "scatter", "mode": "lines+markers", "x": steps, "y": values, "name": f"#{number}",
                      "marker": {"size": 4}}],
            "layout": {"title": {"text": "Learning curve"}, "margin": {**MARGIN, "b": 40},
                       "xaxis": {"title": {"text": "step"}}, "yaxis": {"title": {"text": "reported value"}}}}


__all__ = ["curves_figure", "trial_curve_figure"]
