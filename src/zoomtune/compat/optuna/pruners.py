"""Optuna's pruners mapped onto zoomtune's schedulers (`trial.should_prune()` asks the scheduler).

- `MedianPruner(n_startup_trials, n_warmup_steps, interval_steps)` is `MedianStopping` with the same three.
  zoomtune's median takes every other trial's report at the step (Optuna: COMPLETE trials only) and counts
  STOPPED trials as finished for `n_startup_trials`.
- `SuccessiveHalvingPruner(min_resource, reduction_factor, min_early_stopping_rate)` is
  ``ASHA(min_resource * reduction_factor ** min_early_stopping_rate, reduction_factor)``.
- `HyperbandPruner(min_resource, max_resource, reduction_factor)` is `Hyperband` with the same three.
- `NopPruner()` is no scheduler.

Resource: zoomtune counts a report at step s as s + 1 epochs done, Optuna as s, so zoomtune judges each rung
one step earlier. ``"auto"`` resources are estimated as Optuna does, from the most steps a COMPLETE trial
reported, and nothing is pruned before a trial has completed. `bootstrap_count`, `n_min_trials` other than 1
and the pruners zoomtune lacks (`PercentilePruner`, `ThresholdPruner`, `PatientPruner`, `WilcoxonPruner`)
raise `UnsupportedError`.

>>> SuccessiveHalvingPruner(min_resource=2, reduction_factor=3, min_early_stopping_rate=1).zoomtune.min_resource
6
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from zoomtune.compat.optuna.exceptions import UnsupportedError, unsupported_class
from zoomtune.records import TrialRecord, TrialState
from zoomtune.schedulers import ASHA, Decision, Hyperband, MedianStopping, ScheduleContext, Scheduler


class BasePruner(ABC):
    """An Optuna pruner's settings and the zoomtune scheduler they make (`zoomtune`; None: never prune)."""

    @property
    @abstractmethod
    def zoomtune(self) -> Scheduler | None:
        """The scheduler the study runs with."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.zoomtune!r})"


class EstimatedPruner(BasePruner):
    """A pruner with an ``"auto"`` resource, which Optuna estimates from the COMPLETE trials."""

    @abstractmethod
    def scheduler_for(self, most_steps: int) -> Scheduler:
        """The scheduler once the most steps a COMPLETE trial reported (its last step) is known."""


class AutoResource(Scheduler):
    """Never stops a trial until one has COMPLETEd with reports, then decides as the scheduler `pruner` makes
    from that trial's last step (Optuna's ``"auto"`` resources)."""

    def __init__(self, pruner: EstimatedPruner) -> None:
        super().__init__(None)
        self.pruner = pruner
        self.estimated: Scheduler | None = None

    def decide(self, trial: TrialRecord, context: ScheduleContext) -> Decision:
        if self.estimated is None:
            steps = [t.last_step for t in context.history() if t.state is TrialState.COMPLETE
                     and t.last_step is not None]
            if not steps:
                return Decision.CONTINUE
            self.estimated = self.pruner.scheduler_for(max(steps))
        return self.estimated.decide(trial, context)

    def __repr__(self) -> str:
        return f"AutoResource({type(self.pruner).__name__}, estimated={self.estimated!r})"


def _refuse_bootstrap(owner: str, bootstrap_count: int) -> None:
    if bootstrap_count != 0:
        raise UnsupportedError(f"{owner}(bootstrap_count={bootstrap_count})",
                               "zoomtune's successive halving promotes from the first report at a rung; drop it")


class MedianPruner(BasePruner):
    """Prune a trial whose best value so far is worse than the median of the others' at the same step."""

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 0, interval_steps: int = 1, *,
                 n_min_trials: int = 1) -> None:
        if n_min_trials != 1:
            raise UnsupportedError(f"MedianPruner(n_min_trials={n_min_trials})",
                                   "zoomtune's median needs one other trial's report at the step; raise "
                                   "n_startup_trials instead")
        self._scheduler = MedianStopping(n_startup_trials, n_warmup_steps, interval_steps)

    @property
    def zoomtune(self) -> Scheduler:
        return self._scheduler


