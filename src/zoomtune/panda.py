"""Panda mode: babysit one trial in the foreground, with its learning curve drawn live.

The trial checkpoints as its objective does (`trial.save_checkpoint`, or `fit(...,
checkpoint=True)`); Ctrl-C ends it cleanly as FAILED "interrupted", keeping its checkpoints,
and `resume` starts a new trial from the last one (a branch with reason "resume").
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

from zoomtune.errors import TrialStateError
from zoomtune.executors.base import Objective, StudyRunner, evaluate
from zoomtune.records import BranchReason, TrialRecord, TrialState
from zoomtune.scales import fraction
from zoomtune.trial import Trial

_BLOCKS = " ▁▂▃▄▅▆▇█"


def curve_chart(values: Mapping[int, float], width: int = 60, height: int = 8) -> str:
    """A text chart of a learning curve: one column per step (the latest `width` steps)."""
    finite = {s: v for s, v in values.items() if math.isfinite(v)}
    if not finite:
        return "(no reports yet)"
    steps = sorted(finite)[-width:]
    low, high = min(finite[s] for s in steps), max(finite[s] for s in steps)
    levels = [round(fraction(finite[s], low, high) * (height * 8 - 1)) if high > low else 0 for s in steps]
    rows = []
    for row in range(height - 1, -1, -1):
        cells = "".join(_BLOCKS[min(8, max(0, level - row * 8 + 1))] if level >= row * 8 else " "
                        for level in levels)
        label = f"{high:10.4g} ┤" if row == height - 1 else (f"{low:10.4g} ┤" if row == 0 else " " * 11 + "│")
        rows.append(label + cells)
    rows.append(" " * 11 + "└" + f"step {steps[0]}".ljust(max(1, len(steps) - 8)) + f"{steps[-1]:>8}")
    return "\n".join(rows)


def _panel(study: StudyRunner, trial: Trial) -> Any:
    from rich.panel import Panel
    from rich.text import Text

    values = dict(trial.intermediate_values)
    last = values[max(values)] if values else None
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
    head = f"trial {trial.number}" + (f" (from trial {trial.parent})" if trial.parent is not None else "")
    if last is not None:
        head += f" · {len(values)} reports · last {last:.5g}"
    body = Text(f"{params}\n\n{curve_chart(values)}\n\nCtrl-C stops cleanly; checkpoints are kept")
    return Panel(body, title=f"babysitting {study.name}: {head}", expand=False)


def babysit(study: StudyRunner, objective: Objective, params: Mapping[str, Any] | None = None,
            live: bool = True) -> TrialRecord:
    """Run one new trial in the foreground with its curve drawn live; returns its record.

    `params` fixes some hyperparameters (the rest are sampled). Trials already queued stay
    queued. KeyboardInterrupt propagates after the trial is stored as FAILED with its reports
    and checkpoints.
    """
    return run_queued(study, study.enqueue(dict(params or {})), objective, live)


def run_queued(study: StudyRunner, number: int, objective: Objective, live: bool = True) -> TrialRecord:
    """Run the queued trial `number` in the foreground (see `babysit`)."""
    trial = study.ask(number)
    if not live:
        return evaluate(study, trial, objective, (Exception,))
    from rich.console import Console
    from rich.live import Live

    done = threading.Event()
    with Live(_panel(study, trial), console=Console(stderr=True), refresh_per_second=4) as screen:
        def redraw() -> None:
            while not done.wait(0.25):
                screen.update(_panel(study, trial))

        painter = threading.Thread(target=redraw, daemon=True)
        painter.start()
        try:
            return evaluate(study, trial, objective, (Exception,))
        finally:
            done.set()
            painter.join()
            screen.update(_panel(study, trial))


def resume(study: StudyRunner, trial_number: int, objective: Objective, live: bool = True) -> TrialRecord:
    """Continue an interrupted trial: a new trial with its parameters, starting from its last checkpoint."""
    record = study.trial(trial_number)
    if record.state not in (TrialState.FAILED, TrialState.STOPPED):
        raise TrialStateError(f"trial {trial_number} is {record.state.value}; only a FAILED (interrupted, crashed) "
                              "or STOPPED trial can be resumed")
    return run_queued(study, study.branch(trial_number, reason=BranchReason.RESUME), objective, live)


def interrupted(record: TrialRecord) -> bool:
    """Whether a FAILED trial was interrupted or lost its worker (so resuming it makes sense)."""
    return record.state is TrialState.FAILED and record.cause is not None and record.cause.resumable


__all__ = ["babysit", "curve_chart", "interrupted", "resume", "run_queued"]
