"""Each hyperparameter against the objective on its own scale, one subplot each, with the boxes of every
coarse-to-fine round drawn as bands over the samples and each parameter's importance in its title."""

from __future__ import annotations

from typing import Any

from zoomtune.plot.data import StudyData
from zoomtune.plot.figures.axes import axis_value, box_span, param_axis, round_colour
from zoomtune.plot.figures.common import (MAX_POINTS, FigureSpec, compact_all, fmt, marker_type, objective_label,
                                          plot_text, scored_indices, thin, thin_note, title)

MAX_COLUMNS = 3
#: what a subplot's "importance" is (PED-ANOVA, computed by zoomtune.importance), shown on hover
IMPORTANCE_HELP = ("PED-ANOVA importance: how much the best 10% of trials bunch up in this parameter<br>"
                   "compared with all complete trials (all parameters sum to 1). Unlike a correlation,<br>"
                   "it sees a parameter whose best value lies inside its range.")
_GAP_X = 0.06
#: a hovered value read from the point's x where that is the value as it should read (a choice's label, an int);
#: a float's is the short `fmt` of its value, sent as the trace's text (x of a log1m parameter is 1 - value)
_HOVER_VALUE = {"categorical": "%{x}", "int": "%{x:d}"}


def _domains(k: int, ncol: int, nrow: int) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) of subplot `k` in paper coordinates."""
    row, col = divmod(k, ncol)
    gap_y = 0.36 / nrow if nrow > 1 else 0.0
    x0 = col / ncol + (_GAP_X / 2 if col else 0.0)
    x1 = (col + 1) / ncol - (_GAP_X / 2 if col < ncol - 1 else 0.0)
    y1 = 1 - row / nrow - (gap_y / 2 if row else 0.0)
    y0 = 1 - (row + 1) / nrow + (gap_y / 2 if row < nrow - 1 else 0.0)
    return x0, x1, y0, y1


def _zoom_bands(data: StudyData, param: dict[str, Any], ax: str, in_legend: set[int]) -> list[dict[str, Any]]:
    """The bands of every zoom box that bounds `param`, on subplot `ax`; each round enters the legend once."""
    bands = []
    for zoom in data["zooms"]:
        for box in zoom["boxes"]:
            span = box_span(param, box)
            if span is None:
                continue
            number, colour = zoom["round"], round_colour(zoom["round"])
            bands.append({"type": "rect", "xref": f"x{ax}", "yref": f"y{ax} domain", "x0": span[0], "x1": span[1],
                          "y0": 0, "y1": 1, "fillcolor": colour, "opacity": 0.12, "line": {"color": colour, "width": 1},
                          "layer": "below", "name": f"round {number}", "legendgroup": f"round {number}",
                          "showlegend": number not in in_legend})
            in_legend.add(number)
    return bands


def params_figure(data: StudyData) -> FigureSpec | None:
    """The subplots of every parameter (None without parameters)."""
    params = data["params"]
    if not params:
        return None
    cols, every = data["trials"], scored_indices(data)
    shown = thin(data, every, MAX_POINTS)
    ncol = min(MAX_COLUMNS, len(params))
    nrow = -(-len(params) // ncol)
    height = max(340, 300 * nrow) + 40
    layout: dict[str, Any] = {"margin": {"l": 60, "r": 20, "t": 30, "b": 90}, "height": height, "showlegend": True,
                              "legend": {"orientation": "h", "x": 0, "y": -70 / (height - 120), "yanchor": "top"}}
    traces, shapes, annotations = [], [], []
    in_legend: set[int] = set()
    for k, param in enumerate(params):
        ax = "" if k == 0 else str(k + 1)
        x0, x1, y0, y1 = _domains(k, ncol, nrow)
        layout[f"xaxis{ax}"] = {**param_axis(param), "domain": [x0, x1], "anchor": f"y{ax}"}
        layout[f"yaxis{ax}"] = {"domain": [y0, y1], "anchor": f"x{ax}",
                                "title": {"text": objective_label(data) if k % ncol == 0 else ""}}
        name = plot_text(param["name"])
        annotations.append({"text": f"<b>{name}</b>  importance {fmt(data['importance'].get(param['name']))}",
                            "showarrow": False, "hovertext": IMPORTANCE_HELP, "xref": "paper", "yref": "paper",
                            "x": (x0 + x1) / 2, "y": y1, "yanchor": "bottom", "xanchor": "center"})
        values = cols["params"][param["name"]]
        use = [i for i in shown if values[i] is not None]
        trace = {"type": marker_type(len(use)), "mode": "markers", "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                 "showlegend": False, "name": name, "x": compact_all(axis_value(param, values[i]) for i in use),
                 "y": compact_all(cols["value"][i] for i in use), "customdata": [cols["number"][i] for i in use],
                 "marker": {"size": 5, "color": [cols["number"][i] for i in use], "colorscale": "Viridis",
                            "opacity": 0.75, "showscale": k == 0,
                            "colorbar": {"title": {"text": "trial"}, "thickness": 10, "len": 0.5}},
                 "hovertemplate": f"trial #%{{customdata}}<br>{name} = {_HOVER_VALUE.get(param['kind'], '%{text}')}"
                                  "<br>value %{y}<extra></extra>"}
        if param["kind"] not in _HOVER_VALUE:
            trace["text"] = [plot_text(fmt(values[i])) for i in use]
        traces.append(trace)
        shapes.extend(_zoom_bands(data, param, ax, in_legend))
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    if len(shown) < len(every):
        layout["title"] = title(thin_note(len(shown), len(every)).strip(), 12)
    return {"data": traces, "layout": layout}


__all__ = ["IMPORTANCE_HELP", "params_figure"]
