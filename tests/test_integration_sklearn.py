"""ZoomSearchCV against scikit-learn itself: its estimator checks, RandomizedSearchCV's cv_results_, pipelines,
refit and multi-metric scoring, parallel jobs, and successive halving ending trials STOPPED with fewer
resources."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_iris, make_classification  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier  # noqa: E402
from sklearn.exceptions import FitFailedWarning, NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GroupKFold, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import zoomtune as zt  # noqa: E402
from zoomtune.integrations.sklearn import ZoomSearchCV  # noqa: E402

LOG_C = {"C": zt.Float(1e-3, 1e3, scale="log")}


@pytest.fixture(autouse=True)
def one_blas_thread() -> Iterator[None]:
    """Tiny fits spend most of their time fighting over BLAS threads on a loaded machine: one each."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=300, n_features=8, n_informative=5, random_state=0)


# random_state=0: check_fit_idempotent fits twice and wants the same predictions. No check is expected to fail:
# RandomizedSearchCV's two (check_supervised_y_2d, check_requires_y_none) fail for its Ridge instance in
# scikit-learn's own suite and pass for LogisticRegression, here as there.
@parametrize_with_checks([ZoomSearchCV(LogisticRegression(), {"C": zt.Float(1e-2, 1e2, scale="log")}, n_trials=2,
                                       cv=2, random_state=0)])
def test_sklearn_estimator_checks(estimator: ZoomSearchCV, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def test_cv_results_have_randomized_search_keys(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    for train_score in (False, True):
        ours = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=4, cv=3, random_state=0,
                            return_train_score=train_score).fit(X, y)
        theirs = RandomizedSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, n_iter=3, cv=3, random_state=0,
                                    return_train_score=train_score).fit(X, y)
        assert set(ours.cv_results_) == set(theirs.cv_results_) | {"trial_number"}
        assert {len(column) for column in ours.cv_results_.values()} == {4} and ours.n_splits_ == 3
        assert {type(ours.cv_results_[k]) for k in theirs.cv_results_} == {type(v) for v in theirs.cv_results_.values()}
        assert ours.best_score_ == ours.cv_results_["mean_test_score"].max()
        assert ours.best_params_ == ours.cv_results_["params"][ours.best_index_]
        assert ours.refit_time_ > 0 and callable(ours.scorer_)
    # every row is a trial of the study, which got the row's mean test score
    assert [t.number for t in ours.trials_] == list(ours.cv_results_["trial_number"])
    assert [t.value for t in ours.trials_] == pytest.approx(list(ours.cv_results_["mean_test_score"]))
    assert [t.state for t in ours.trials_] == [zt.TrialState.COMPLETE] * 4
    assert list(ours.classes_) == [0, 1]
    assert ours.predict_proba(X[:5]).shape == (5, 2) and ours.score(X, y) > 0.7


def test_log_scale_is_honoured(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    search = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=30, cv=2, random_state=1).fit(X, y)
    exponents = np.log10(np.asarray(search.cv_results_["param_C"], dtype=float))
    assert exponents.min() >= -3 and exponents.max() <= 3
    assert len(set(np.floor(exponents).astype(int))) >= 5  # spread over the decades
    assert 8 <= (exponents < 0).sum() <= 22  # a linear draw on [1e-3, 1e3] puts C < 1 once in a thousand


def test_pipeline_both_ways_and_nested_cross_validation(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    space = {"clf__C": zt.Float(1e-3, 1e3, scale="log"), "clf__fit_intercept": zt.Categorical([True, False])}
    search = ZoomSearchCV(pipe, space, n_trials=4, cv=2, random_state=0).fit(X, y)
    assert search.best_estimator_.named_steps["clf"].C == search.best_params_["clf__C"]
    assert set(search.best_params_) == set(space)
    outer = Pipeline([("scale", StandardScaler()), ("search", ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=2,
                                                                          cv=2, random_state=0))])
    assert outer.fit(X, y).predict(X[:3]).shape == (3,)
    scores = cross_val_score(ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=2, cv=2, random_state=0), X, y, cv=2)
    assert scores.shape == (2,) and (scores > 0.5).all()


def test_unsupervised_estimator_delegates_transform() -> None:
    X, _ = load_iris(return_X_y=True)
    search = ZoomSearchCV(PCA(), {"n_components": zt.Int(1, 3)}, n_trials=3, cv=2, random_state=0).fit(X)
    assert search.transform(X).shape == (150, search.best_params_["n_components"])


def test_refit_false_keeps_best_params_but_no_estimator(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    search = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=3, cv=2, refit=False, random_state=0).fit(X, y)
    assert "C" in search.best_params_ and not hasattr(search, "best_estimator_")
    with pytest.raises((AttributeError, NotFittedError)):
        search.predict(X)