class SuccessiveHalvingPruner(EstimatedPruner):
    """Asynchronous successive halving (ASHA): at each rung only the best 1 / reduction_factor go on."""

    def __init__(self, min_resource: str | int = "auto", reduction_factor: int = 4,
                 min_early_stopping_rate: int = 0, bootstrap_count: int = 0) -> None:
        _refuse_bootstrap("SuccessiveHalvingPruner", bootstrap_count)
        if not isinstance(min_early_stopping_rate, int) or min_early_stopping_rate < 0:
            raise ValueError(f"SuccessiveHalvingPruner: min_early_stopping_rate must be an integer >= 0; "
                             f"got {min_early_stopping_rate!r}")
        if min_resource != "auto" and not isinstance(min_resource, int):
            raise ValueError(f"SuccessiveHalvingPruner: min_resource must be an integer >= 1 or 'auto'; "
                             f"got {min_resource!r}")
        self.min_resource, self.reduction_factor = min_resource, reduction_factor
        self.min_early_stopping_rate = min_early_stopping_rate
        self._scheduler: Scheduler = (AutoResource(self) if min_resource == "auto"
                                      else self._asha(int(min_resource)))

    def _asha(self, min_resource: int) -> ASHA:
        return ASHA(min_resource * self.reduction_factor ** self.min_early_stopping_rate, self.reduction_factor)

    def scheduler_for(self, most_steps: int) -> Scheduler:
        return self._asha(max(most_steps // 100, 1))  # Optuna's estimate

    @property
    def zoomtune(self) -> Scheduler:
        return self._scheduler


class HyperbandPruner(EstimatedPruner):
    """Successive halving hedged over several minimum resources (brackets)."""

    def __init__(self, min_resource: int = 1, max_resource: str | int = "auto", reduction_factor: int = 3,
                 bootstrap_count: int = 0) -> None:
        _refuse_bootstrap("HyperbandPruner", bootstrap_count)
        if max_resource != "auto" and not isinstance(max_resource, int):
            raise ValueError(f"HyperbandPruner: max_resource must be an integer or 'auto'; got {max_resource!r}")
        self.min_resource, self.max_resource, self.reduction_factor = min_resource, max_resource, reduction_factor
        self._scheduler: Scheduler = (AutoResource(self) if max_resource == "auto"
                                      else Hyperband(min_resource, int(max_resource), reduction_factor))

    def scheduler_for(self, most_steps: int) -> Scheduler:
        return Hyperband(self.min_resource, max(most_steps + 1, self.min_resource), self.reduction_factor)

    @property
    def zoomtune(self) -> Scheduler:
        return self._scheduler


class NopPruner(BasePruner):
    """Never prune."""

    @property
    def zoomtune(self) -> None:
        return None


PercentilePruner = unsupported_class("PercentilePruner", "use MedianPruner (the 50th percentile) or "
                                                    "SuccessiveHalvingPruner")
ThresholdPruner = unsupported_class("ThresholdPruner", "check the value in the objective and raise TrialPruned()")
PatientPruner = unsupported_class("PatientPruner", "use MedianPruner(n_warmup_steps=...) or count the steps without "
                                              "improvement in the objective and raise TrialPruned()")
WilcoxonPruner = unsupported_class("WilcoxonPruner", "use MedianPruner or SuccessiveHalvingPruner")


def scheduler_of(pruner: BasePruner | Scheduler) -> Scheduler | None:
    """The zoomtune scheduler for `create_study(pruner=...)`; a zoomtune scheduler is used as it is."""
    if isinstance(pruner, Scheduler):
        return pruner
    if isinstance(pruner, BasePruner):
        return pruner.zoomtune
    raise UnsupportedError(f"pruner={type(pruner).__name__}", "pass one of zoomtune.compat.optuna.pruners "
                                                              "(MedianPruner, ...) or a zoomtune scheduler")


__all__ = ["AutoResource", "BasePruner", "EstimatedPruner", "HyperbandPruner", "MedianPruner", "NopPruner",
           "PatientPruner", "PercentilePruner", "SuccessiveHalvingPruner", "ThresholdPruner", "WilcoxonPruner",
           "scheduler_of"]
