"""`ZoomSearchCV`: scikit-learn's `RandomizedSearchCV` whose candidates are zoomtune trials.

Parameters are drawn by a zoomtune sampler from zoomtune distributions, so each is uniform on its own scale
(`log` for C or a learning rate, `log1m` for a β near 1), and the study can be persisted (`storage=`), shown
and reloaded like any other. With `resource=` ("n_samples" or an estimator parameter such as "max_iter")
each trial climbs a ladder of resources and a scheduler (ASHA by default, or Hyperband, median stopping)
stops the poor ones early: successive halving, like `HalvingRandomSearchCV`, but asynchronous.

It is built on scikit-learn's `BaseSearchCV` through its documented extension point, `_run_search`, so
`cv_results_`, `best_*`, refit (True, a metric's name, a callable), multi-metric scoring, metadata routing
and the delegated `predict` / `predict_proba` / `transform` / `score` are scikit-learn's own.

>>> import zoomtune as zt
>>> from sklearn.datasets import load_iris
>>> from sklearn.linear_model import LogisticRegression
>>> X, y = load_iris(return_X_y=True)
>>> search = ZoomSearchCV(LogisticRegression(max_iter=500), {"C": zt.Float(1e-2, 1e2, scale="log")},
...                       n_trials=3, cv=3, random_state=0).fit(X, y)
>>> sorted(search.best_params_), len(search.cv_results_["params"])
(['C'], 3)
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from joblib import effective_n_jobs  # type: ignore[import-untyped]
from sklearn.base import is_classifier
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import check_random_state
from sklearn.utils.validation import indexable

from zoomtune.errors import ConfigError, require, require_int, require_seed
from zoomtune.integrations.sklearn_resource import (N_SAMPLES, OWNER, DataShape, Ladder, SubsampledCV, build_ladder,
                                                    sample_count, scheduler_on, starting_resource)
from zoomtune.records import TrialRecord, TrialState
from zoomtune.samplers import RandomSampler, Sampler
from zoomtune.schedulers import ASHA, Scheduler
from zoomtune.seeding import fresh_seed
from zoomtune.space import Space
from zoomtune.storage import Storage
from zoomtune.study import Study, create_study
from zoomtune.trial import Trial

#: BaseSearchCV's `evaluate_candidates(candidate_params, cv=None, more_results=None)`: all results so far
Evaluate = Callable[..., dict[str, Any]]
_SEED_LIMIT = 2**31 - 1
#: the words of the ValueError scikit-learn raises when every fit of an `evaluate_candidates` call failed
ALL_FAILED = "fits failed"


def _fail_running(study: Study, trials: Sequence[Trial], error: BaseException) -> None:
    """End FAILED those of `trials` still RUNNING, saying why: `error`, or the fit error that ends scikit-learn's
    report of failed fits."""
    text = str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [""]
    why = lines[-1] if ALL_FAILED in text else f"{type(error).__name__}: {lines[0]}"
    for trial in trials:
        if trial.state is TrialState.RUNNING:
            study.tell(trial, state=TrialState.FAILED, error=why)


class _Counted:
    """`evaluate_candidates`, counting the calls that scored their candidates."""

    def __init__(self, evaluate: Evaluate) -> None:
        self.evaluate, self.calls = evaluate, 0

    def __call__(self, candidates: list[dict[str, Any]], cv: Any, more_results: dict[str, list[Any]]) -> dict[str, Any]:
        results = self.evaluate(candidates, cv=cv, more_results=more_results)
        self.calls += 1
        return results


def _several_metrics(scoring: Any) -> bool:
    """Whether `scoring` names several metrics (a dict, list, tuple or set of them), as scikit-learn reads it."""
    return isinstance(scoring, (Mapping, list, tuple, set))


class BestAtTopRung:
    """The `refit` rule of a search over a resource: the best row among those scored at the highest resource any
    row reached. A row of a lower rung was scored on fewer samples or iterations, so its score does not compare
    (a lucky small subsample would otherwise win, and the refit would use its settings)."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def __call__(self, results: Mapping[str, Any]) -> int:
        resources = np.asarray(results["n_resources"])
        scores = np.asarray(results[f"mean_test_{self.metric}"], dtype=float)
        usable = (resources == resources.max()) & ~np.isnan(scores)
        if not usable.any():  # every top-rung row failed: fall back to the best scored row anywhere
            usable = ~np.isnan(scores)
        return int(np.argmax(np.where(usable, scores, -np.inf)))


