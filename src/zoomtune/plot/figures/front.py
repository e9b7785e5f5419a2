"""The faces of a multi-objective study, from the data's `pareto` part (`zoomtune.plot.front_data`): the
front of the objectives (2-D, 3-D, or parallel coordinates beyond) and the normalised hypervolume of the
feasible front after each trial."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from zoomtune.plot.data import StudyData
from zoomtune.plot.figures.common import GL_ABOVE, MARGIN, MAX_POINTS, FigureSpec, even_sample, fmt, plot_text, title

FRONT = "#c23b32"
DOMINATED = "#2f6fdb"
INFEASIBLE = "#9aa3ad"
_COORDS = ("x", "y", "z")


@dataclass
class FrontGroups:
    """Indices (into the trial columns) of COMPLETE trials with every objective's value, by kind."""

    front: list[int] = field(default_factory=list)
    dominated: list[int] = field(default_factory=list)
    infeasible: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.front) + len(self.dominated) + len(self.infeasible)


def objective_title(objective: dict[str, Any]) -> str:
    """"acc (maximize)": an objective's axis title."""
    return f"{plot_text(objective['name'])} ({objective['direction']})"


def front_groups(data: StudyData) -> FrontGroups:
    """The COMPLETE trials split into the feasible front, the dominated and the infeasible."""
    cols, pareto = data["trials"], data["pareto"]
    on_front = set(pareto["front"])
    groups = FrontGroups()
    for i, number in enumerate(cols["number"]):
        if cols["state"][i] != "COMPLETE" or any(column[i] is None for column in pareto["values"]):
            continue
        if pareto["violation"][i] > 0:
            groups.infeasible.append(i)
        else:
            (groups.front if number in on_front else groups.dominated).append(i)
    return groups


def _hover(data: StudyData, i: int) -> str:
    """One trial's hover text: every objective, its violation when infeasible, its parameters."""
    cols, pareto = data["trials"], data["pareto"]
    lines = [f"{plot_text(o['name'])} = {fmt(pareto['values'][k][i])}" for k, o in enumerate(pareto["objectives"])]
    if pareto["violation"][i] > 0:
        lines.append(f"infeasible: violation {fmt(pareto['violation'][i])}")
    lines += [f"{plot_text(p['name'])} = {plot_text(fmt(cols['params'][p['name']][i]))}" for p in data["params"]]
    return "<br>".join(lines)


def _group_trace(data: StudyData, indices: list[int], axes: tuple[int, ...], name: str,
                 marker: dict[str, Any]) -> dict[str, Any]:
    """One scatter trace of a group of trials over the objectives in `axes` (2 or 3 indices)."""
    values = data["pareto"]["values"]
    kind = "scatter3d" if len(axes) == 3 else "scattergl" if len(indices) > GL_ABOVE else "scatter"
    coords = {key: [values[axis][i] for i in indices] for key, axis in zip(_COORDS, axes, strict=False)}
    return {"type": kind, "mode": "markers", "name": name, **coords,
            "customdata": [data["trials"]["number"][i] for i in indices],
            "text": [_hover(data, i) for i in indices], "marker": marker,
            "hovertemplate": "trial #%{customdata}<br>%{text}<extra></extra>"}


def _step_line(data: StudyData, indices: list[int]) -> dict[str, Any]:
    """The front's corner line in 2-D: the front sorted by the first objective, stepping on the dominated side."""
    vx, vy = data["pareto"]["values"][0], data["pareto"]["values"][1]
    ordered = sorted(indices, key=lambda i: vx[i])
    shape = "hv" if data["pareto"]["objectives"][0]["direction"] == "minimize" else "vh"
    return {"type": "scatter", "mode": "lines", "name": "front (step)", "showlegend": False, "hoverinfo": "skip",
            "x": [vx[i] for i in ordered], "y": [vy[i] for i in ordered],
            "line": {"shape": shape, "color": FRONT, "width": 1.5}}


