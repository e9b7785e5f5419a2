"""The Pareto front as a table, and constraints in words: what `run`, `demo` and `status` print for a
study of several objectives or with constraints."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from zoomtune.cli.common import fmt_value

if TYPE_CHECKING:
    from zoomtune.records import TrialRecord
    from zoomtune.study import Study


def objective_labels(study: Study) -> tuple[str, ...]:
    """Each objective's name: `metric_names`, else "value 0", "value 1", ... ("value" for one)."""
    if study.metric_names:
        return study.metric_names
    return ("value",) if len(study.directions) == 1 else tuple(f"value {i}" for i in range(len(study.directions)))


def objective_headers(study: Study) -> tuple[str, ...]:
    """Each objective's column header, its name and direction: "accuracy (max)", "size (min)"."""
    return tuple(f"{label} ({'max' if direction.value == 'maximize' else 'min'})"
                 for label, direction in zip(objective_labels(study), study.directions, strict=True))


def describe_constraints(trial: TrialRecord) -> str:
    """ "ok" when every constraint holds, else the broken ones and by how much ("size <= 1e+06 by 2.5e+05");
    "-" without constraints."""
    if not trial.constraints:
        return "-"
    broken = [f"{name} by {value:.3g}" for name, value in trial.constraints.items() if value > 0]
    return "; ".join(broken) if broken else "ok"


def front_table(study: Study, extra: Mapping[str, Callable[[TrialRecord], Any]] | None = None,
                title: str | None = None) -> Any:
    """A Rich table of the study's Pareto front (feasible trials only), best first by the first objective:
    trial number, each objective (its direction in the header), the `extra` columns, then the parameters."""
    from rich.table import Table

    front = study.best_trials
    first = study.directions[0]
    front.sort(key=lambda t: t.values[0] if first.value == "minimize" else -t.values[0])  # type: ignore[index]
    constrained = any(t.constraints for t in front)
    params = sorted({name for t in front for name in t.params})
    what = " feasible" if constrained else ""
    table = Table(title=title or f"Pareto front: {len(front)}{what} trial{'' if len(front) == 1 else 's'} no "
                                 "other beats on every objective")
    table.add_column("trial", justify="right", no_wrap=True)
    for header in objective_headers(study):
        table.add_column(header, justify="right", no_wrap=True)  # whole, however narrow the terminal
    for column in (*(extra or {}), *params):
        table.add_column(column, justify="right")
    for t in front:
        table.add_row(str(t.number), *(fmt_value(v) for v in t.values or ()),
                      *(fmt_value(get(t)) for get in (extra or {}).values()),
                      *(fmt_value(t.params.get(name)) for name in params))
    return table


__all__ = ["describe_constraints", "front_table", "objective_headers", "objective_labels"]
