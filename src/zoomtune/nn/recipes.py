"""Ready objectives: a batch-norm MLP tuned over the seed's list of hyperparameters.

The space, each parameter on its right scale:

| parameter     | distribution                          | why this scale                              |
|---------------|---------------------------------------|---------------------------------------------|
| lr (α)        | float, log, [1e-4, 1e-1]              | 1e-4..1e-3 matters as much as 1e-2..1e-1    |
| beta1, beta2  | float, log1m, [0.8, 0.99], [0.99, 0.9999] | 0.99 → 0.999 averages over 10x more steps |
| momentum (β)  | float, log1m, [0.8, 0.99] (SGD)       | same                                        |
| layers        | int, linear, [1, 3]                   |                                             |
| units         | int, log, [64, 512]                   | 64 → 128 matters as much as 256 → 512       |
| batch_size    | categorical, 64 / 128 / 256 / 512     | powers of two                               |
| lr_decay      | float, linear, [0, 0.5]               | α_t = α / (1 + decay·t)                     |
| batchnorm     | categorical, on / off                 |                                             |
| bn_beta       | float, log1m, [0.9, 0.999]            | batch norm's running-average β              |

`fashion_mlp` is a `module:function` objective for `zoomtune run` and `zoomtune demo`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, TypeVar

import torch

from zoomtune.errors import ConfigError
from zoomtune.nn.datasets import Dataset, load
from zoomtune.nn.models import MLP
from zoomtune.nn.training import fit

if TYPE_CHECKING:
    from zoomtune.trial import Trial

_C = TypeVar("_C", bool, int, str)
#: the user attribute holding a trial's model size (its number of parameters)
PARAMETERS_ATTR = "parameters"


class _OptimizerOptions(TypedDict, total=False):
    """The optimizer's constants the recipe tunes (each only for the optimizers that have it)."""

    momentum: float
    beta1: float
    beta2: float


def _categorical(trial: Trial, name: str, choices: Sequence[_C], kind: type[_C]) -> _C:
    """`trial.suggest_categorical(name, choices)`, checked to be a `kind` (an enqueued or branched trial can
    hand back any value equal to a choice, e.g. 1 for True); `ConfigError` naming the value otherwise."""
    value = trial.suggest_categorical(name, list(choices))
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise ConfigError(name, f"must be one of {list(choices)} (type {kind.__name__})", value, "MLPRecipe")


@dataclass(frozen=True)
class MLPRecipe:
    """An objective: tune an MLP on a dataset for a fixed number of epochs.

    Returns the validation accuracy after the last epoch (the model whose test accuracy is
    stored as the trial's "test_accuracy"); the test set never steers the search. The model's
    size (its number of parameters) is stored as the user attribute "parameters", what
    `zoomtune demo --objectives accuracy,size` minimises.
    """

    dataset: str = "fashion-mnist"
    epochs: int = 6
    optimizers: tuple[str, ...] = ("adam",)
    max_layers: int = 3
    seed: int = 0
    checkpoint: bool = False  # save model and optimizer every epoch (babysitting, resume, PBT)

    def data(self) -> Dataset:
        return load(self.dataset)

    def __call__(self, trial: Trial) -> float:
        optimizer = _categorical(trial, "optimizer", self.optimizers, str)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, scale="log")
        options: _OptimizerOptions = {}
        if optimizer == "sgd":
            options["momentum"] = trial.suggest_float("momentum", 0.8, 0.99, scale="log1m")
        if optimizer == "adam":
            options["beta1"] = trial.suggest_float("beta1", 0.8, 0.99, scale="log1m")
        if optimizer in ("adam", "rmsprop"):
            options["beta2"] = trial.suggest_float("beta2", 0.99, 0.9999, scale="log1m")
        layers = trial.suggest_int("layers", 1, self.max_layers)
        units = trial.suggest_int("units", 64, 512, scale="log")
        batch_size = _categorical(trial, "batch_size", [64, 128, 256, 512], int)
        lr_decay = trial.suggest_float("lr_decay", 0.0, 0.5)
        batchnorm = _categorical(trial, "batchnorm", [True, False], bool)
        bn_beta = trial.suggest_float("bn_beta", 0.9, 0.999, scale="log1m") if batchnorm else None
        data = self.data()
        torch.manual_seed(self.seed + trial.number)  # the same trial starts from the same weights in any worker
        model = MLP(data.n_features, [units] * layers, data.n_classes, batchnorm=batchnorm, bn_beta=bn_beta)
        trial.set_user_attr(PARAMETERS_ATTR, sum(p.numel() for p in model.parameters()))
        result = fit(model, data, trial=trial, optimizer=optimizer, lr=lr, lr_decay=lr_decay,
                     batch_size=batch_size, epochs=self.epochs, seed=self.seed + trial.number,
                     checkpoint=self.checkpoint, **options)
        return result.val_accuracy


def fashion_mlp(trial: Trial) -> float:
    """The demo's objective: a batch-norm MLP on Fashion-MNIST, 6 epochs, Adam ($ZOOMTUNE_EPOCHS overrides)."""
    return MLPRecipe(epochs=int(os.environ.get("ZOOMTUNE_EPOCHS", "6")))(trial)


def digits_mlp(trial: Trial) -> float:
    """The same recipe on scikit-learn's 8x8 digits: seconds per trial, for tests and trying things out."""
    return MLPRecipe(dataset="digits", epochs=int(os.environ.get("ZOOMTUNE_EPOCHS", "10")))(trial)


__all__ = ["PARAMETERS_ATTR", "MLPRecipe", "digits_mlp", "fashion_mlp"]
