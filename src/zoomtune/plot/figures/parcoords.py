"""Parallel coordinates: every parameter on its own scale (log parameters in decades), then the objective."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from zoomtune.plot.data import StudyData
from zoomtune.plot.figures.common import (MAX_LINES, FigureSpec, compact_all, number_text, objective_label, plot_text,
                                          scored_indices, thin, thin_note, title)


def _log(value: float) -> float:
    return math.log10(value)


def _log1m(value: float) -> float:
    return -math.log10(1 - value)


def dimension(param: dict[str, Any], values: Sequence[Any]) -> dict[str, Any]:
    """A parcoords dimension for a parameter, on its own scale."""
    name = plot_text(param["name"])
    scale = param["scale"]
    if scale == "categorical":
        index = {json.dumps(c): i for i, c in enumerate(param["choices"])}
        return {"label": name, "values": [index.get(json.dumps(v), 0) for v in values],
                "tickvals": list(range(len(param["choices"]))), "ticktext": [plot_text(c) for c in param["choices"]],
                "range": [-0.5, len(param["choices"]) - 0.5]}
    if scale in ("log", "log1m"):
        f: Callable[[float], float] = _log if scale == "log" else _log1m
        lo, hi = f(param["low"]), f(param["high"])
        ticks = list(range(math.ceil(lo), math.floor(hi) + 1))
        text = [f"1e{k}" if scale == "log" else number_text(float(f"{1 - 10.0 ** -k:.10g}")) for k in ticks]
        return {"label": f"{name} ({scale})", "values": compact_all(f(v) for v in values), "range": [lo, hi],
                "tickvals": ticks, "ticktext": text}
    return {"label": name, "values": compact_all(values), "range": [param["low"], param["high"]]}


def parcoords_figure(data: StudyData) -> FigureSpec | None:
    """One line per scored trial that set every parameter (None without parameters)."""
    params = data["params"]
    if not params:
        return None
    cols = data["trials"]
    every = [i for i in scored_indices(data) if all(cols["params"][p["name"]][i] is not None for p in params)]
    use = thin(data, every, MAX_LINES)
    dims = [dimension(p, [cols["params"][p["name"]][i] for i in use]) for p in params]
    values = compact_all(cols["value"][i] for i in use)
    dims.append({"label": objective_label(data), "values": values})
    return {"data": [{"type": "parcoords", "dimensions": dims,
                      "line": {"color": values, "colorscale": "Viridis",
                               "reversescale": data["direction"] == "minimize", "showscale": True}}],
            "layout": {"title": title("Parallel coordinates" + thin_note(len(use), len(every))),
                       "margin": {"l": 70, "r": 60, "t": 80, "b": 30}}}


__all__ = ["dimension", "parcoords_figure"]
