"""The XGBoost and LightGBM callbacks on real boosting: a report per round, early stopping by the study's
scheduler that ends boosting the library's own way (the model comes back, the stopped trials end STOPPED after
fewer rounds, the good ones COMPLETE), clear errors."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

import zoomtune as zt

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
pytest.importorskip("sklearn")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402

from zoomtune.integrations import lightgbm as zt_lgb  # noqa: E402
from zoomtune.integrations import xgboost as zt_xgb  # noqa: E402

ROUNDS = 30
GOOD, BAD = 0.3, 0.001  # learning rates: the bad one has barely moved from the prior after one round


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = make_classification(n_samples=300, n_features=10, random_state=0)
    return x[:200], y[:200], x[200:], y[200:]


def study_of(scheduler: zt.schedulers.ASHA | zt.schedulers.MedianStopping | None,
             rates: tuple[float, ...] = ()) -> zt.Study:
    """A minimising study whose first trials run at `rates` (good ones first, so the bad ones are judged)."""
    study = zt.create_study(direction="minimize", scheduler=scheduler)
    for rate in rates:
        study.enqueue({"lr": rate})
    return study


def check_outcome(study: zt.Study, rates: tuple[float, ...]) -> None:
    """Every trial reported rounds 0, 1, ... without gaps; the good ones ran every round and completed, the
    bad ones stopped after one round with the value the objective returned: the score of the model that came back,
    which is their last report."""
    trials = study.trials
    assert [t.params["lr"] for t in trials] == list(rates)
    for trial, rate in zip(trials, rates, strict=True):
        assert list(trial.intermediate_values) == list(range(len(trial.intermediate_values))), trial
        if rate == GOOD:
            assert trial.state is zt.TrialState.COMPLETE, trial.error
            assert len(trial.intermediate_values) == ROUNDS
        else:
            assert trial.state is zt.TrialState.STOPPED, trial.error
            assert list(trial.intermediate_values) == [0]
            assert trial.value == pytest.approx(trial.intermediate_values[0], rel=1e-5)


# -- XGBoost -----------------------------------------------------------------------------------------------
XGB_PARAMS: dict[str, Any] = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 3, "nthread": 1}


def test_xgb_train_reports_each_round_and_asha_stops_the_bad_trials(data: Any) -> None:
    x, y, xv, yv = data
    dtrain, dvalid = xgb.DMatrix(x, label=y), xgb.DMatrix(xv, label=yv)

    def objective(trial: zt.Trial) -> float:
        params = {**XGB_PARAMS, "eta": trial.suggest_float("lr", 1e-3, 1.0, scale="log")}
        callback = zt_xgb.ZoomtuneCallback(trial, monitor="validation-logloss")
        booster = xgb.train(params, dtrain, ROUNDS, evals=[(dvalid, "validation")], callbacks=[callback],
                            verbose_eval=False)
        return float(log_loss(yv, booster.predict(dvalid)))

    rates = (GOOD, GOOD, GOOD, BAD, BAD)
    study = study_of(zt.schedulers.ASHA(min_resource=1, reduction_factor=3, seed=0), rates)
    study.optimize(objective, n_trials=len(rates))
    check_outcome(study, rates)
    complete = study.trials[0]
    assert complete.value == pytest.approx(complete.intermediate_values[ROUNDS - 1], rel=1e-5)


def test_xgb_sklearn_api_with_median_stopping(data: Any) -> None:
    x, y, xv, yv = data

    def objective(trial: zt.Trial) -> float:
        model = xgb.XGBClassifier(n_estimators=ROUNDS, max_depth=3, n_jobs=1, eval_metric="logloss",
                                  learning_rate=trial.suggest_float("lr", 1e-3, 1.0, scale="log"),
                                  callbacks=[zt_xgb.ZoomtuneCallback(trial)])
        model.fit(x, y, eval_set=[(xv, yv)], verbose=False)
        return float(log_loss(yv, model.predict_proba(xv)))

    rates = (GOOD, GOOD, BAD)
    study = study_of(zt.schedulers.MedianStopping(n_startup_trials=2, seed=0), rates)
    study.optimize(objective, n_trials=len(rates))
    check_outcome(study, rates)


def test_xgb_stop_ends_boosting_and_the_model_comes_back(data: Any) -> None:
    x, y, xv, yv = data
    study = study_of(None)
    for fit in ("train", "sklearn"):
        trial = study.ask()
        study.stop_trial(trial.number)  # seen at the first report, like a scheduler's stop
        callback = zt_xgb.ZoomtuneCallback(trial, monitor="validation_0-logloss")
        if fit == "train":
            dvalid = xgb.DMatrix(xv, label=yv)
            booster = xgb.train(XGB_PARAMS, xgb.DMatrix(x, label=y), ROUNDS, callbacks=[callback], verbose_eval=False,
                                evals=[(dvalid, "validation_0")])
            score = float(log_loss(yv, booster.predict(dvalid)))
        else:
            model = xgb.XGBClassifier(n_estimators=ROUNDS, n_jobs=1, callbacks=[callback])
            model.fit(x, y, eval_set=[(xv, yv)], verbose=False)
            booster, score = model.get_booster(), float(log_loss(yv, model.predict_proba(xv)))
        assert booster.num_boosted_rounds() == 1 and list(trial.intermediate_values) == [0]
        record = study.tell(trial, score)  # an ask/tell loop: the value is told as usual
        assert record.state is zt.TrialState.STOPPED and record.value == pytest.approx(trial.intermediate_values[0])


def test_xgb_model_holding_the_callback_says_how_to_save_it(data: Any) -> None:
    x, y, _, _ = data
    trial = study_of(None).ask()
    model = xgb.XGBClassifier(n_estimators=2, n_jobs=1, callbacks=[zt_xgb.ZoomtuneCallback(trial)])
    model.fit(x, y, eval_set=[(x, y)], verbose=False)
    with pytest.raises(TypeError, match=r"cannot be pickled or copied: save the model with model.save_model"):
        pickle.dumps(model)
    model.set_params(callbacks=None)
    assert pickle.loads(pickle.dumps(model)).predict(x[:5]).tolist() == model.predict(x[:5]).tolist()


def test_xgb_cv_reports_the_mean_of_the_folds(data: Any) -> None:
    x, y, _, _ = data
    study = study_of(None)
    trial = study.ask()
    results = xgb.cv(XGB_PARAMS, xgb.DMatrix(x, label=y), num_boost_round=5, nfold=3, seed=0,
                     callbacks=[zt_xgb.ZoomtuneCallback(trial, monitor="test-logloss")])
    assert list(trial.intermediate_values) == [0, 1, 2, 3, 4]
    assert [trial.intermediate_values[i] for i in range(5)] == pytest.approx(list(results["test-logloss-mean"]))


def test_xgb_missing_metric_fails_the_trial_naming_what_was_logged(data: Any) -> None:
    x, y, xv, yv = data

    def objective(trial: zt.Trial) -> float:
        monitor = "validation-auc" if trial.number == 0 else "validation-logloss"
        evals = [(xgb.DMatrix(xv, label=yv), "validation")] if trial.number == 0 else []
        xgb.train(XGB_PARAMS, xgb.DMatrix(x, label=y), 3, evals=evals, verbose_eval=False,
                  callbacks=[zt_xgb.ZoomtuneCallback(trial, monitor=monitor)])
        return 0.0

    study = study_of(None)
    study.optimize(objective, n_trials=2)
    named, nothing = study.trials
    assert named.state is nothing.state is zt.TrialState.FAILED
    assert "'validation-auc' was not logged (logged: validation-logloss)" in (named.error or "")
    assert "evaluated no data set" in (nothing.error or "") and "evals=" in (nothing.error or "")


# -- LightGBM ----------------------------------------------------------------------------------------------
LGB_PARAMS: dict[str, Any] = {"objective": "binary", "metric": "binary_logloss", "num_leaves": 7, "verbose": -1,
                              "num_threads": 1, "min_data_in_leaf": 5}


def test_lgb_train_reports_each_round_and_asha_stops_the_bad_trials(data: Any) -> None:
    x, y, xv, yv = data

    def objective(trial: zt.Trial) -> float:
        dtrain = lgb.Dataset(x, label=y)
        dvalid = lgb.Dataset(xv, label=yv, reference=dtrain)
        params = {**LGB_PARAMS, "learning_rate": trial.suggest_float("lr", 1e-3, 1.0, scale="log")}
        pruning = zt_lgb.ZoomtuneCallback(trial, monitor="valid-binary_logloss")
        booster = lgb.train(params, dtrain, ROUNDS, valid_sets=[dvalid], valid_names=["valid"], callbacks=[pruning])
        return float(booster.best_score["valid"]["binary_logloss"])

    rates = (GOOD, GOOD, GOOD, BAD, BAD)
    study = study_of(zt.schedulers.ASHA(min_resource=1, reduction_factor=3, seed=0), rates)
    study.optimize(objective, n_trials=len(rates))
    check_outcome(study, rates)
    complete = study.trials[0]
    assert complete.value == pytest.approx(complete.intermediate_values[ROUNDS - 1])


def test_lgb_sklearn_api_with_median_stopping(data: Any) -> None:
    x, y, xv, yv = data

    def objective(trial: zt.Trial) -> float:
        pruning = zt_lgb.ZoomtuneCallback(trial)
        model = lgb.LGBMClassifier(n_estimators=ROUNDS, num_leaves=7, min_child_samples=5, n_jobs=1, verbose=-1,
                                   learning_rate=trial.suggest_float("lr", 1e-3, 1.0, scale="log"))
        model.fit(x, y, eval_X=xv, eval_y=yv, callbacks=[pruning])  # eval_set=[(xv, yv)] before LightGBM 4.7
        return float(log_loss(yv, model.predict_proba(xv)))

    rates = (GOOD, GOOD, BAD)
    study = study_of(zt.schedulers.MedianStopping(n_startup_trials=2, seed=0), rates)
    study.optimize(objective, n_trials=len(rates))
    check_outcome(study, rates)


def test_lgb_stop_is_lightgbm_clean_early_stop_and_the_model_comes_back(data: Any) -> None:
    x, y, xv, yv = data
    study = study_of(None)
    trial = study.ask()
    study.stop_trial(trial.number)  # seen at the first report, like a scheduler's stop
    pruning = zt_lgb.ZoomtuneCallback(trial)
    dtrain = lgb.Dataset(x, label=y)
    booster = lgb.train(LGB_PARAMS, dtrain, ROUNDS, valid_sets=[lgb.Dataset(xv, label=yv, reference=dtrain)],
                        callbacks=[pruning])
    assert pruning.stopped
    assert booster.current_iteration() == 1 and booster.best_iteration == 1
    assert booster.best_score["valid_0"]["binary_logloss"] == pytest.approx(trial.intermediate_values[0])
    record = study.tell(trial, booster.best_score["valid_0"]["binary_logloss"])  # an ask/tell loop
    assert record.state is zt.TrialState.STOPPED and record.value == trial.intermediate_values[0]


def test_lgb_cv_reports_the_mean_of_the_folds(data: Any) -> None:
    x, y, _, _ = data
    trial = study_of(None).ask()
    results = lgb.cv(LGB_PARAMS, lgb.Dataset(x, label=y), 5, nfold=3, seed=0,
                     callbacks=[zt_lgb.ZoomtuneCallback(trial, monitor="valid-binary_logloss")])
    assert [trial.intermediate_values[i] for i in range(5)] == pytest.approx(results["valid binary_logloss-mean"])


def test_lgb_errors_name_the_metric_and_the_direction(data: Any) -> None:
    x, y, xv, yv = data
    study = study_of(None)

    def train(monitor: str, metric: str = "binary_logloss", valid: bool = True) -> None:
        trial = study.ask()
        dtrain = lgb.Dataset(x, label=y)
        try:
            lgb.train({**LGB_PARAMS, "metric": metric}, dtrain, 3, callbacks=[zt_lgb.ZoomtuneCallback(trial, monitor)],
                      valid_sets=[lgb.Dataset(xv, label=yv, reference=dtrain)] if valid else None)
        finally:
            study.tell(trial, state=zt.TrialState.FAILED, error="checked")

    with pytest.raises(KeyError, match=r"'valid_0-auc' was not logged \(logged: valid_0-binary_logloss\)"):
        train("valid_0-auc")
    with pytest.raises(KeyError, match=r"evaluated no data set.*valid_sets="):
        train("valid_0-binary_logloss", valid=False)
    with pytest.raises(zt.ConfigError, match=r"higher is better.*to minimize"):
        train("valid_0-auc", metric="auc")


# -- both --------------------------------------------------------------------------------------------------
def boost_xgb(trial: zt.Trial, data: Any) -> None:
    x, y, xv, yv = data
    xgb.train(XGB_PARAMS, xgb.DMatrix(x, label=y), ROUNDS, evals=[(xgb.DMatrix(xv, label=yv), "validation")],
              verbose_eval=False, callbacks=[zt_xgb.ZoomtuneCallback(trial, monitor="validation-logloss")])


def boost_lgb(trial: zt.Trial, data: Any) -> None:
    x, y, xv, yv = data
    lgb.train(LGB_PARAMS, lgb.Dataset(x, label=y), ROUNDS, valid_sets=[lgb.Dataset(xv, label=yv)],
              callbacks=[zt_lgb.ZoomtuneCallback(trial)])


@pytest.mark.parametrize("boost", [boost_xgb, boost_lgb], ids=["xgboost", "lightgbm"])
def test_older_objectives_that_raise_trial_stopped_after_training_still_end_stopped(data: Any, boost: Any) -> None:
    def objective(trial: zt.Trial) -> float:
        trial.study.stop_trial(trial.number)
        boost(trial, data)
        if trial.should_stop():
            raise zt.TrialStopped()
        return 0.0

    study = study_of(None)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state is zt.TrialState.STOPPED and list(trial.intermediate_values) == [0]
    assert trial.value == trial.intermediate_values[0]  # the last report: the objective returned nothing