def test_multi_metric_refit_by_name_or_callable(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    scoring = {"acc": "accuracy", "bal": "balanced_accuracy"}
    search = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=4, cv=2, scoring=scoring, refit="bal",
                          random_state=0).fit(X, y)
    assert search.best_index_ == int(np.argmax(search.cv_results_["mean_test_bal"]))
    assert [t.value for t in search.trials_] == pytest.approx(list(search.cv_results_["mean_test_bal"]))

    def fastest(results: dict[str, np.ndarray]) -> int:
        return int(np.argmin(results["mean_fit_time"]))

    by_callable = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=4, cv=2, scoring=scoring, refit=fastest,
                               random_state=0).fit(X, y)
    assert by_callable.best_index_ == fastest(by_callable.cv_results_)
    with pytest.raises(ValueError, match="multi-metric scoring"):
        ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=2, cv=2, scoring=scoring).fit(X, y)


def test_two_jobs_give_the_trials_of_one(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    one = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=4, cv=2, random_state=3).fit(X, y)
    two = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=4, cv=2, n_jobs=2, random_state=3).fit(X, y)
    assert two.cv_results_["params"] == one.cv_results_["params"]
    assert two.cv_results_["mean_test_score"] == pytest.approx(one.cv_results_["mean_test_score"])


def test_same_random_state_same_params_and_tpe(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    def params(seed: int, sampler: zt.samplers.Sampler | None = None) -> list[dict[str, float]]:
        search = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=5, cv=2, sampler=sampler, random_state=seed)
        return list(search.fit(X, y).cv_results_["params"])

    assert params(7) == params(7) and params(7) != params(8)
    tpe = zt.samplers.TPESampler(seed=0, n_startup_trials=3)
    assert params(0, tpe) == params(0, tpe)  # the sampler is copied at each fit, not used up


def test_asha_over_samples_stops_trials_with_fewer_samples(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    search = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=9, cv=3, resource="n_samples", min_resource=33,
                          scheduler=zt.schedulers.ASHA(reduction_factor=3, seed=0), random_state=0).fit(X, y)
    results = search.cv_results_
    assert sorted(set(results["n_resources"])) == [33, 99, 297, 300]
    assert list(results["iter"][results["n_resources"] == 300]) == [3] * (results["n_resources"] == 300).sum()
    reached = {t.number: results["n_resources"][results["trial_number"] == t.number].max() for t in search.trials_}
    states = {t.number: t.state for t in search.trials_}
    stopped = [n for n, s in states.items() if s is zt.TrialState.STOPPED]
    assert len(stopped) >= 3 and all(reached[n] < 300 for n in stopped)
    assert all(reached[n] == 300 for n, s in states.items() if s is zt.TrialState.COMPLETE)
    for trial in search.trials_:  # steps are resources - 1: zoomtune's rungs are ASHA's
        assert set(trial.intermediate_values) <= {32, 98, 296, 299}
        assert trial.user_attrs["n_resources"] == reached[trial.number]
    top = results["n_resources"] == 300  # the best is chosen among rows scored on all the data
    assert results["n_resources"][search.best_index_] == 300
    assert search.best_score_ == results["mean_test_score"][top].max()
    assert search.get_params()["refit"] is True  # the rule is set for the fit only


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_asha_over_an_estimator_parameter_in_a_pipeline(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=27))])
    search = ZoomSearchCV(pipe, {"clf__C": zt.Float(1e-4, 1e2, scale="log")}, n_trials=9, cv=2,
                          resource="clf__max_iter", random_state=0).fit(X, y)
    results = search.cv_results_
    assert sorted(set(results["param_clf__max_iter"])) == [1, 3, 9, 27]  # the estimator's own max_iter at the top
    assert list(results["param_clf__max_iter"]) == list(results["n_resources"])
    stopped = [t for t in search.trials_ if t.state is zt.TrialState.STOPPED]
    assert stopped and all(t.user_attrs["n_resources"] < 27 for t in stopped)


