"""Trials one after another in this process and thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoomtune.executors.base import Budget, Executor, ResultHook, run_trial

if TYPE_CHECKING:
    from zoomtune.study import Objective, Study


class InlineExecutor(Executor):
    """The simplest executor: a loop."""

    def run(self, study: Study, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            on_result: ResultHook) -> None:
        while budget.take():
            on_result(run_trial(study, objective, catch))


__all__ = ["InlineExecutor"]
