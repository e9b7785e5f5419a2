"""The optimisation history: every scored trial's value by trial number, and the best-so-far line."""

from __future__ import annotations

from collections.abc import Sequence

from zoomtune.plot.data import StudyData
from zoomtune.plot.figures.common import (MARGIN, MAX_POINTS, FigureSpec, compact_all, marker_type, objective_label,
                                          scored_indices, thin, thin_note, title)

STOPPED_COLOUR = "#b7791f"
TRIAL_COLOUR = "#2f6fdb"
BEST_COLOUR = "#c23b32"


def best_so_far(data: StudyData, indices: Sequence[int]) -> tuple[list[int], list[float]]:
    """The best COMPLETE value so far as a step line: a point where it improves and one at the last COMPLETE
    trial (drawn with shape "hv", the points in between would only repeat it)."""
    cols = data["trials"]
    minimise = data["direction"] == "minimize"
    xs: list[int] = []
    ys: list[float] = []
    last: int | None = None
    for i in indices:
        if cols["state"][i] != "COMPLETE":
            continue
        value = cols["value"][i]
        last = cols["number"][i]
        if not ys or (value < ys[-1] if minimise else value > ys[-1]):
            xs.append(last)
            ys.append(value)
    if last is not None and xs[-1] != last:
        xs.append(last)
        ys.append(ys[-1])
    return xs, compact_all(ys)


def history_figure(data: StudyData) -> FigureSpec:
    """Every COMPLETE or STOPPED trial (STOPPED ones in ochre) and the best COMPLETE value so far."""
    cols, every = data["trials"], scored_indices(data)
    shown = thin(data, every, MAX_POINTS)
    best_x, best_y = best_so_far(data, every)
    numbers = [cols["number"][i] for i in shown]
    colours = [STOPPED_COLOUR if cols["state"][i] == "STOPPED" else TRIAL_COLOUR for i in shown]
    trials = {"type": marker_type(len(shown)), "mode": "markers", "name": "trial", "x": numbers,
              "y": compact_all(cols["value"][i] for i in shown), "customdata": numbers,
              "marker": {"size": 5, "opacity": 0.7, "color": colours if STOPPED_COLOUR in colours else TRIAL_COLOUR},
              "hovertemplate": "trial #%{customdata}<br>value %{y}<extra></extra>"}
    best_line = {"type": "scatter", "mode": "lines", "name": "best so far", "x": best_x, "y": best_y,
                 "line": {"shape": "hv", "color": BEST_COLOUR}}
    return {"data": [trials, best_line],
            "layout": {"title": title("Optimisation history" + thin_note(len(shown), len(every))), "margin": MARGIN,
                       "xaxis": {"title": {"text": "trial"}},
                       "yaxis": {"title": {"text": f"{objective_label(data)} ({data['direction']})"}},
                       "legend": {"orientation": "h", "y": -0.2}}}


__all__ = ["best_so_far", "history_figure"]
