"""What every figure is built from: a study as JSON-ready columns (`study_data`).

Trials travel as columns (one list per field), which keeps 10,000 trials small and quick to
parse. Learning curves are kept only for a bounded set of trials (running, best, latest and
those asked for); everything else is a one-row summary. Non-finite floats become ``None``
because JSON has no NaN. The dashboard ships this dict (with the figures built from it), the
report embeds it, and the notebook functions of `zoomtune.plot` build their figures from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zoomtune.lineage import LineageNode
from zoomtune.lineage import lineage as lineage_forest
from zoomtune.plot.front_data import pareto_payload
from zoomtune.records import Direction, Event, EventKind, TrialRecord, TrialState, ZoomPayload
from zoomtune.space import Categorical, Distribution, Float, Int
from zoomtune.study import Study

#: the JSON-ready study data figures are built from (see `study_data` for its keys)
StudyData = dict[str, Any]

MAX_RUNNING_CURVES = 50
BEST_CURVES = 10
LATEST_CURVES = 20
MAX_LINEAGE = 400
MAX_EVENTS = 500
#: the kinds of study events a study page shows (zoom rounds; branches and nudges in the lineage)
SHOWN_EVENTS = (EventKind.ZOOM, EventKind.BRANCH, EventKind.NUDGE)


def clean(value: Any) -> Any:
    """`value` with non-finite floats replaced by None, recursively, and other odd types as text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return str(value)


def finite(value: float | None) -> float | None:
    """`value` when it is a finite number, else None."""
    return value if value is not None and math.isfinite(value) else None


def timestamp(dt: Any) -> float | None:
    """A datetime as POSIX seconds (None stays None)."""
    return dt.timestamp() if dt is not None else None


def describe_distribution(name: str, dist: Distribution) -> dict[str, Any]:
    """One parameter's axis: kind, scale, bounds or choices."""
    if isinstance(dist, Categorical):
        return {"name": name, "kind": "categorical", "scale": "categorical", "choices": clean(list(dist.choices))}
    kind = "int" if isinstance(dist, Int) else "float"
    scale = dist.scale.value if isinstance(dist, (Float, Int)) else "linear"
    return {"name": name, "kind": kind, "scale": scale, "low": dist.low, "high": dist.high}  # type: ignore


def parameters(trials: Sequence[TrialRecord]) -> dict[str, Distribution]:
    """Each parameter's latest distribution, in the order parameters first appear."""
    found: dict[str, Distribution] = {}
    for trial in trials:
        found.update(trial.distributions)
    order: dict[str, None] = {}
    for trial in trials:
        for name in trial.params:
            order.setdefault(name, None)
    return {name: found[name] for name in order if name in found}


def _edge(dist: Distribution, u: float) -> float:
    """A box edge at unit coordinate `u` in the parameter's own values (see `Distribution.unit_edge`)."""
    return dist.unit_edge(u) if isinstance(dist, (Float, Int)) else float(u)


def zoom_rounds(events: Iterable[Event], dists: Mapping[str, Distribution]) -> list[dict[str, Any]]:
    """Coarse-to-fine rounds with their boxes in the parameters' own values (events other than
    zoom rounds are skipped)."""
    rounds = []
    for event in events:
        payload = event.payload
        if not isinstance(payload, ZoomPayload):
            continue
        boxes = []
        for box in payload.boxes:
            ranges = {name: [_edge(dists[name], lo), _edge(dists[name], hi)]
                      for name, (lo, hi) in box.get("unit", {}).items() if name in dists}
            choices = {}
            for name, indices in box.get("choices", {}).items():
                dist = dists.get(name)
                if isinstance(dist, Categorical):
                    choices[name] = [dist.choices[i] for i in indices if 0 <= i < len(dist.choices)]
            boxes.append({"ranges": ranges, "choices": clean(choices)})
        rounds.append({"round": payload.round, "n_trials": payload.n_trials, "best": clean(payload.best),
                       "described": clean(payload.described), "boxes": clean(boxes)})
    return rounds


def importance(trials: Sequence[TrialRecord], dists: Mapping[str, Distribution],
               direction: Direction = Direction.MINIMIZE) -> dict[str, float]:
    """How much each parameter mattered for reaching the best 10% of the COMPLETE trials, by
    PED-ANOVA (`zoomtune.importance`): non-negative, summing to 1 (all 0 with too few trials).
    Unlike a rank correlation it sees a parameter whose best value lies inside its range."""
    from zoomtune.importance import importance as ped_anova  # NumPy, only when a page is built

    return dict(ped_anova(trials, direction, dists))


def curve(trial: TrialRecord) -> list[list[Any]]:
    """[[steps], [values]] of a trial's reports (NaN as None)."""
    steps = sorted(trial.intermediate_values)
    return [steps, [finite(trial.intermediate_values[s]) for s in steps]]


def curve_numbers(trials: Sequence[TrialRecord], direction: Direction, extra: Iterable[int] = ()) -> list[int]:
    """The bounded set of trials whose curves travel: running, best, latest finished, `extra`."""
    with_reports = [t for t in trials if t.intermediate_values]
    running = [t.number for t in with_reports if t.state is TrialState.RUNNING][-MAX_RUNNING_CURVES:]
    scored = [t for t in with_reports if t.state is TrialState.COMPLETE and finite(t.value) is not None]
    scored.sort(key=lambda t: t.value, reverse=direction is Direction.MAXIMIZE)  # type: ignore
    best = [t.number for t in scored[:BEST_CURVES]]
    latest = [t.number for t in with_reports if t.state.is_finished][-LATEST_CURVES:]
    return sorted({*running, *best, *latest, *extra})


