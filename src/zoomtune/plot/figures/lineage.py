"""The lineage tree: trials linked by branches (PBT exploits, manual branches) and nudges, drawn like a git
graph: one lane per trial along the steps it ran, a connector where a child branched from its parent's
checkpoint, a diamond where a hyperparameter was nudged."""

from __future__ import annotations

from typing import Any

from zoomtune.plot.data import StudyData
from zoomtune.plot.figures.common import FigureSpec, fmt, plot_text

LANE_COLOUR = "#2f6fdb"
BRANCH_COLOUR = "#9aa3ad"
NUDGE_COLOUR = "#e4572e"


def lane_order(nodes: list[dict[str, Any]]) -> list[int]:
    """Trial numbers in depth-first order, so children sit right below their parent."""
    known = {n["number"] for n in nodes}
    children: dict[int, list[int]] = {}
    roots = []
    for node in nodes:
        if node["parent"] is not None and node["parent"] in known:
            children.setdefault(node["parent"], []).append(node["number"])
        else:
            roots.append(node["number"])
    order, stack = [], roots[::-1]
    while stack:
        number = stack.pop()
        order.append(number)
        stack.extend(children.get(number, [])[::-1])
    return order


def _start(node: dict[str, Any]) -> int:
    """The step a trial's lane starts at: its branch step, else its first report, else 0."""
    return next((s for s in (node["branch_step"], node["first"]) if s is not None), 0)


def _end(node: dict[str, Any]) -> int:
    start = _start(node)
    return max(start, node["last"] if node["last"] is not None else start)


def lineage_figure(data: StudyData) -> FigureSpec | None:
    """The lineage figure, or None when no trial was branched or nudged."""
    nodes, nudges = data["lineage"]["nodes"], data["lineage"]["nudges"]
    if not nodes:
        return None
    by_number = {n["number"]: n for n in nodes}
    order = lane_order(nodes)
    lane = {number: i for i, number in enumerate(order)}
    seg: dict[str, list[Any]] = {"x": [], "y": []}
    link: dict[str, list[Any]] = {"x": [], "y": []}
    dots: dict[str, list[Any]] = {"x": [], "y": [], "text": [], "custom": []}
    for number in order:
        n, y = by_number[number], lane[number]
        seg["x"] += [_start(n), _end(n), None]
        seg["y"] += [y, y, None]
        dots["x"].append(_end(n))
        dots["y"].append(y)
        dots["custom"].append(number)
        reason = f" ({n['reason']})" if n["reason"] else ""
        dots["text"].append(plot_text(f"#{number} {n['state']} value {fmt(n['value'])}{reason}"))
        if n["parent"] is not None and n["parent"] in lane:
            link["x"] += [_start(n), _start(n), None]
            link["y"] += [lane[n["parent"]], y, None]
    nudge_x, nudge_y, nudge_text = [], [], []
    for nudge in nudges:
        if nudge["trial"] not in lane:
            continue
        nudge_x.append(nudge["step"] if nudge["step"] is not None else _start(by_number[nudge["trial"]]))
        nudge_y.append(lane[nudge["trial"]])
        changes = ", ".join(f"{k}: {fmt(nudge['old'].get(k))} → {fmt(v)}" for k, v in nudge["new"].items())
        nudge_text.append(plot_text(f"nudge of #{nudge['trial']} at step {fmt(nudge['step'])}: {changes}"))
    return {
        "data": [
            {"type": "scatter", "mode": "lines", "x": seg["x"], "y": seg["y"], "name": "trial",
             "line": {"color": LANE_COLOUR, "width": 3}, "hoverinfo": "skip"},
            {"type": "scatter", "mode": "lines", "x": link["x"], "y": link["y"], "name": "branch",
             "line": {"color": BRANCH_COLOUR, "dash": "dot"}, "hoverinfo": "skip"},
            {"type": "scatter", "mode": "markers", "x": dots["x"], "y": dots["y"], "name": "last report",
             "customdata": dots["custom"], "text": dots["text"], "hovertemplate": "%{text}<extra></extra>",
             "marker": {"size": 8, "color": LANE_COLOUR}},
            {"type": "scatter", "mode": "markers", "x": nudge_x, "y": nudge_y, "name": "nudge", "text": nudge_text,
             "hovertemplate": "%{text}<extra></extra>",
             "marker": {"symbol": "diamond", "size": 11, "color": NUDGE_COLOUR}},
        ],
        "layout": {"title": {"text": "Lineage: branches and nudges"}, "margin": {"l": 70, "r": 20, "t": 40, "b": 50},
                   "height": max(260, 60 + 22 * len(order)), "xaxis": {"title": {"text": "step"}},
                   "yaxis": {"autorange": "reversed", "tickvals": list(range(len(order))),
                             "ticktext": [f"#{n}" for n in order], "zeroline": False},
                   "legend": {"orientation": "h", "y": -0.2}},
    }


__all__ = ["lane_order", "lineage_figure"]
