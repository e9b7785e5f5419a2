"""Schedulers: early stopping and population-based training, orthogonal to samplers."""

from zoomtune.schedulers.base import Decision, ScheduleContext, Scheduler

__all__ = ["Decision", "ScheduleContext", "Scheduler"]
