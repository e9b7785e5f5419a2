"""LightGBM: report an evaluation metric to a trial after every boosting round, and stop boosting when the
study's scheduler says so; the trial then ends STOPPED with the value the objective returns.

```python
pruning = ZoomtuneCallback(trial, monitor="valid-binary_logloss")
booster = lgb.train(params, dtrain, 50, valid_sets=[dvalid], valid_names=["valid"], callbacks=[pruning])
return booster.best_score["valid"]["binary_logloss"]
```

The stop is LightGBM's own clean one: the callback raises `lightgbm.callback.EarlyStopException` (what
`lightgbm.early_stopping` does) at the round the scheduler said stop, which LightGBM catches, so `lgb.train` /
`lgb.cv` / the scikit-learn `fit` end normally and hand back the model with `best_iteration` at that round.
The callback has marked the trial (`Trial.end_stopped`), so the objective goes on as usual and the trial ends
STOPPED, under `study.optimize` or `study.tell` alike; `stopped` (or `trial.ends_stopped`) tells an objective
that wants to skip its post-training work. Optuna's `LightGBMPruningCallback` raises `TrialPruned` from inside
the boosting loop instead: the objective never gets its model back and its code after training never runs.

Boosting has no live hyperparameter to nudge (panda mode's nudges are for optimizers), so none is applied.
"""

from __future__ import annotations

from lightgbm.callback import CallbackEnv, EarlyStopException

from zoomtune.errors import ConfigError
from zoomtune.integrations.reporting import TrialReporter
from zoomtune.records import Direction
from zoomtune.trial import Trial

#: where the callback runs among LightGBM's: after `log_evaluation` (10) and `record_evaluation` (20), so the
#: round it stops at is logged and recorded, and before `early_stopping` (30), so every round run is reported
ORDER = 25


class ZoomtuneCallback:
    """Report `monitor` (``"<data set>-<metric>"``: ``valid_0`` for the first of `valid_sets` or of the
    scikit-learn ``eval_X`` / ``eval_set``, or the name given in `valid_names`, then LightGBM's metric name) at
    each round, with the round as the step, and stop boosting when the trial should stop (the trial then ends
    STOPPED)."""

    def __init__(self, trial: Trial, monitor: str = "valid_0-binary_logloss") -> None:
        self.reporter = TrialReporter(trial, monitor, live={})
        self.order = ORDER  # LightGBM sorts its callbacks by this attribute of the instance

    def __call__(self, env: CallbackEnv) -> None:
        evaluated = env.evaluation_result_list or []
        results = {f"{r[0]}-{r[1]}": r for r in evaluated}  # (data set, metric, value, higher is better, ...)
        value = self.reporter.metric({name: r[2] for name, r in results.items()})
        if value is None:
            raise self._missing(list(results))
        self._check_direction(bool(results[self.reporter.monitor][3]))
        if self.reporter.report(value, step=env.iteration).stop:
            raise EarlyStopException(env.iteration, evaluated)

    def _missing(self, logged: list[str]) -> KeyError:
        if not logged:
            return KeyError(f"trial {self.reporter.trial.number}: LightGBM evaluated no data set, so "
                            f"{self.reporter.monitor!r} cannot be reported: pass valid_sets=[dvalid] to lgb.train "
                            f"or eval_X=X_valid, eval_y=y_valid to fit")
        return self.reporter.missing(dict.fromkeys(logged))

    def _check_direction(self, higher_is_better: bool) -> None:
        """A metric that improves the other way than the study's (first) objective would make the scheduler stop
        the best trials: refuse it at the first round."""
        wanted = self.reporter.trial.study.directions[0]
        if higher_is_better != (wanted is Direction.MAXIMIZE):
            better = "higher" if higher_is_better else "lower"
            raise ConfigError("monitor", f"LightGBM says {better} is better for this metric but the study's objective "
                                         f"is to {wanted.value}: the scheduler would stop the best trials; monitor a "
                                         f"metric that improves the way the study does", self.reporter.monitor)

    @property
    def stopped(self) -> bool:
        """Whether boosting was stopped on the scheduler's word."""
        return self.reporter.stopped


__all__ = ["ORDER", "ZoomtuneCallback"]