def _flatten(roots: Iterable[LineageNode]) -> list[LineageNode]:
    """Every node of a lineage forest."""
    out: list[LineageNode] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


def lineage(trials: Sequence[TrialRecord], events: Iterable[Event]) -> dict[str, Any]:
    """The study's lineage (`zoomtune.lineage.lineage`) as flat JSON: nodes (trials linked by
    branches, parent → child, with each trial's step span and the parent's step it started
    from) and nudges, bounded to the latest MAX_LINEAGE trials and MAX_EVENTS nudges."""
    nodes = sorted(_flatten(lineage_forest(list(trials), list(events))), key=lambda n: n.number)
    kept = nodes[-MAX_LINEAGE:]
    nudges = [{"trial": n.number, "step": nudge.step, "old": clean(nudge.old), "new": clean(nudge.new)}
              for n in kept for nudge in n.nudges]
    return {"nodes": [{"number": n.number, "parent": n.parent, "state": n.state.value, "value": finite(n.value),
                       "first": n.first_step, "last": n.last_step, "branch_step": n.step,
                       "reason": n.reason.value if n.reason is not None else None} for n in kept],
            "nudges": nudges[-MAX_EVENTS:], "truncated": len(nodes) > len(kept)}


def trial_columns(trials: Sequence[TrialRecord], names: Sequence[str]) -> dict[str, Any]:
    """One list per field, index-aligned: the summary of every trial."""
    cols: dict[str, Any] = {"number": [], "state": [], "value": [], "parent": [], "n_steps": [], "last": [],
                            "start": [], "duration": [], "error": []}
    params: dict[str, list[Any]] = {name: [] for name in names}
    for t in trials:
        cols["number"].append(t.number)
        cols["state"].append(t.state.value)
        cols["value"].append(finite(t.value))
        cols["parent"].append(t.parent)
        values = t.intermediate_values
        cols["n_steps"].append(len(values))
        cols["last"].append(finite(values[max(values)]) if values else None)
        cols["start"].append(timestamp(t.datetime_start))
        duration = t.duration
        cols["duration"].append(round(duration, 3) if duration is not None else None)
        cols["error"].append(t.error[:200] if t.error else None)
        for name in names:
            value = t.params.get(name)
            params[name].append(value if isinstance(value, (bool, int, str, type(None))) else clean(value))
    cols["params"] = params
    return cols


def study_data(name: str, directions: Direction | Sequence[Direction], trials: Sequence[TrialRecord],
               study_events: Sequence[Event], extra_curves: Iterable[int] = (),
               objective_names: Sequence[str] = ()) -> StudyData:
    """Everything the figures of one study draw, in one JSON-ready dict: name, direction, params (their axes),
    trials (columns), curves, zooms, importance, lineage. With several `directions` (one per objective, named by
    `objective_names`, e.g. `StudyInfo.objective_names()`) it adds `pareto` (`zoomtune.plot.front_data`);
    the history, importance and curves use the first objective."""
    wanted_directions = (directions,) if isinstance(directions, Direction) else tuple(directions)
    direction = wanted_directions[0]
    dists = parameters(trials)
    wanted = curve_numbers(trials, direction, extra_curves)
    by_number = {t.number: t for t in trials}
    data = {
        "name": name,
        "direction": direction.value,
        "params": [describe_distribution(n, d) for n, d in dists.items()],
        "trials": trial_columns(trials, list(dists)),
        "curves": {str(n): curve(by_number[n]) for n in wanted if n in by_number},
        "zooms": zoom_rounds(study_events, dists),
        "importance": importance(trials, dists, direction),
        "lineage": lineage(trials, study_events),
    }
    if len(wanted_directions) > 1:
        if len(objective_names) != len(wanted_directions):
            raise ValueError(f"objective_names: one name per objective ({len(wanted_directions)}); got "
                             f"{list(objective_names)}")
        data["pareto"] = pareto_payload(trials, wanted_directions, objective_names)
    return data


def shown_events(study: Study) -> list[Event]:
    """The study's events a study page shows (`SHOWN_EVENTS`), kind by kind."""
    return [event for kind in SHOWN_EVENTS for event in study.events(kind)]


def data_of(study: Study, extra_curves: Iterable[int] = ()) -> StudyData:
    """`study_data` of a loaded study, read as the dashboard reads it."""
    names = study.storage.get_study(study.name).objective_names()
    return study_data(study.name, study.directions, study.trials, shown_events(study), extra_curves, names)


__all__ = ["BEST_CURVES", "LATEST_CURVES", "MAX_EVENTS", "MAX_LINEAGE", "MAX_RUNNING_CURVES", "SHOWN_EVENTS",
           "StudyData", "clean", "curve", "curve_numbers", "data_of", "describe_distribution", "finite",
           "importance", "lineage", "parameters", "shown_events", "study_data", "timestamp", "trial_columns",
           "zoom_rounds"]
