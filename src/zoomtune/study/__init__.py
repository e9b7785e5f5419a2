"""Studies: create, load, ask / tell, optimize. `core` holds the `Study` object, `lifecycle` creates, opens,
lists and deletes studies; the loops themselves live in `zoomtune.executors`.

>>> import zoomtune as zt
>>> study = zt.create_study(direction="minimize", sampler=zt.samplers.RandomSampler(seed=0))
>>> study.optimize(lambda t: (t.suggest_float("x", -10, 10) - 2) ** 2, n_trials=50)
>>> abs(study.best_params["x"] - 2) < 0.5
True
"""

from zoomtune.study.core import DEFAULT_HEARTBEAT_S, HEARTBEAT_ATTR, SAMPLER_SEED_ATTR, Callback, Objective, Study
from zoomtune.study.lifecycle import create_study, delete_study, list_studies, load_study, stored_heartbeat

__all__ = ["DEFAULT_HEARTBEAT_S", "HEARTBEAT_ATTR", "SAMPLER_SEED_ATTR", "Callback", "Objective", "Study",
           "create_study", "delete_study", "list_studies", "load_study", "stored_heartbeat"]
