"""What the dashboard's API sends and the HTML report embeds, as JSON-ready dicts.

A study page is `zoomtune.plot.data.study_data` (the columns every figure is built from) plus its figures,
built once in Python by `zoomtune.plot.page` (the page only hands them to Plotly); a trial page is
`trial_payload`; the studies list is `summaries`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from zoomtune.plot.data import (MAX_EVENTS, StudyData, clean, curve, describe_distribution, finite, study_data,
                                timestamp)
from zoomtune.plot.figures.curves import trial_curve_figure
from zoomtune.plot.page import figures
from zoomtune.records import Direction, Event, TrialRecord, TrialState, payload_to_dict

MAX_ERROR_CHARS = 2000


def study_payload(name: str, directions: Direction | Sequence[Direction], trials: Sequence[TrialRecord],
                  study_events: Sequence[Event], extra_curves: Iterable[int] = (),
                  objective_names: Sequence[str] = ()) -> StudyData:
    """Everything one study page draws: `study_data` (same arguments) and, under ``figures``, every figure of
    the page (`zoomtune.plot.page.figures`), None where the study has none."""
    data = study_data(name, directions, trials, study_events, extra_curves, objective_names)
    data["figures"] = figures(data)
    return data


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


__all__ = ["study_payload", "summaries", "trial_payload"]
