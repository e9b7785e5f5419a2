"""Live progress of a run: trials done / running / failed, best so far, ETA (Rich, on stderr)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from zoomtune.records import Direction, TrialRecord, TrialState, best_of


class TrialProgress:
    """Counts results as they arrive and, when enabled, draws them as a progress bar."""

    def __init__(self, direction: Direction, total: int | None, started: Callable[[], int] | None = None,
                 enabled: bool = True, timeout: float | None = None) -> None:
        """`started()` counts the trials started so far (what makes "running" in the status line)."""
        self.direction, self.total, self.started, self.enabled = direction, total, started, enabled
        self.timeout = timeout  # with no trial count, the bar measures the time budget instead
        self._start = time.monotonic()
        self.counts = dict.fromkeys(TrialState, 0)
        self.best: TrialRecord | None = None
        self._bar: Any = None
        self._task: Any = None

    @property
    def done(self) -> int:
        return sum(self.counts[s] for s in (TrialState.COMPLETE, TrialState.STOPPED, TrialState.FAILED))

    def __enter__(self) -> TrialProgress:
        if self.enabled:
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

    def _bar_total(self) -> float | None:
        return self.total if self.total is not None else self.timeout

    def _bar_completed(self) -> float:
        if self.total is None and self.timeout is not None:
            return min(self.timeout, time.monotonic() - self._start)
        return self.done

    def count(self) -> str:
        """Trials done, out of the count asked for when there is one."""
        return f"{self.done}/{self.total}" if self.total is not None else f"{self.done} done"

    def status(self) -> str:
        """One line: running, failed, stopped and the best value so far."""
        running = (self.started() - self.done) if self.started is not None else 0
        best = f"{self.best.value:.6g} (trial {self.best.number})" if self.best is not None else "-"
        parts = [f"running {running}", f"failed {self.counts[TrialState.FAILED]}"]
        if self.counts[TrialState.STOPPED]:
            parts.append(f"stopped {self.counts[TrialState.STOPPED]}")
        parts.append(f"best {best}")
        return " | ".join(parts)

    def update(self, record: TrialRecord) -> None:
        """Count one finished trial."""
        self.counts[record.state] += 1
        self.best = best_of([self.best, record] if self.best is not None else [record], self.direction)
        if self._bar is not None:
            self._bar.update(self._task, completed=self._bar_completed(), count=self.count(), status=self.status())


__all__ = ["TrialProgress"]
