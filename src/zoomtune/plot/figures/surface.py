"""An interpolated surface of the objective over two numeric parameters, drawn under the trials of the contour
figure: inverse-distance weighting in the unit square of the two parameters' own scales (so a log parameter is
interpolated in decades), on a regular grid. It only shades between the trials; it is no model of the study."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from zoomtune.plot.figures.common import compact_all

GRID = 30
#: how fast a trial's weight falls with its distance (inverse-distance weighting's power)
POWER = 2.0
_EPS = 1e-9
MIN_POINTS = 3


def _ends(param: dict[str, Any]) -> tuple[float, float]:
    """The parameter's range in the coordinate its axis is linear in (log10 of the value for log, log10 of
    1 - value for log1m)."""
    low, high = float(param["low"]), float(param["high"])
    if param["scale"] == "log":
        return math.log10(low), math.log10(high)
    if param["scale"] == "log1m":
        return math.log10(1 - high), math.log10(1 - low)
    return low, high


def _linear(param: dict[str, Any], axis_values: Sequence[float]) -> np.ndarray:
    """Axis values (as `axes.axis_value` places them) in the coordinate the axis is linear in."""
    values = np.asarray(axis_values, dtype=float)
    return np.log10(values) if param["scale"] in ("log", "log1m") else values


def _axis_grid(param: dict[str, Any]) -> np.ndarray:
    """GRID axis values evenly spread over the parameter's range on its own scale."""
    lo, hi = _ends(param)
    line = np.linspace(lo, hi, GRID)
    return 10.0 ** line if param["scale"] in ("log", "log1m") else line


def _compact(values: np.ndarray) -> list[float]:
    return compact_all(values.tolist())


def surface_trace(px: dict[str, Any], py: dict[str, Any], x: Sequence[float], y: Sequence[float],
                  z: Sequence[float], minimise: bool, colour_range: tuple[float, float]) -> dict[str, Any] | None:
    """A contour trace of `z` at the axis positions (`x`, `y`) of two numeric parameters, coloured over
    `colour_range` (that of the markers drawn over it), or None when either parameter is categorical or there
    are fewer than MIN_POINTS trials."""
    if "categorical" in (px["scale"], py["scale"]) or len(z) < MIN_POINTS:
        return None
    (x0, x1), (y0, y1) = _ends(px), _ends(py)
    ux = (_linear(px, x) - x0) / ((x1 - x0) or 1.0)
    uy = (_linear(py, y) - y0) / ((y1 - y0) or 1.0)
    grid = np.linspace(0.0, 1.0, GRID)
    gx, gy = np.meshgrid(grid, grid)  # rows follow y, columns x
    d2 = (gx[..., None] - ux) ** 2 + (gy[..., None] - uy) ** 2
    weights = 1.0 / (d2 + _EPS) ** (POWER / 2)
    values = np.asarray(z, dtype=float)
    surface = (weights * values).sum(axis=-1) / weights.sum(axis=-1)
    return {"type": "contour", "name": "interpolated", "x": _compact(_axis_grid(px)), "y": _compact(_axis_grid(py)),
            "z": [_compact(row) for row in surface], "zmin": colour_range[0], "zmax": colour_range[1],
            "colorscale": "Viridis", "reversescale": minimise, "showscale": False, "opacity": 0.5,
            "contours": {"coloring": "heatmap"}, "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False}


__all__ = ["GRID", "surface_trace"]