class ZoomSearchCV(BaseSearchCV):
    """Search `space` (a dict or `zt.Space` of zoomtune distributions; names may be nested, "clf__C") with
    `n_trials` zoomtune trials, each scored by cross-validation like `RandomizedSearchCV`.

    `sampler` defaults to `zt.samplers.RandomSampler(seed=random_state)` (any zoomtune sampler works, e.g.
    `TPESampler`); it is copied at each fit, so fitting twice gives the same trials. With `resource`
    ("n_samples" or an integer estimator parameter) trials climb the ladder min_resource, min_resource *
    factor, ... up to max_resource (see `zoomtune.integrations.sklearn_resource`; the factor is the
    scheduler's `reduction_factor`), and `scheduler` (default `ASHA(seed=random_state)`) stops them at its
    rungs: `cv_results_` then has one row per trial and rung, with `iter` and `n_resources` as in
    `HalvingRandomSearchCV`, and stopped trials end STOPPED in the study. Every row names its `trial_number`;
    `best_*` are the best row's among those at the highest resource reached (`BestAtTopRung`), as
    HalvingRandomSearchCV picks from its last iteration; a callable `refit` chooses for itself.

    The study lives in memory unless `storage` (a URL such as "sqlite:///zoomtune.db", or a Storage) is
    given; `study_name` names it (a fit with the name of an existing study adds trials to it).
    After `fit`: `trials_` (the study's trial records) and `study_name_`, beside scikit-learn's attributes.
    The mean test score is the objective, maximised: the metric `refit` names in multi-metric scoring, else
    the first.
    """

    refit: bool | str | Callable[[dict[str, Any]], int]  # set by BaseSearchCV.__init__

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **BaseSearchCV._parameter_constraints,
        "space": [Mapping],
        "n_trials": [numbers.Integral],
        "sampler": [Sampler, None],
        "scheduler": [Scheduler, None],
        "resource": [str, None],
        "min_resource": [numbers.Integral, None],
        "max_resource": [numbers.Integral, None],
        "random_state": ["random_state"],
        "storage": [str, Storage, None],
        "study_name": [str, None],
    }

    def __init__(self, estimator: Any, space: Mapping[str, Any], *, n_trials: int = 10, sampler: Sampler | None = None,
                 scheduler: Scheduler | None = None, cv: Any = 5, scoring: Any = None, n_jobs: int | None = 1,
                 refit: bool | str | Callable[[dict[str, Any]], int] = True, resource: str | None = None,
                 min_resource: int | None = None, max_resource: int | None = None, random_state: Any = None,
                 storage: str | Storage | None = None, study_name: str | None = None, verbose: int = 0,
                 pre_dispatch: int | str = "2*n_jobs", error_score: Any = np.nan,
                 return_train_score: bool = False) -> None:
        super().__init__(estimator=estimator, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv, verbose=verbose,
                         pre_dispatch=pre_dispatch, error_score=error_score, return_train_score=return_train_score)
        self.space = space
        self.n_trials = n_trials
        self.sampler = sampler
        self.scheduler = scheduler
        self.resource = resource
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.random_state = random_state
        self.storage = storage
        self.study_name = study_name

    def fit(self, X: Any, y: Any = None, **params: Any) -> ZoomSearchCV:
        """Run the trials, then refit the best candidate on all of `X` (see `BaseSearchCV.fit`); `params` go
        to the estimator's fit, the scorer and the splitter (`groups`)."""
        X, y = indexable(X, y)
        classes = (len(np.unique(np.asarray(y))) if self.resource == N_SAMPLES and y is not None
                   and is_classifier(self.estimator) else None)
        self._data = DataShape(sample_count(X), classes)  # what the ladder's defaults need
        chosen = self.refit
        by_metric = isinstance(chosen, str) or (chosen is True and not _several_metrics(self.scoring))
        if self.resource is None or not by_metric:
            super().fit(X, y, **params)
            return self
        metric = chosen if isinstance(chosen, str) else "score"
        self.refit = BestAtTopRung(metric)  # set for this fit only: get_params() is unchanged afterwards
        try:
            super().fit(X, y, **params)
        finally:
            self.refit = chosen
        self.best_score_ = float(self.cv_results_[f"mean_test_{metric}"][self.best_index_])
        return self

    def _run_search(self, evaluate_candidates: Evaluate) -> None:
        """BaseSearchCV's extension point: ask the study for trials a few at a time (enough to keep `n_jobs`
        busy), evaluate them, and tell the study their scores."""
        n_trials = require_int(OWNER, "n_trials", self.n_trials, 1)
        study, ladder, seed = self._open_study()
        first = len(study.trials)
        evaluate = _Counted(evaluate_candidates)
        batch = max(1, -(-effective_n_jobs(self.n_jobs) // self.n_splits_))
        refused: list[ValueError] = []  # calls whose every fit failed: scikit-learn refuses them
        splitters = (ladder.splitters(self._checked_cv_orig, is_classifier(self.estimator), seed)
                     if ladder is not None else {})
        for start in range(0, n_trials, batch):
            trials = [study.ask() for _ in range(min(batch, n_trials - start))]
            try:
                if ladder is None:
                    scores = self._evaluate(evaluate, trials, [t.params for t in trials], None, {})
                    for trial, score in zip(trials, scores, strict=True):
                        study.tell(trial, score)
                else:
                    self._climb(study, evaluate, trials, ladder, splitters)
            except BaseException as error:  # whatever it is, no trial may stay RUNNING
                _fail_running(study, trials, error)
                if not (isinstance(error, ValueError) and ALL_FAILED in str(error) and self.error_score != "raise"):
                    raise
                refused.append(error)
        if refused and not evaluate.calls:  # not one candidate was scored: raise, as RandomizedSearchCV does
            raise refused[-1]
        self.trials_: list[TrialRecord] = study.trials[first:]
        self.study_name_: str = study.name

    def _open_study(self) -> tuple[Study, Ladder | None, int]:
        """The study the trials go to, the ladder they climb (None without `resource`) and the seed."""
        require(isinstance(self.space, Mapping), OWNER, "space", "must be a dict or zt.Space of zoomtune "
                "distributions (zt.Float, zt.Int, zt.Categorical)", self.space)
        space = Space(self.space)
        seed = self._seed()
        ladder, scheduler = self._halving(space, seed)
        sampler = copy.deepcopy(self.sampler) if self.sampler is not None else RandomSampler(seed=seed)
        study = create_study(self.study_name, direction="maximize", storage=self.storage, space=space,
                             sampler=sampler, scheduler=scheduler, load_if_exists=True,
                             heartbeat_interval=None if self.storage is None else ...)
        return study, ladder, seed

    def _seed(self) -> int:
        """The seed of the sampler, scheduler and subsamples: `random_state` as an int (fresh when None)."""
        state = self.random_state
        if state is None:
            return fresh_seed()
        if isinstance(state, numbers.Integral):
            require_seed(OWNER, state)
            return int(state)
        return int(check_random_state(state).randint(_SEED_LIMIT))

    def _halving(self, space: Space, seed: int) -> tuple[Ladder | None, Scheduler | None]:
        """The ladder and the scheduler judging at its rungs; (None, None) without `resource`."""
        if self.resource is None:
            if self.scheduler is not None:
                raise ConfigError("scheduler", f"needs resource= ({N_SAMPLES!r} or an estimator parameter such as "
                                               "'max_iter'): a scheduler stops trials as their resource grows",
                                  self.scheduler, OWNER)
            return None, None
        base = copy.deepcopy(self.scheduler) if self.scheduler is not None else ASHA(seed=seed)
        ladder = build_ladder(self.resource, self.min_resource, self.max_resource, base,
                              self.estimator.get_params(deep=True), space.names, self._data, self.n_splits_)
        return ladder, scheduler_on(ladder, base)

    def _climb(self, study: Study, evaluate: Evaluate, trials: list[Trial], ladder: Ladder,
               splitters: Mapping[int, SubsampledCV | None]) -> None:
        """Successive halving of `trials`: evaluate those still going at each rung (its folds from `splitters`),
        report, and stop the ones the scheduler says to; the survivors of the last rung complete with their
        score there."""
        going = trials
        for k, resource in enumerate(ladder.rungs):
            due = [t for t in going if starting_resource(study.scheduler, t.number) <= resource]
            if not due:
                continue
            more = {"iter": [k] * len(due), "n_resources": [resource] * len(due)}
            scores = self._evaluate(evaluate, due, [ladder.candidate(t.params, resource) for t in due],
                                    splitters[resource], more)
            last = k == len(ladder.rungs) - 1
            for trial, score in zip(due, scores, strict=True):
                trial.set_user_attr("n_resources", resource)
                trial.report(score, step=ladder.step(resource))
                if last:
                    study.tell(trial, score)
                elif trial.should_stop():
                    study.tell(trial, state=TrialState.STOPPED)
            going = [t for t in going if t.state is TrialState.RUNNING]
            if not going:
                return

    def _evaluate(self, evaluate: Evaluate, trials: Sequence[Trial], candidates: list[dict[str, Any]], cv: Any,
                  more: dict[str, list[Any]]) -> list[float]:
        """Cross-validate `candidates` (one per trial) as rows of `cv_results_`; their mean test scores."""
        results = evaluate(candidates, cv=cv, more_results={"trial_number": [t.number for t in trials], **more})
        scores = results[self._score_key(results)][-len(candidates):]
        return [float(score) for score in scores]

    def _score_key(self, results: Mapping[str, Any]) -> str:
        """The column the study maximises: the single metric's, else the one `refit` names, else the first."""
        if "mean_test_score" in results:
            return "mean_test_score"
        if isinstance(self.refit, str) and f"mean_test_{self.refit}" in results:
            return f"mean_test_{self.refit}"
        return next(key for key in results if key.startswith("mean_test_"))


__all__ = ["ZoomSearchCV"]
