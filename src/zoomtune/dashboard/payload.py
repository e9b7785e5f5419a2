"""What the dashboard's API sends and the HTML report embeds, as JSON-ready dicts.

A study page is `page_data`: its figures, built once in Python by `zoomtune.plot.page` from
`zoomtune.plot.data.study_data` (the page only hands them to Plotly), and what the page itself reads of that
data (the trial columns for the table, the summary); a trial page is `trial_payload`; the studies list is
`summaries`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from zoomtune.plot.data import (MAX_EVENTS, StudyData, clean, curve, describe_distribution, finite, study_data,
                                timestamp)
from zoomtune.plot.figures.common import compact_all
from zoomtune.plot.figures.curves import trial_curve_figure
from zoomtune.plot.page import figures
from zoomtune.records import Direction, Event, TrialRecord, TrialState, payload_to_dict

MAX_ERROR_CHARS = 2000
#: the keys of `study_data` only figures are built from: the page never reads them
FIGURE_ONLY = ("curves", "lineage", "importance")
#: significant digits of the floats in the trial columns: the table shows 5 and sorts by them, its tooltips show
#: all that travel (a full float takes 17 and nearly twice the bytes)
TABLE_DIGITS = 10


def _compact_columns(columns: dict[str, Any]) -> dict[str, Any]:
    """The trial columns with their floats cut to TABLE_DIGITS significant digits."""
    out: dict[str, Any] = {key: compact_all(values, TABLE_DIGITS) for key, values in columns.items()
                           if key != "params"}
    out["params"] = {name: compact_all(values, TABLE_DIGITS) for name, values in columns["params"].items()}
    return out


def page_data(data: StudyData) -> StudyData:
    """What the study page reads of `data` (a `study_data`), with every figure built from it under ``figures``
    (`zoomtune.plot.page.figures`, None where the study has none). The page draws the figures as they come, so
    what only they are built from stays behind: the curves, the lineage, the importance and the zoom boxes."""
    page = {key: value for key, value in data.items() if key not in FIGURE_ONLY}
    page["trials"] = _compact_columns(data["trials"])
    page["zooms"] = [{key: value for key, value in zoom.items() if key != "boxes"} for zoom in data["zooms"]]
    page["figures"] = figures(data)
    return page


def study_payload(name: str, directions: Direction | Sequence[Direction], trials: Sequence[TrialRecord],
                  study_events: Sequence[Event], extra_curves: Iterable[int] = (),
                  objective_names: Sequence[str] = ()) -> StudyData:
    """Everything one study page shows: the `page_data` of `study_data` (same arguments)."""
    return page_data(study_data(name, directions, trials, study_events, extra_curves, objective_names))


def trial_payload(trial: TrialRecord) -> dict[str, Any]:
    """One trial in full: params with their distributions, curve, events, error, attributes; every objective's
    value in a multi-objective study (`values`) and the constraints when it has any; `figure` is its learning
    curve (`zoomtune.plot.figures.curves.trial_curve_figure`)."""
    steps_values = curve(trial)
    data = {
        "number": trial.number, "state": trial.state.value, "value": finite(trial.value),
        "params": [{"name": n, "value": clean(v),
                    "distribution": describe_distribution(n, trial.distributions[n])
                    if n in trial.distributions else None} for n, v in trial.params.items()],
        "curve": steps_values, "figure": trial_curve_figure(trial.number, *steps_values),
        "user_attrs": clean(trial.user_attrs),
        "error": trial.error[:MAX_ERROR_CHARS] if trial.error else None, "parent": trial.parent,
        "events": [{"kind": e.kind.value, "step": e.step, "time": timestamp(e.time),
                    "payload": clean(payload_to_dict(e.payload))} for e in trial.events][-MAX_EVENTS:],
        "start": timestamp(trial.datetime_start), "complete": timestamp(trial.datetime_complete),
        "duration": trial.duration,
    }
    if trial.objective_values is not None:
        data["values"] = clean(list(trial.objective_values))
    if trial.constraints:
        data["constraints"] = clean(trial.constraints)
    return data


def summaries(storage: Any) -> list[dict[str, Any]]:
    """Every study in `storage` with counts, best value and one direction per objective."""
    out = []
    for s in storage.list_studies():
        counts = {state.value: s.counts.get(state, 0) for state in TrialState}
        out.append({"name": s.name, "direction": s.direction.value, "directions": [d.value for d in s.directions],
                    "n_trials": s.n_trials, "counts": counts, "best_value": finite(s.best_value),
                    "created": timestamp(s.created)})
    return out


__all__ = ["FIGURE_ONLY", "TABLE_DIGITS", "page_data", "study_payload", "summaries", "trial_payload"]
