"""Trials one after another in this process and thread."""

from __future__ import annotations

from zoomtune.executors.base import Budget, Executor, Objective, ResultHook, StudyRunner, run_trial


class InlineExecutor(Executor):
    """The simplest executor: a loop."""

    def run(self, study: StudyRunner, objective: Objective, budget: Budget, catch: tuple[type[BaseException], ...],
            on_result: ResultHook) -> None:
        while budget.take():
            on_result(run_trial(study, objective, catch))


__all__ = ["InlineExecutor"]