def test_hyperband_over_trees_ends_some_trials_early(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    space = {"learning_rate": zt.Float(0.05, 1.0, scale="log"), "max_depth": zt.Int(1, 3)}
    hyperband = zt.schedulers.Hyperband(max_resource=9, seed=0)  # brackets start at 1, 3 and 9 trees
    search = ZoomSearchCV(GradientBoostingClassifier(random_state=0), space, n_trials=12, cv=2,
                          resource="n_estimators", scheduler=hyperband, random_state=0).fit(X, y)
    assert search.best_estimator_.n_estimators == 9  # the best of the top rung, not a lucky 1-tree row
    states = [t.state for t in search.trials_]
    assert zt.TrialState.STOPPED in states and zt.TrialState.COMPLETE in states
    starts = {min(t.intermediate_values) + 1 for t in search.trials_}
    assert starts == {1, 3, 9}  # a trial climbs from its bracket's minimum, not below
    for trial in search.trials_:
        assert min(trial.intermediate_values) + 1 == hyperband.bracket_min_resources()[hyperband.bracket(trial.number)]


def test_failed_candidates_fail_their_trial_only(data: tuple[np.ndarray, np.ndarray], tmp_path: object) -> None:
    X, y = data
    url = f"sqlite:///{tmp_path}/search.db"
    space = {**LOG_C, "l1_ratio": zt.Categorical([0.0, 1.0])}  # lbfgs refuses l1_ratio=1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.simplefilter("ignore", UserWarning)  # "some test scores are non-finite"
        search = ZoomSearchCV(LogisticRegression(), space, n_trials=6, cv=2, random_state=0, storage=url,
                              study_name="lr").fit(X, y)
    study = zt.load_study("lr", storage=url)
    by_ratio = {t.params["l1_ratio"]: t.state for t in study.trials}
    assert by_ratio == {0.0: zt.TrialState.COMPLETE, 1.0: zt.TrialState.FAILED}
    assert search.best_params_["l1_ratio"] == 0.0
    with pytest.raises(ValueError, match="l1"):
        ZoomSearchCV(LogisticRegression(l1_ratio=1.0), LOG_C, n_trials=2, cv=2, storage=url, study_name="raise",
                     error_score="raise").fit(X, y)
    assert [t.state for t in zt.load_study("raise", storage=url).trials] == [zt.TrialState.FAILED]
    with pytest.raises(ValueError, match="All the 2 fits failed"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        ZoomSearchCV(LogisticRegression(l1_ratio=1.0), LOG_C, n_trials=2, cv=2, storage=url, study_name="all").fit(X, y)
    assert {t.error for t in zt.load_study("all", storage=url).trials} == {
        "ValueError: Solver lbfgs supports only 'l2' or None penalties, got l1 penalty."}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"scheduler": zt.schedulers.ASHA()}, "scheduler: needs resource="),
    ({"resource": "n_trees"}, "resource: must be 'n_samples' or an integer parameter"),
    ({"resource": "C"}, "cannot be in the space"),
    ({"resource": "n_samples", "max_resource": 10_000}, "at most the number of samples"),
    ({"resource": "max_iter", "min_resource": 200}, "min_resource: must be at most max_resource"),
    ({"resource": "max_iter", "scheduler": zt.schedulers.PBT()}, "PBT copies checkpoints"),
    ({"n_trials": 0}, "n_trials: must be an integer >= 1"),
])
def test_bad_settings_are_refused_before_any_trial(data: tuple[np.ndarray, np.ndarray], kwargs: dict[str, object],
                                                   message: str) -> None:
    X, y = data
    with pytest.raises(zt.ConfigError, match=message):
        ZoomSearchCV(LogisticRegression(), LOG_C, cv=2, **kwargs).fit(X, y)  # type: ignore[arg-type]


def test_a_space_of_no_distributions_names_the_parameter(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    with pytest.raises(zt.SearchSpaceError, match="'C'"):
        ZoomSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)  # type: ignore[dict-item]
    assert not math.isnan(ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=1, cv=2).fit(X, y).best_score_)


def test_groups_reach_the_splitter_at_every_rung(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    groups = np.arange(len(y)) % 6
    search = ZoomSearchCV(LogisticRegression(), LOG_C, n_trials=4, cv=GroupKFold(3), resource="n_samples",
                          random_state=0)
    with pytest.raises(ValueError, match="groups"):
        search.fit(X, y)
    search.fit(X, y, groups=groups)
    assert search.n_splits_ == 3 and min(search.cv_results_["n_resources"]) < len(y)


def test_a_rungs_subsampled_folds_are_cut_once_per_data() -> None:
    from sklearn.model_selection import StratifiedKFold

    from zoomtune.integrations.sklearn_resource import SubsampledCV

    X, y = np.arange(120).reshape(60, 2), np.tile([0, 1], 30)
    splitter = SubsampledCV(StratifiedKFold(3), 30, stratify=True, seed=0)
    first, again = list(splitter.split(X, y)), list(splitter.split(X, y))
    assert all(a[0] is b[0] for a, b in zip(first, again, strict=True))  # the same folds, not cut again
    assert [len(train) for train, _ in first] == [20, 20, 20] and [len(test) for _, test in first] == [20, 20, 20]
    other = list(splitter.split(X.copy(), y))  # new data: cut anew, the same way (same seed)
    assert other[0][0] is not first[0][0]
    np.testing.assert_array_equal(other[0][0], first[0][0])
