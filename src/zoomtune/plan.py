"""Panda or caviar? Time one trial on this machine, count its cores and GPUs, and say which
approach fits a time budget: how many trials in parallel and in all, and whether early
stopping pays.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zoomtune.records import Direction

if TYPE_CHECKING:
    from zoomtune.records import TrialRecord
    from zoomtune.samplers.base import Sampler
    from zoomtune.study import Objective


@dataclass(frozen=True)
class Plan:
    """The numbers a recommendation rests on, and the recommendation."""

    trial_seconds: float
    reports: int
    cores: int
    gpus: int
    budget_seconds: float
    parallel: int
    total_trials: int
    trials_with_asha: int
    mode: str  # "panda" or "caviar"
    early_stopping_pays: bool
    advice: list[str] = field(default_factory=list)


def asha_cost(reports: int, eta: int = 3) -> float:
    """Expected reports per trial under ASHA (rungs at 1, η, η², … reports; a third go on each time)."""
    if reports <= 1:
        return float(max(reports, 1))
    rungs = [eta**k for k in range(int(math.log(reports, eta)) + 1) if eta**k < reports] + [reports]
    cost, share, previous = 0.0, 1.0, 0
    for rung in rungs:
        cost += share * (rung - previous)
        previous, share = rung, share / eta
    return cost


def make_plan(trial_seconds: float, reports: int, cores: int, gpus: int, budget_seconds: float) -> Plan:
    """Turn measurements into a recommendation."""
    parallel = max(1, gpus or cores)
    total = int(budget_seconds / max(trial_seconds, 1e-9)) * parallel
    with_asha = int(total * reports / asha_cost(reports)) if reports >= 3 else total
    mode = "panda" if total < 10 else "caviar"
    pays = reports >= 3 and with_asha >= total * 1.5 and total >= 3
    advice = []
    if mode == "panda":
        advice.append(f"only {total} trial(s) fit: babysit one model (`zoomtune babysit`), watch its curve and "
                      "nudge its learning rate, rather than searching blind")
    else:
        advice.append(f"run {parallel} trial(s) at a time ({'one per GPU' if gpus else 'one per core'}), "
                      f"about {total} in all; start with random search and zoom coarse to fine")
    if pays:
        advice.append(f"early stopping pays: with ASHA about {with_asha} trials fit instead of {total} "
                      f"(a trial reports {reports} times, a stopped one costs ~{asha_cost(reports):.1f} reports)")
    elif reports < 3:
        advice.append("early stopping cannot help: the objective reports fewer than 3 times per trial")
    return Plan(trial_seconds, reports, cores, gpus, budget_seconds, parallel, total, with_asha, mode, pays, advice)


def measure(objective: Objective, sampler: Sampler | None,
            directions: Sequence[str | Direction]) -> tuple[float, int, str]:
    """Run one trial in memory (a study of the given `directions`, one per objective): its seconds, its number
    of reports, and how it ended. Its checkpoints go to a temporary folder, removed afterwards: measuring
    leaves nothing behind."""
    from zoomtune.study import create_study

    with tempfile.TemporaryDirectory(prefix="zoomtune-plan-") as artifacts:
        study = create_study(directions=list(directions), sampler=sampler, heartbeat_interval=None,
                             artifacts=artifacts)
        start = time.perf_counter()
        study.optimize(objective, n_trials=1, catch=())
        record = study.trials[0]
        return time.perf_counter() - start, len(record.intermediate_values), record.state.value


def from_history(trials: list[TrialRecord]) -> tuple[float, int, int] | None:
    """What a study's own COMPLETE trials say instead of a measurement: their median seconds, their
    largest number of reports, and how many they are; None when none has completed."""
    done = [t for t in trials if t.state.value == "COMPLETE" and t.duration is not None]
    if not done:
        return None
    seconds = statistics.median([t.duration for t in done if t.duration is not None])
    return seconds, max(len(t.intermediate_values) for t in done), len(done)


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


__all__ = ["Plan", "asha_cost", "cores", "from_history", "make_plan", "measure"]
