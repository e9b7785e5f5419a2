"""XGBoost: report an evaluation metric to a trial after every boosting round, and stop boosting when the
study's scheduler says so; the trial then ends STOPPED with the value the objective returns.

```python
pruning = ZoomtuneCallback(trial, monitor="validation-logloss")
xgb.train(params, dtrain, num_boost_round=50, evals=[(dvalid, "validation")], callbacks=[pruning])
# or: xgb.XGBClassifier(n_estimators=50, callbacks=[pruning]).fit(X, y, eval_set=[(X_valid, y_valid)])
```

The stop is XGBoost's own: `after_iteration` returns True (what its `EarlyStopping` does), XGBoost ends the
loop, runs every callback's `after_training` and hands back the model of the rounds boosted so far. Nothing is
raised: the callback has marked the trial (`Trial.end_stopped`), so the objective goes on as usual (evaluate
the model, return its score) and the trial ends STOPPED, under `study.optimize` or `study.tell` alike.

Boosting has no live hyperparameter to nudge (panda mode's nudges are for optimizers), so none is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xgboost.callback import TrainingCallback

from zoomtune.integrations.reporting import TrialReporter
from zoomtune.trial import Trial


def flat_scores(evals_log: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The latest score of every metric, keyed ``"<dataset>-<metric>"`` as XGBoost prints them
    (``"validation_0-logloss"``); `xgb.cv` logs (mean, std) pairs, of which the mean counts."""
    flat: dict[str, float] = {}
    for dataset, metrics in evals_log.items():
        for metric, scores in metrics.items():
            if scores:
                last = scores[-1]
                flat[f"{dataset}-{metric}"] = last[0] if isinstance(last, tuple) else last
    return flat


class ZoomtuneCallback(TrainingCallback):
    """Report `monitor` (``"<dataset>-<metric>"``: the name given in ``evals=[(dvalid, "validation")]``, or
    ``validation_0`` for the first ``eval_set`` of the scikit-learn API, then the metric) at each round, with
    the round as the step, and stop boosting when the trial should stop."""

    def __init__(self, trial: Trial, monitor: str = "validation_0-logloss") -> None:
        super().__init__()
        self.reporter = TrialReporter(trial, monitor, live={})

    def after_iteration(self, model: Any, epoch: int, evals_log: Mapping[str, Mapping[str, Any]]) -> bool:
        """Report this round's score; True (stop boosting) when the scheduler says stop."""
        scores = flat_scores(evals_log)
        value = self.reporter.metric(scores)
        if value is None:
            if not scores:
                raise KeyError(f"trial {self.reporter.trial.number}: XGBoost evaluated no data set, so "
                               f"{self.reporter.monitor!r} cannot be reported: pass evals=[(dvalid, 'validation')] "
                               f"to xgb.train or eval_set=[(X_valid, y_valid)] to fit")
            raise self.reporter.missing(scores)
        return self.reporter.report(value, step=epoch).stop

    def __reduce__(self) -> Any:
        # a scikit-learn model keeps its callbacks: pickling or cloning it would copy the live trial and its study
        raise TypeError(f"a ZoomtuneCallback reports to the running trial {self.reporter.trial.number} and cannot be "
                        f"pickled or copied: save the model with model.save_model(path), or call "
                        f"model.set_params(callbacks=None) before pickling or cloning it")


__all__ = ["ZoomtuneCallback", "flat_scores"]
