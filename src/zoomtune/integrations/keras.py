"""Keras 3: a callback that reports an epoch's metric to a trial, stops `model.fit` when the study's
scheduler says so, applies nudged hyperparameters to the live optimizer and checkpoints the weights so
that a branched trial starts from its parent's.

The stop is Keras's own (``model.stop_training = True``, what its `EarlyStopping` does): `fit` ends after
that epoch, every callback's ``on_train_end`` runs, `fit` returns its `History`, and the trial ends STOPPED
with whatever the objective returns (`Trial.end_stopped`); nothing is raised.

The callback is backend-neutral; with PyTorch set ``KERAS_BACKEND=torch`` before keras is first
imported (this module never changes the backend)::

    def objective(trial):
        model = build(units=trial.suggest_int("units", 8, 64, scale="log"))
        model.compile(optimizer=keras.optimizers.SGD(trial.suggest_float("lr", 1e-3, 1, scale="log")), ...)
        callback = ZoomtuneCallback(trial, monitor="val_accuracy")
        history = model.fit(x, y, validation_split=0.2, epochs=10, initial_epoch=callback.initial_epoch,
                            callbacks=[callback])
        return history.history["val_accuracy"][-1]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    import keras
except ImportError as error:  # most often: no backend (Keras defaults to TensorFlow)
    raise ImportError("zoomtune.integrations.keras needs Keras 3 and a backend it can load; with PyTorch, set "
                      f"KERAS_BACKEND=torch before keras is first imported ({error})") from error

from zoomtune.integrations.reporting import TrialReporter
from zoomtune.trial import Trial

# trial parameter -> Keras optimizer attribute set when the parameter is nudged
KERAS_LIVE: Mapping[str, str] = {"lr": "learning_rate", "learning_rate": "learning_rate", "momentum": "momentum"}


@dataclass(frozen=True)
class KerasCheckpoint:
    """What the callback saves after each epoch: the model's weights, the optimizer's state (its moments
    and iteration count, not its learning rate: a branch sets its own) and the epoch they are from."""

    epoch: int
    weights: list[Any]
    optimizer: list[Any] = field(default_factory=list)


def _optimizer_state(optimizer: Any) -> list[Any]:
    """The optimizer variables a checkpoint carries, in a fixed order: all but the learning rate."""
    return [v for v in optimizer.variables if v.name != "learning_rate"]


class ZoomtuneCallback(keras.callbacks.Callback):
    """Report `monitor` (a key of the epoch's logs, e.g. ``"val_accuracy"``) at step = epoch after each epoch.

    - Stop: when the study's scheduler (or `study.stop_trial`) says stop, `model.fit` ends after that
      epoch and returns as usual; the trial is marked to end STOPPED with the value the objective returns.
    - Nudges: a nudged parameter named in `live` (default: lr / learning_rate -> the optimizer's
      ``learning_rate``, momentum -> ``momentum``) is set on ``model.optimizer`` before the next epoch.
    - Checkpoints (`checkpoint=True`): weights and optimizer state are saved with `trial.save_checkpoint`
      after each epoch. When the trial has a checkpoint (a branched or resumed trial), `fit` starts from
      it: pass ``initial_epoch=callback.initial_epoch`` to `fit` so the epochs (and steps) go on from there.

    An epoch whose logs lack `monitor` raises, listing the logged metrics, except that a ``val_`` metric
    may be missing from an epoch without validation (``validation_freq`` > 1).
    """

    def __init__(self, trial: Trial, monitor: str = "val_accuracy", live: Mapping[str, str] | None = None, *,
                 checkpoint: bool = True) -> None:
        super().__init__()
        self.reporter = TrialReporter(trial, monitor, KERAS_LIVE if live is None else live)
        self.checkpoint = checkpoint
        self._start = self.reporter.checkpoint_of(KerasCheckpoint) if checkpoint else None
        self._last_logs: Mapping[str, Any] = {}

    @property
    def trial(self) -> Trial:
        return self.reporter.trial

    @property
    def initial_epoch(self) -> int:
        """The epoch `fit` should start at: the one after the checkpoint this trial starts from, else 0."""
        return 0 if self._start is None else self._start.epoch + 1

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._start is not None:
            self._restore(self._start)
            self._start = None

    def _restore(self, start: KerasCheckpoint) -> None:
        try:
            self.model.set_weights(start.weights)
            optimizer = self.model.optimizer
            if optimizer is not None and start.optimizer:
                if not optimizer.built:
                    optimizer.build(self.model.trainable_variables)
                variables = _optimizer_state(optimizer)
                if len(variables) != len(start.optimizer):
                    raise ValueError(f"the optimizer has {len(variables)} state variables, "
                                     f"the checkpoint {len(start.optimizer)}")
                for variable, value in zip(variables, start.optimizer, strict=True):
                    variable.assign(value)
        except ValueError as error:
            raise ValueError(f"trial {self.trial.number}: the checkpoint of epoch {start.epoch} does not fit this "
                             f"model (did the branch change its architecture or optimizer?): {error}") from error

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = logs or {}
        self._last_logs = logs
        value = self.reporter.metric(logs)
        if value is None:
            if self.reporter.monitor.startswith("val_") and not any(str(k).startswith("val_") for k in logs):
                return  # no validation this epoch
            raise self.reporter.missing(logs)
        outcome = self.reporter.report(value, step=epoch)
        self._apply(outcome.changes)
        if self.checkpoint:
            optimizer = self.model.optimizer
            state = [] if optimizer is None else [v.numpy() for v in _optimizer_state(optimizer)]
            self.trial.save_checkpoint(KerasCheckpoint(epoch, self.model.get_weights(), state), step=epoch)
        if outcome.stop:
            self.model.stop_training = True

    def _apply(self, changes: Mapping[str, Any]) -> None:
        optimizer = self.model.optimizer
        for name, value in changes.items():
            attribute = self.reporter.live[name]
            if optimizer is None or not hasattr(optimizer, attribute):
                warnings.warn(f"trial {self.trial.number}: nudged {name}={value!r} not applied: the optimizer "
                              f"{type(optimizer).__name__} has no {attribute!r}", RuntimeWarning, stacklevel=2)
                continue
            try:
                setattr(optimizer, attribute, value)
            except TypeError as error:  # e.g. a learning-rate schedule, which cannot be set to a number
                warnings.warn(f"trial {self.trial.number}: nudged {name}={value!r} not applied: {error}",
                              RuntimeWarning, stacklevel=2)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._last_logs and not self.trial.intermediate_values:
            raise self.reporter.missing(self._last_logs)


__all__ = ["KERAS_LIVE", "KerasCheckpoint", "ZoomtuneCallback"]
