"""Successive halving for `ZoomSearchCV`: the ladder of resources a trial climbs, the splitter that cuts
training folds to a number of samples, and the scheduler rebuilt so that its rungs are the ladder's.

A trial is fitted at resource r_0 = min_resource, then r_0 * factor, r_0 * factor**2, ... and last at
max_resource; its mean cross-validated score at resource r is reported at step r - 1, zoomtune's convention
(a report at step s stands for s + 1 units of resource, "epochs done"), so that ASHA's and Hyperband's rungs
(resources min_resource * factor**k) fall exactly on the ladder.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils import resample

from zoomtune.errors import ConfigError, require, require_int
from zoomtune.schedulers import ASHA, PBT, Hyperband, Scheduler

#: the resource that subsamples the training folds instead of setting an estimator parameter
N_SAMPLES = "n_samples"
#: the factor between rungs when the scheduler has none of its own (median stopping)
DEFAULT_FACTOR = 3
#: HalvingRandomSearchCV's "smallest" minimum: this many samples per fold (and per class for a classifier)
SAMPLES_PER_FOLD = 2
OWNER = "ZoomSearchCV"


def sample_count(X: Any) -> int:
    """How many samples (rows) `X` has."""
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


@dataclass(frozen=True)
class DataShape:
    """What the ladder's defaults need to know of the data `fit` got."""

    n_samples: int
    n_classes: int | None  # None for a regressor or an unsupervised estimator


@dataclass(frozen=True)
class Ladder:
    """The resources a trial is evaluated at, smallest first; `name` is "n_samples" or an estimator parameter."""

    name: str
    rungs: tuple[int, ...]
    n_samples: int  # of the whole data

    @property
    def by_samples(self) -> bool:
        return self.name == N_SAMPLES

    @staticmethod
    def step(resource: int) -> int:
        """The report step of `resource` (see the module's docstring)."""
        return resource - 1

    def candidate(self, params: Mapping[str, Any], resource: int) -> dict[str, Any]:
        """The parameters to fit with at `resource`: the estimator parameter set to it when the resource is one."""
        return dict(params) if self.by_samples else {**params, self.name: resource}

    def splitters(self, cv: Any, stratify: bool, seed: int) -> dict[int, SubsampledCV | None]:
        """The splitter of each rung (None: `cv` itself, at full data or for an estimator parameter), made once
        per fit so that each rung's folds are cut once, not again for every trial that reaches it."""
        return {resource: SubsampledCV(cv, resource, stratify, seed)
                if self.by_samples and resource < self.n_samples else None for resource in self.rungs}


def geometric_rungs(min_resource: int, max_resource: int, factor: int) -> tuple[int, ...]:
    """min_resource * factor**k while below max_resource, then max_resource itself."""
    rungs = []
    resource = min_resource
    while resource < max_resource:
        rungs.append(resource)
        resource *= factor
    return (*rungs, max_resource)


def reduction_factor(scheduler: Scheduler) -> int:
    """The factor between rungs: the scheduler's own (ASHA, Hyperband), else `DEFAULT_FACTOR`."""
    return int(getattr(scheduler, "reduction_factor", DEFAULT_FACTOR))


