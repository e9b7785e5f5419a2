"""zoomtune: hyperparameter tuning the way practitioners do it.

Random search on the right scale for every parameter (linear, log, log1m), coarse-to-fine
zooming, babysitting one model or training many in parallel, and a batch-norm layer
(`zoomtune.nn`, needs the `torch` extra).

>>> import zoomtune as zt
>>> study = zt.create_study(direction="maximize", sampler=zt.samplers.RandomSampler(seed=0))
>>> study.optimize(lambda t: -abs(t.suggest_float("lr", 1e-4, 1.0, scale="log") - 0.01), n_trials=30)
>>> len(study.trials)
30
"""

import importlib
from typing import Any

from zoomtune import samplers, schedulers
from zoomtune.errors import (ConfigError, DuplicatedStudyError, Interrupted, SearchSpaceError, StorageError,
                             StudyNotFoundError, TrialNotFoundError, TrialStateError, TrialStopped, ZoomtuneError)
from zoomtune.records import (BranchPayload, BranchReason, CheckpointPayload, ControlAction, ControlPayload, Direction,
                              Event, EventKind, FailureCause, NotePayload, NudgePayload, StudySummary, TrialRecord,
                              TrialState, ZoomPayload)
from zoomtune.space import Categorical, Distribution, Float, Int, Space
from zoomtune.storage import StorageFailure, StorageFault
from zoomtune.study import Study, create_study, delete_study, list_studies, load_study
from zoomtune.trial import Trial

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`zt.plot` on first use: the figures module is not imported with zoomtune itself."""
    if name == "plot":
        return importlib.import_module("zoomtune.plot")
    raise AttributeError(f"module 'zoomtune' has no attribute {name!r}")

__all__ = [
                             "BranchPayload",
                             "BranchReason",
                             "Categorical",
                             "CheckpointPayload",
                             "ConfigError",
                             "ControlAction",
                             "ControlPayload",
                             "Direction",
                             "Distribution",
                             "DuplicatedStudyError",
                             "Event",
                             "EventKind",
                             "FailureCause",
                             "Float",
                             "Int",
                             "Interrupted",
                             "NotePayload",
                             "NudgePayload",
                             "SearchSpaceError",
                             "Space",
                             "StorageError",
                             "StorageFailure",
                             "StorageFault",
                             "Study",
                             "StudyNotFoundError",
                             "StudySummary",
                             "Trial",
                             "TrialNotFoundError",
                             "TrialRecord",
                             "TrialState",
                             "TrialStateError",
                             "TrialStopped",
                             "ZoomPayload",
                             "ZoomtuneError",
                             "__version__",
                             "create_study",
                             "delete_study",
                             "list_studies",
                             "load_study",
                             "plot",
                             "samplers",
                             "schedulers",
]
