"""Each parameter on its own scale: its axis (log for log parameters, a reversed log of 1-x labelled in x for
log1m, categories in their order), where a value sits on it, and the span of a coarse-to-fine box on it."""

from __future__ import annotations

import math
from typing import Any

from zoomtune.plot.figures.common import number_text, plot_text

ROUND_COLOURS = ("#e4572e", "#2e86ab", "#f3a712", "#7b2d8b", "#29bf12", "#a23b72", "#3f88c5", "#6b4226")
#: half the width of a categorical choice's band in a zoom box
CATEGORY_HALF_WIDTH = 0.45


def decade_ticks(lo: float, hi: float) -> list[float]:
    """Log-axis ticks at 1·10^k (and 3·10^k when the range spans few decades), within [lo, hi]."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks = []
    for k in range(a, b + 1):
        for m in (1, 3) if b - a <= 3 else (1,):
            t = m * 10.0 ** k
            if lo * 0.999 <= t <= hi * 1.001:
                ticks.append(float(f"{t:.6g}"))
    return ticks


def param_axis(param: dict[str, Any]) -> dict[str, Any]:
    """A parameter's axis (`param` as `zoomtune.plot.data.describe_distribution` writes it) on its own scale."""
    name = plot_text(param["name"])
    scale = param["scale"]
    if scale == "log":
        axis: dict[str, Any] = {"type": "log", "title": {"text": f"{name} (log)"}}
        if param["kind"] == "int":
            axis["dtick"] = "D2"
        return axis
    if scale == "log1m":
        ticks = decade_ticks(1 - param["high"], 1 - param["low"])
        return {"type": "log", "autorange": "reversed", "tickvals": ticks,
                "ticktext": [number_text(float(f"{1 - t:.10g}")) for t in ticks],
                "title": {"text": f"{name} (log of 1−{name})"}}
    if scale == "categorical":
        return {"type": "category", "categoryorder": "array",
                "categoryarray": [plot_text(c) for c in param["choices"]], "title": {"text": name}}
    return {"type": "linear", "title": {"text": name}}


def axis_value(param: dict[str, Any], value: Any) -> Any:
    """Where a value sits on its parameter's axis (None stays None)."""
    if value is None:
        return None
    if param["scale"] == "log1m":
        return 1 - value
    if param["scale"] == "categorical":
        return plot_text(value)
    return value


def box_span(param: dict[str, Any], box: dict[str, Any]) -> list[Any] | None:
    """[x0, x1] of a zoom box on a parameter's axis, or None when the box does not bound it."""
    if param["scale"] == "categorical":
        chosen = box["choices"].get(param["name"])
        positions = [param["choices"].index(c) for c in chosen or () if c in param["choices"]]
        if not positions:
            return None
        return [min(positions) - CATEGORY_HALF_WIDTH, max(positions) + CATEGORY_HALF_WIDTH]
    bounds = box["ranges"].get(param["name"])
    return [axis_value(param, bounds[0]), axis_value(param, bounds[1])] if bounds else None


def round_colour(number: int) -> str:
    """The colour of coarse-to-fine round `number` (from 1)."""
    return ROUND_COLOURS[(number - 1) % len(ROUND_COLOURS)]


__all__ = ["ROUND_COLOURS", "axis_value", "box_span", "decade_ticks", "param_axis", "round_colour"]
