"""The optimisation history: every scored trial's value by trial number, and the best-so-far line."""

from __future__ import annotations

from zoomtune.plot.data import StudyData
from zoomtune.plot.figures.common import (MARGIN, MAX_POINTS, FigureSpec, marker_type, objective_label, scored_indices,
                                          thin, thin_note, title)

STOPPED_COLOUR = "#b7791f"
TRIAL_COLOUR = "#2f6fdb"
BEST_COLOUR = "#c23b32"


def history_figure(data: StudyData) -> FigureSpec:
    """Every COMPLETE or STOPPED trial (STOPPED ones in ochre) and the best COMPLETE value so far."""
    cols, every = data["trials"], scored_indices(data)
    minimise = data["direction"] == "minimize"
    shown = thin(data, every, MAX_POINTS)
    best_x: list[int] = []
    best_y: list[float] = []
    best: float | None = None
    for i in every:
        if cols["state"][i] != "COMPLETE":
            continue
        value = cols["value"][i]
        if best is None or (value < best if minimise else value > best):
            best = value
        best_x.append(cols["number"][i])
        best_y.append(best)
    numbers = [cols["number"][i] for i in shown]
    trials = {"type": marker_type(len(shown)), "mode": "markers", "name": "trial", "x": numbers,
              "y": [cols["value"][i] for i in shown], "customdata": numbers,
              "marker": {"size": 5, "opacity": 0.7,
                         "color": [STOPPED_COLOUR if cols["state"][i] == "STOPPED" else TRIAL_COLOUR for i in shown]},
              "hovertemplate": "trial #%{customdata}<br>value %{y}<extra></extra>"}
    best_line = {"type": "scatter", "mode": "lines", "name": "best so far", "x": best_x, "y": best_y,
                 "line": {"shape": "hv", "color": BEST_COLOUR}}
    return {"data": [trials, best_line],
            "layout": {"title": title("Optimisation history" + thin_note(len(shown), len(every))), "margin": MARGIN,
                       "xaxis": {"title": {"text": "trial"}},
                       "yaxis": {"title": {"text": f"{objective_label(data)} ({data['direction']})"}},
                       "legend": {"orientation": "h", "y": -0.2}}}


__all__ = ["history_figure"]