def _parcoords(data: StudyData, groups: FrontGroups, heading: str) -> FigureSpec:
    """Parallel coordinates of the objectives (4 or more): front lines red, dominated blue, infeasible grey."""
    use = [*groups.infeasible, *groups.dominated, *groups.front]
    rank = [0] * len(groups.infeasible) + [1] * len(groups.dominated) + [2] * len(groups.front)
    pareto = data["pareto"]
    dimensions = [{"label": objective_title(o), "values": [pareto["values"][k][i] for i in use]}
                  for k, o in enumerate(pareto["objectives"])]
    return {"data": [{"type": "parcoords", "dimensions": dimensions,
                      "line": {"color": rank, "cmin": 0, "cmax": 2,
                               "colorscale": [[0, INFEASIBLE], [0.5, DOMINATED], [1, FRONT]]}}],
            "layout": {"title": title(f"{heading}: red the front, blue dominated, grey infeasible"),
                       "margin": {"l": 70, "r": 60, "t": 80, "b": 30}}}


def front_figure(data: StudyData) -> FigureSpec | None:
    """Every COMPLETE trial over the objectives, the non-dominated feasible ones highlighted (None with one
    objective)."""
    if "pareto" not in data:
        return None
    groups, objectives = front_groups(data), data["pareto"]["objectives"]
    m = len(objectives)
    heading = f"Pareto front: {len(groups.front)} of {groups.total} complete trials"
    if m > 3:
        return _parcoords(data, groups, heading)
    others = sorted([*groups.dominated, *groups.infeasible])
    rest = even_sample(others, max(0, MAX_POINTS - len(groups.front)))
    kept = set(rest)
    axes, size = ((0, 1, 2), 3) if m == 3 else ((0, 1), 6)
    traces = [
        _group_trace(data, [i for i in groups.dominated if i in kept], axes, "dominated",
                     {"size": size, "color": DOMINATED, "opacity": 0.55}),
        _group_trace(data, [i for i in groups.infeasible if i in kept], axes, "infeasible",
                     {"size": size, "color": INFEASIBLE, "symbol": "circle-open",
                      "line": {"width": 1, "color": INFEASIBLE}}),
        _group_trace(data, groups.front, axes, "Pareto front", {"size": size + 3, "color": FRONT}),
    ]
    if m == 2:
        traces.append(_step_line(data, groups.front))
    note = f" (all of the front, {len(rest):,} of the others)" if len(rest) < len(others) else ""
    layout: dict[str, Any] = {"title": title(heading + note), "margin": MARGIN,
                              "legend": {"orientation": "h", "y": -0.2}, "height": 480 if m == 3 else 380}
    titles = {f"{c}axis": {"title": {"text": objective_title(o)}} for c, o in zip(_COORDS, objectives, strict=False)}
    if m == 3:
        layout["scene"] = titles
    else:
        layout.update(titles)
    return {"data": traces, "layout": layout}


def reference_note(data: StudyData) -> str:
    """The reference box of the normalised hypervolume, in words."""
    hv, objectives = data["pareto"]["hypervolume"], data["pareto"]["objectives"]
    parts = [f"{plot_text(o['name'])} {fmt(hv['ideal'][k])}…{fmt(hv['reference'][k])}"
             for k, o in enumerate(objectives)]
    return f"from the best feasible value to the worst + {math.floor(hv['margin'] * 100 + 0.5)}% of the range: " + \
        ", ".join(parts)


def hypervolume_figure(data: StudyData) -> FigureSpec | None:
    """Normalised hypervolume of the feasible front after each trial, a step line (None without one)."""
    hv = data.get("pareto", {}).get("hypervolume")
    if not hv:
        return None
    return {
        "data": [{"type": "scatter", "mode": "lines+markers", "name": "hypervolume", "x": hv["number"],
                  "y": hv["value"], "customdata": hv["number"], "line": {"shape": "hv", "color": FRONT},
                  "marker": {"size": 4},
                  "hovertemplate": "after trial #%{customdata}<br>normalised hypervolume %{y:.4f}<extra></extra>"}],
        "layout": {"title": title("Normalised hypervolume of the feasible front"), "margin": {**MARGIN, "b": 70},
                   "xaxis": {"title": {"text": "trial"}},
                   "yaxis": {"title": {"text": "hypervolume (0..1)"}, "rangemode": "tozero"},
                   "annotations": [{"text": f"box {reference_note(data)}", "showarrow": False, "xref": "paper",
                                    "yref": "paper", "x": 0, "y": -0.28, "xanchor": "left",
                                    "font": {"size": 10, "color": "#6b7480"}}]},
    }


__all__ = ["FrontGroups", "front_figure", "front_groups", "hypervolume_figure", "objective_title", "reference_note"]
