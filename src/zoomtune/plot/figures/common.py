"""What the figure builders share: the spec type, number and label text, and thinning large studies.

Plotly interprets a small markup language in labels and hover text, so every user string (parameter
names, categorical choices, objective names) goes through `plot_text` before it reaches a figure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from zoomtune.plot.data import StudyData

#: a figure as plotly.js takes it: {"data": [trace, ...], "layout": {...}}, JSON-ready
FigureSpec = dict[str, Any]

MARGIN = {"l": 60, "r": 20, "t": 40, "b": 50}
#: WebGL markers above this many points, SVG below
GL_ABOVE = 1500
#: markers per plot; beyond this, the best and an even sample of the rest
MAX_POINTS = 3000
#: lines in the parallel coordinates
MAX_LINES = 500
#: significant digits of a plotted coordinate: far finer than a pixel or a hover label, in half a full float's JSON
DIGITS = 7
_TRAILING_ZEROS = re.compile(r"\.?0+e")


def number_text(value: float) -> str:
    """A float as JavaScript's String() writes it for the values figures show (2.0 -> "2")."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def compact(value: Any, digits: int = DIGITS) -> Any:
    """A plotted number rounded to `digits` significant digits, so that it travels in fewer bytes; ints, None
    and text as they are."""
    return float(f"{value:.{digits}g}") if isinstance(value, float) else value


def compact_all(values: Iterable[Any], digits: int = DIGITS) -> list[Any]:
    """`compact` of each value (inlined: figures of 10,000 trials hold some 40,000 numbers)."""
    spec = f".{digits}g"
    return [float(format(v, spec)) if isinstance(v, float) else v for v in values]


def fmt(value: Any) -> str:
    """A number in a short readable form (5 significant digits, exponent outside [1e-3, 1e5)); other values as
    text; None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return number_text(value)
        a = abs(value)
        if a < 1e-3 or a >= 1e5:
            mantissa, exponent = f"{value:.3e}".split("e")
            return _TRAILING_ZEROS.sub("e", f"{mantissa}e{int(exponent):+d}")
        return number_text(float(f"{value:.5g}"))
    return str(value)


def label(value: Any) -> str:
    """A categorical choice as the text of its axis label or category (no rounding: choices must stay distinct)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return number_text(value)
    return "null" if value is None else str(value)


def plot_text(value: Any) -> str:
    """User text made safe for Plotly's label markup: '&', '<' and '>' escaped."""
    return label(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def scored_indices(data: StudyData) -> list[int]:
    """Indices of trials that have an objective value to plot (COMPLETE or STOPPED)."""
    cols = data["trials"]
    return [i for i, (v, s) in enumerate(zip(cols["value"], cols["state"], strict=True))
            if v is not None and s in ("COMPLETE", "STOPPED")]


def even_sample(indices: Sequence[int], limit: int) -> list[int]:
    """At most `limit` of `indices`, evenly spread over them (every k-th), in order."""
    if len(indices) <= limit:
        return list(indices)
    step = len(indices) / limit
    return [indices[math.floor(k * step)] for k in range(limit)]


def thin(data: StudyData, indices: Sequence[int], limit: int) -> list[int]:
    """At most `limit` of `indices`: the best quarter of the limit, then an even sample of the others, in order."""
    if len(indices) <= limit:
        return list(indices)
    values, sign = data["trials"]["value"], 1.0 if data["direction"] == "minimize" else -1.0
    ranked = sorted(indices, key=lambda i: sign * values[i])
    keep = set(ranked[:limit // 4])
    keep.update(even_sample([i for i in indices if i not in keep], limit - len(keep)))
    return [i for i in indices if i in keep]


def thin_note(shown: int, total: int) -> str:
    """" (3,000 of 10,000 trials: the best and an even sample)" when thinned, else ""."""
    return f" ({shown:,} of {total:,} trials: the best and an even sample)" if shown < total else ""


def objective_label(data: StudyData) -> str:
    """What the plots of one objective call it: "objective", or in a multi-objective study the first one's name
    (the history, importance, pair and parallel coordinates use the first objective)."""
    pareto = data.get("pareto")
    return f"{plot_text(pareto['objectives'][0]['name'])} (first objective)" if pareto else "objective"


def marker_type(n: int) -> str:
    """The scatter trace type for `n` markers: WebGL above GL_ABOVE."""
    return "scattergl" if n > GL_ABOVE else "scatter"


def title(text: str, size: int = 13) -> dict[str, Any]:
    """A figure title in the dashboard's small font."""
    return {"text": text, "font": {"size": size}}


__all__ = ["DIGITS", "GL_ABOVE", "MARGIN", "MAX_LINES", "MAX_POINTS", "FigureSpec", "compact", "compact_all",
           "even_sample", "fmt", "label", "marker_type", "number_text", "objective_label", "plot_text",
           "scored_indices", "thin", "thin_note", "title"]
