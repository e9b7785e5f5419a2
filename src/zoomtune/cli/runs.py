"""What `run`, `resume` and `worker` share: how many trials a study still lacks, and running them.

A study file's `n_trials` is the study's total. Continuing a study (`zoomtune resume STUDY`, or
`zoomtune run` of the same file again) runs what it lacks: n_trials minus its finished trials
(COMPLETE, STOPPED, and FAILED by the objective itself) minus those RUNNING elsewhere. Trials that
were interrupted or lost their worker do not count: each is branched (reason RESUME) from its last
checkpoint and runs first, with any other queued trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zoomtune.cli.common import RunTally, fmt_value


@dataclass(frozen=True)
class Standing:
    """Where a study stands against its total."""

    finished: int  # COMPLETE, STOPPED, or FAILED on its own (not interrupted, not a lost worker)
    running: int
    waiting: int
    total: int | None  # the study file's n_trials, when it gave one

    @property
    def lacking(self) -> int | None:
        """Trials to run to reach the total (queued ones included); None without a total."""
        if self.total is None:
            return None
        return max(self.total - self.finished - self.running, self.waiting, 0)


def standing(study: Any, total: int | None) -> Standing:
    """Count `study`'s trials against `total` (from the storage's counts; only FAILED trials are read)."""
    from zoomtune import panda
    from zoomtune.records import TrialState

    [counts] = [s.counts for s in study.storage.list_studies() if s.name == study.name]
    failed = sum(not panda.interrupted(t) for t in study.get_trials((TrialState.FAILED,)))
    return Standing(counts[TrialState.COMPLETE] + counts[TrialState.STOPPED] + failed, counts[TrialState.RUNNING],
                    counts[TrialState.WAITING], total)


def total_reached(study: Any, total: int | None) -> Callable[[], bool] | None:
    """For `optimize(until=...)`: whether `study` holds its `total`, counting trials RUNNING in other
    processes, so that processes continuing it together stop there instead of each running what it
    lacked when they started (None without a total)."""
    if total is None:
        return None
    return lambda: standing(study, total).lacking == 0


def requeue_interrupted(study: Any) -> list[int]:
    """Fail the RUNNING trials whose worker died (stale heartbeat), then branch every interrupted
    trial that has not been continued yet (reason RESUME, from its last checkpoint); the numbers of
    the interrupted trials branched."""
    from zoomtune import panda
    from zoomtune.records import BranchReason

    study.reap_stale_trials()
    trials = study.trials
    continued = {t.parent for t in trials if t.parent is not None}
    again = [t.number for t in trials if panda.interrupted(t) and t.number not in continued]
    for number in again:
        study.branch(number, reason=BranchReason.RESUME)
    return again


def describe_standing(state: Standing, requeued: list[int], interval: float | None) -> str:
    """One sentence on what a continued study has and will run."""
    parts = [f"{state.finished} of {state.total} trials finished" if state.total is not None
             else f"{state.finished} trials finished"]
    if requeued:
        parts.append(f"re-running interrupted trial{'s' if len(requeued) > 1 else ''} "
                     f"{', '.join(map(str, requeued))} from {'their' if len(requeued) > 1 else 'its'} last "
                     "checkpoint")
    if state.running:
        silence = f"{3 * interval:g} s" if interval else "three heartbeat intervals"
        parts.append(f"{state.running} RUNNING elsewhere count toward the total (a dead worker's trial is marked "
                     f"FAILED after {silence} without a heartbeat; resume again then)")
    return "; ".join(parts)


def run_trials(study: Any, objective: Any, *, n_trials: int | None, timeout: float | None = None, jobs: int = 1,
               quiet: bool = False, until: Callable[[], bool] | None = None) -> RunTally:
    """`study.optimize` with a tally of how its trials ended (for the exit status)."""
    tally = RunTally()
    study.optimize(objective, n_trials=n_trials, timeout=timeout, n_jobs=jobs, show_progress_bar=not quiet,
                   callbacks=[tally], until=until)
    return tally


def print_best(study: Any, out: Any) -> None:
    """Print the best trial's number, value and parameters (several objectives: the Pareto front)."""
    from rich.table import Table

    from zoomtune.cli.front import front_table

    if study.is_multi_objective:
        out.print(front_table(study) if study.best_trials else "[red]no trial completed[/] (no Pareto front)")
        return
    try:
        best = study.best_trial
    except ValueError:
        out.print("[red]no trial completed[/]")
        return
    table = Table(title=f"best trial: #{best.number}, value {fmt_value(best.value)}", show_header=True)
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for name, value in best.params.items():
        table.add_row(name, fmt_value(value))
    out.print(table)


__all__ = ["Standing", "describe_standing", "print_best", "requeue_interrupted", "run_trials", "standing",
           "total_reached"]