def build_ladder(resource: Any, min_resource: Any, max_resource: Any, scheduler: Scheduler,
                 estimator_params: Mapping[str, Any], space_names: tuple[str, ...], data: DataShape,
                 n_splits: int) -> Ladder:
    """The ladder, checked; `ConfigError` naming the argument otherwise.

    Defaults: max_resource is the scheduler's (when it has one), else the number of samples or the estimator's
    own value of the parameter; min_resource is the scheduler's when above 1, else HalvingRandomSearchCV's
    "smallest" (2 samples per fold, per class for a classifier; 1 for an estimator parameter).
    """
    require(isinstance(resource, str) and (resource == N_SAMPLES or resource in estimator_params), OWNER,
            "resource", f"must be {N_SAMPLES!r} or an integer parameter of the estimator (such as 'max_iter' or "
            "'n_estimators', 'clf__max_iter' in a pipeline)", resource)
    require(resource not in space_names, OWNER, "resource", "is the resource, so it cannot be in the space too",
            resource)
    if scheduler_max := getattr(scheduler, "max_resource", None):
        default_max = scheduler_max
    elif resource == N_SAMPLES:
        default_max = data.n_samples
    else:
        default_max = estimator_params[resource]
        require(isinstance(default_max, int) and not isinstance(default_max, bool) and default_max >= 1, OWNER,
                "max_resource", f"is needed: the estimator's {resource} is no integer >= 1", default_max)
    top = require_int(OWNER, "max_resource", default_max if max_resource is None else max_resource, 1)
    if resource == N_SAMPLES and top > data.n_samples:
        raise ConfigError("max_resource", f"must be at most the number of samples ({data.n_samples})", top, OWNER)
    scheduler_min = int(getattr(scheduler, "min_resource", 1))
    smallest = SAMPLES_PER_FOLD * n_splits * (data.n_classes or 1) if resource == N_SAMPLES else 1
    bottom = require_int(OWNER, "min_resource", (scheduler_min if scheduler_min > 1 else smallest)
                         if min_resource is None else min_resource, 1)
    if bottom > top:
        raise ConfigError("min_resource", f"must be at most max_resource ({top})", bottom, OWNER)
    return Ladder(resource, geometric_rungs(bottom, top, reduction_factor(scheduler)), data.n_samples)


def scheduler_on(ladder: Ladder, scheduler: Scheduler) -> Scheduler:
    """`scheduler` judging at the ladder's rungs: ASHA and Hyperband rebuilt with its minimum and maximum
    (same factor, seed and objective); another rule (median stopping) as it is. PBT is refused: it needs
    checkpoints to copy, which a scikit-learn fit does not make."""
    if isinstance(scheduler, PBT):
        raise ConfigError("scheduler", "must stop trials (ASHA, Hyperband, MedianStopping); PBT copies checkpoints, "
                                       "which scikit-learn fits do not make", scheduler, OWNER)
    bottom, top = ladder.rungs[0], ladder.rungs[-1]
    if isinstance(scheduler, Hyperband):
        return Hyperband(bottom, top, scheduler.reduction_factor, seed=scheduler.seed, objective=scheduler.objective)
    if isinstance(scheduler, ASHA):
        return ASHA(bottom, scheduler.reduction_factor, top, seed=scheduler.seed, objective=scheduler.objective)
    return scheduler


def starting_resource(scheduler: Scheduler | None, number: int) -> int:
    """The resource trial `number` starts at: its Hyperband bracket's minimum (lower rungs would never judge it,
    so they are not evaluated); 0 (the ladder's bottom) under any other scheduler."""
    if isinstance(scheduler, Hyperband):
        return scheduler.bracket_min_resources()[scheduler.bracket(number)]
    return 0


class SubsampledCV:
    """The folds of `cv` with each training set cut to `n_resources / n_samples` of itself, drawn without
    replacement (class by class when `stratify`) with the same `seed` for every trial, so that trials at a rung
    are compared on the same samples; test sets stay whole, so scores at every rung measure the same thing.
    The folds of the last data split are kept and given again while the same X, y and groups come back (every
    trial at a rung, within one fit)."""

    def __init__(self, cv: Any, n_resources: int, stratify: bool, seed: int) -> None:
        self.cv, self.n_resources, self.stratify, self.seed = cv, n_resources, stratify, seed
        self._data: tuple[Any, Any, Any] | None = None
        self._folds: list[tuple[np.ndarray, np.ndarray]] = []

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return int(self.cv.get_n_splits(X, y, groups))

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        data = self._data
        if data is None or data[0] is not X or data[1] is not y or data[2] is not groups:
            self._folds = list(self._cut(X, y, groups))
            self._data = (X, y, groups)
        return iter(self._folds)

    def _cut(self, X: Any, y: Any, groups: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        fraction = self.n_resources / sample_count(X)
        labels = np.asarray(y) if self.stratify and y is not None else None
        for train, test in self.cv.split(X, y, groups):
            size = max(1, round(len(train) * fraction))
            strata = labels[train] if labels is not None else None
            yield resample(train, replace=False, n_samples=size, random_state=self.seed, stratify=strata), test


__all__ = ["N_SAMPLES", "DataShape", "Ladder", "SubsampledCV", "build_ladder", "geometric_rungs", "sample_count",
           "scheduler_on", "starting_resource"]
