"""Run Optuna scripts on zoomtune: ``import zoomtune.compat.optuna as optuna`` and leave the rest alone.

`create_study`, `load_study`, trials' ``suggest_*`` / ``report`` / ``should_prune``, ``raise TrialPruned()``,
``study.optimize`` / ``ask`` / ``tell`` / ``enqueue_trial``, the best trials and ``trials_dataframe`` keep
Optuna's signatures and meaning; samplers and pruners map onto zoomtune's, argument by argument. What has no
faithful mapping raises `UnsupportedError` (a NotImplementedError) naming it and what to use instead. See
docs/optuna_compat.md.

>>> import zoomtune.compat.optuna as optuna
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
>>> study.optimize(lambda trial: (trial.suggest_float("x", -10, 10) - 2) ** 2, n_trials=20)
>>> len(study.trials), type(study.best_params["x"]).__name__
(20, 'float')
"""

from __future__ import annotations

from typing import Any

from zoomtune.compat.optuna import distributions, exceptions, logging, pruners, samplers, study, trial
from zoomtune.compat.optuna.exceptions import TrialPruned, UnsupportedError
from zoomtune.compat.optuna.study import (Study, create_study, delete_study, get_all_study_names, load_study)
from zoomtune.compat.optuna.trial import FrozenTrial, Trial, TrialState

#: Optuna modules and functions the shim does not provide, and what to use instead
_ELSEWHERE = {
    "visualization": "zoomtune report STUDY -o report.html (or the dashboard) draws the history, each parameter "
                     "on its scale, parallel coordinates and the learning curves",
    "importance": "zoomtune's report ranks the parameters' importance",
    "integration": "zoomtune.integrations has callbacks for Lightning, Keras, Transformers, XGBoost and LightGBM",
    "storages": "pass a URL such as 'sqlite:///study.db' as storage=",
    "artifacts": "trial.zoomtune.save_checkpoint(state) keeps a trial's files",
    "copy_study": "zoomtune.compat.optuna_import.import_optuna(source, storage) copies Optuna studies into a "
                  "zoomtune storage",
    "create_trial": "enqueue_trial(params) and run it",
    "get_all_study_summaries": "zoomtune.list_studies(storage) lists studies with their counts and best values",
    "search_space": "declare a zoomtune.Space when the whole space is known up front",
}


def __getattr__(name: str) -> Any:
    """Optuna's names the shim lacks raise `UnsupportedError` naming them (not a bare AttributeError)."""
    if name in _ELSEWHERE:
        raise UnsupportedError(f"optuna.{name}", _ELSEWHERE[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FrozenTrial", "Study", "Trial", "TrialPruned", "TrialState", "UnsupportedError", "create_study",
           "delete_study", "distributions", "exceptions", "get_all_study_names", "load_study", "logging", "pruners",
           "samplers", "study", "trial"]
