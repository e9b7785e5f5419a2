"""Two parameters against each other, each on its own scale, coloured by the objective, over a surface
interpolated between the trials (`surface`), with the boxes of every coarse-to-fine round; by default the two
numeric parameters that mattered most."""

from __future__ import annotations

from typing import Any

from zoomtune.plot.data import StudyData
from zoomtune.plot.errors import NotPlottableError
from zoomtune.plot.figures.axes import axis_value, box_span, param_axis, round_colour
from zoomtune.plot.figures.common import (MARGIN, MAX_POINTS, FigureSpec, compact_all, fmt, marker_type,
                                          objective_label, plot_text, scored_indices, thin, thin_note, title)
from zoomtune.plot.figures.surface import surface_trace

#: the surface under the trials interpolates at most this many of them (the best and an even sample)
MAX_SURFACE_POINTS = 1000


def _ranked(data: StudyData) -> list[dict[str, Any]]:
    """The numeric parameters, most important first."""
    numeric = [p for p in data["params"] if p["scale"] != "categorical"]
    return sorted(numeric, key=lambda p: -(data["importance"].get(p["name"]) or 0.0))


def top_pair(data: StudyData) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The two numeric parameters that move the objective most (by importance), or None."""
    ranked = _ranked(data)
    return (ranked[0], ranked[1]) if len(ranked) >= 2 else None


def _param(data: StudyData, name: str) -> dict[str, Any]:
    params: list[dict[str, Any]] = data["params"]
    for param in params:
        if param["name"] == name:
            return param
    known = ", ".join(p["name"] for p in params) or "none"
    raise NotPlottableError(f"contour: study {data['name']!r} has no parameter {name!r} (its parameters: {known})")


def _partner(data: StudyData, taken: str) -> dict[str, Any]:
    """The most important numeric parameter other than `taken`."""
    _param(data, taken)
    for param in _ranked(data):
        if param["name"] != taken:
            return param
    raise NotPlottableError(f"contour: study {data['name']!r} has no numeric parameter besides {taken!r}")


def _boxes(data: StudyData, px: dict[str, Any], py: dict[str, Any]) -> list[dict[str, Any]]:
    """The zoom boxes that bound both parameters, each round in the legend once."""
    shapes, seen = [], set()
    for zoom in data["zooms"]:
        for box in zoom["boxes"]:
            sx, sy = box_span(px, box), box_span(py, box)
            if sx is None or sy is None:
                continue
            number, colour = zoom["round"], round_colour(zoom["round"])
            shapes.append({"type": "rect", "xref": "x", "yref": "y", "x0": sx[0], "x1": sx[1], "y0": sy[0],
                           "y1": sy[1], "line": {"color": colour, "width": 2}, "fillcolor": colour, "opacity": 0.15,
                           "name": f"round {number}", "legendgroup": f"round {number}",
                           "showlegend": number not in seen})
            seen.add(number)
    return shapes


def pair_figure(data: StudyData, x: str | None = None, y: str | None = None) -> FigureSpec | None:
    """Parameters `x` against `y` (None: the `top_pair`); None when the study has no two numeric parameters."""
    if x is None and y is None:
        pair = top_pair(data)
        if pair is None:
            return None
        px, py = pair
    else:
        px = _param(data, x) if x is not None else _partner(data, str(y))
        py = _param(data, y) if y is not None else _partner(data, str(x))
    cols = data["trials"]
    vx, vy = cols["params"][px["name"]], cols["params"][py["name"]]
    every = [i for i in scored_indices(data) if vx[i] is not None and vy[i] is not None]
    shown = thin(data, every, MAX_POINTS)
    heading = "Coarse-to-fine boxes over " + ("the two most important parameters" if x is None and y is None
                                              else f"{plot_text(px['name'])} and {plot_text(py['name'])}")
    minimise = data["direction"] == "minimize"
    values = compact_all(cols["value"][i] for i in shown)
    few = thin(data, shown, MAX_SURFACE_POINTS)
    surface = surface_trace(px, py, [axis_value(px, vx[i]) for i in few], [axis_value(py, vy[i]) for i in few],
                            [cols["value"][i] for i in few], minimise,
                            (min(values, default=0.0), max(values, default=0.0)))
    trials = {"type": marker_type(len(shown)), "mode": "markers",
              "x": compact_all(axis_value(px, vx[i]) for i in shown),
              "y": compact_all(axis_value(py, vy[i]) for i in shown), "customdata": [cols["number"][i] for i in shown],
              "text": [fmt(v) for v in values], "showlegend": False,
              "marker": {"size": 6, "color": values, "colorscale": "Viridis", "reversescale": minimise,
                         "showscale": True, "line": {"width": 0.5, "color": "white"},
                         "colorbar": {"title": {"text": objective_label(data)}, "thickness": 10}},
              "hovertemplate": "trial #%{customdata}<br>value %{text}<extra></extra>"}
    return {
        "data": [trials] if surface is None else [surface, trials],
        "layout": {"title": title(heading + thin_note(len(shown), len(every))), "margin": MARGIN,
                   "xaxis": param_axis(px), "yaxis": param_axis(py), "shapes": _boxes(data, px, py),
                   "legend": {"orientation": "h", "y": -0.2}},
    }


__all__ = ["pair_figure", "top_pair"]
