"""Live progress of a run: trials done / running / failed, best so far, ETA (Rich, on stderr; in a Jupyter
kernel, a display in the cell output updated in place, see `zoomtune.notebook_progress`).

In a study of several objectives there is no single best: the line shows the size of the Pareto front
(feasible COMPLETE trials no other dominates) and the best value of each objective on it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from zoomtune.notebook_progress import Frame, NotebookProgress, in_jupyter_kernel
from zoomtune.pareto import pareto_front_mask
from zoomtune.records import Direction, TrialRecord, TrialState, best_of


class TrialProgress:
    """Counts results as they arrive and, when enabled, draws them as a progress bar."""

    def __init__(self, direction: Direction | Sequence[Direction], total: int | None,
                 started: Callable[[], int] | None = None, enabled: bool = True, timeout: float | None = None,
                 names: Sequence[str] = ()) -> None:
        """`direction`: the study's, or one per objective; `names`: the objectives' names (none: "value 0",
        "value 1", ...). `started()` counts the trials started so far (what makes "running" in the status line)."""
        self.directions = (direction,) if isinstance(direction, Direction) else tuple(direction)
        self.direction = self.directions[0]
        self.names = tuple(names) or tuple(f"value {i}" for i in range(len(self.directions)))
        self.total, self.started, self.enabled = total, started, enabled
        self.timeout = timeout  # with no trial count, the bar measures the time budget instead
        self._start = time.monotonic()
        self.counts = dict.fromkeys(TrialState, 0)
        self.best: TrialRecord | None = None
        self.front: list[TrialRecord] = []  # several objectives: the Pareto front so far
        self._bar: Any = None
        self._task: Any = None
        self._notebook: NotebookProgress | None = None

    @property
    def done(self) -> int:
        return sum(self.counts[s] for s in (TrialState.COMPLETE, TrialState.STOPPED, TrialState.FAILED))

    def __enter__(self) -> TrialProgress:
        if self.enabled and in_jupyter_kernel():
            self._notebook = NotebookProgress(self.frame).__enter__()
        elif self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]trials {task.fields[count]}"), BarColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                 TextColumn("eta"), TimeRemainingColumn(),
                                 console=Console(stderr=True, width=None if sys.stderr.isatty() else 120),
                                 transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task("trials", total=self._bar_total(), count=self.count(),
                                            status=self.status())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self._bar_completed(), count=self.count(), status=self.status())
            self._bar.__exit__(exc_type, exc, tb)
        if self._notebook is not None:
            self._notebook.__exit__(exc_type, exc, tb)

    def _bar_total(self) -> float | None:
        return self.total if self.total is not None else self.timeout

    def _bar_completed(self) -> float:
        if self.total is None and self.timeout is not None:
            return min(self.timeout, time.monotonic() - self._start)
        return self.done

    def count(self) -> str:
        """Trials done, out of the count asked for when there is one."""
        return f"{self.done}/{self.total}" if self.total is not None else f"{self.done} done"

    def eta(self) -> float | None:
        """Seconds left: from the pace so far toward the trial count, else what remains of the time budget;
        None when there is nothing to go by."""
        elapsed = time.monotonic() - self._start
        if self.total is not None:
            return elapsed / self.done * (self.total - self.done) if self.done else None
        return max(0.0, self.timeout - elapsed) if self.timeout is not None else None

    def line(self) -> str:
        """The whole status as one line of text: what a notebook shows beside its bar."""
        return f"trials {self.count()} | {self.status()} | elapsed {_clock(time.monotonic() - self._start)} | " \
               f"eta {_clock(self.eta())}"

    def frame(self) -> Frame:
        """What a notebook display draws now."""
        return Frame(self._bar_completed(), self._bar_total(), self.line())

    @property
    def multi_objective(self) -> bool:
        return len(self.directions) > 1

    def status(self) -> str:
        """One line: running, failed, stopped and the best value so far (several objectives: the front's size and
        each objective's best on it)."""
        running = (self.started() - self.done) if self.started is not None else 0
        parts = [f"running {running}", f"failed {self.counts[TrialState.FAILED]}"]
        if self.counts[TrialState.STOPPED]:
            parts.append(f"stopped {self.counts[TrialState.STOPPED]}")
        if self.multi_objective:
            best = ", ".join(self._best_on_front(i) for i in range(len(self.directions))) if self.front else ""
            parts.append(f"front {len(self.front)}" + (f": {best}" if best else ""))
        else:
            parts.append(f"best {self.best.value:.6g} (trial {self.best.number})" if self.best is not None
                         else "best -")
        return " | ".join(parts)

    def _best_on_front(self, index: int) -> str:
        """ "accuracy 0.9123 (#3)": objective `index`'s best value on the front and its trial (short: the line
        holds one per objective)."""
        better = self.directions[index].better
        best = self.front[0]
        for trial in self.front[1:]:
            if better(trial.values[index], best.values[index]):  # type: ignore[index]
                best = trial
        return f"{self.names[index]} {best.values[index]:.4g} (#{best.number})"  # type: ignore[index]

    def _add_to_front(self, record: TrialRecord) -> None:
        """Keep `front` the non-dominated feasible COMPLETE trials (minimising each objective's signed value)."""
        if record.state is not TrialState.COMPLETE or not record.feasible or record.values is None \
                or len(record.values) != len(self.directions):
            return
        signs = [1.0 if d is Direction.MINIMIZE else -1.0 for d in self.directions]
        candidates = [*self.front, record]
        mask = pareto_front_mask([[s * v for s, v in zip(signs, t.values or (), strict=True)] for t in candidates])
        self.front = [t for t, keep in zip(candidates, mask, strict=True) if keep]

    def update(self, record: TrialRecord) -> None:
        """Count one finished trial."""
        self.counts[record.state] += 1
        if self.multi_objective:
            self._add_to_front(record)
        else:
            self.best = best_of([self.best, record] if self.best is not None else [record], self.direction)
        if self._bar is not None:
            self._bar.update(self._task, completed=self._bar_completed(), count=self.count(), status=self.status())


def _clock(seconds: float | None) -> str:
    """H:MM:SS, as Rich's elapsed and remaining columns write it ("-:--:--" when unknown)."""
    if seconds is None:
        return "-:--:--"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


__all__ = ["TrialProgress"]
