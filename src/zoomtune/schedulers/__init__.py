"""Schedulers: early stopping and population-based training, orthogonal to samplers."""

from zoomtune.schedulers.asha import ASHA
from zoomtune.schedulers.base import Decision, ScheduleContext, Scheduler
from zoomtune.schedulers.hyperband import Hyperband
from zoomtune.schedulers.median import MedianStopping
from zoomtune.schedulers.pbt import PBT

__all__ = ["ASHA", "PBT", "Decision", "Hyperband", "MedianStopping", "ScheduleContext", "Scheduler"]
