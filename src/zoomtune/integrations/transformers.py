"""Hugging Face Transformers: a `TrainerCallback` that reports each evaluation's metric to a trial, stops
the `Trainer` the Trainer's own way when the study's scheduler says so (``control.should_training_stop``:
`trainer.train()` returns as usual and the trial ends STOPPED, `Trial.end_stopped`), applies nudged
hyperparameters to the live optimizer and checkpoints the model so that a branched trial starts from its
parent's; and `optimize_trainer`, a study over `model_init` and `TrainingArguments` (what
`Trainer.hyperparameter_search` does with Optuna or Ray, with zoomtune's samplers and schedulers).

A trial's step k is the Trainer's (k+1)-th evaluation in training: with ``eval_strategy="epoch"`` the epoch
index, as in the Keras callback. So steps are 0, 1, 2, ... whatever ``eval_steps`` is, and what ASHA and
Hyperband count as the resource (step + 1) is the number of evaluations: their defaults work as they are.
(The Trainer's ``global_step`` would not do: it leaves gaps, so successive-halving rungs would miss it.)
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import EvalPrediction, Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from zoomtune.errors import SearchSpaceError
from zoomtune.integrations.reporting import TrialReporter
from zoomtune.records import TrialRecord, TrialState
from zoomtune.space import Space
from zoomtune.study import Study
from zoomtune.trial import Trial

LR_KEY = "lr"  # the torch param-group key a learning-rate schedule drives
RUNTIME = "_runtime"  # every evaluation logs "<prefix>_runtime": how we tell which evaluation a call is
DEFAULT_PREFIX = "eval"  # the metrics' prefix of an evaluation of a single eval dataset


@dataclass(frozen=True)
class TransformersCheckpoint:
    """What the callback saves at each evaluation: the model's state dict, the optimizer's per-parameter
    state (its moments, not its param groups: a branch keeps its own learning rate) and the trial's step."""

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[Any, Any] = field(default_factory=dict)


def _on_cpu(state: Mapping[Any, Any]) -> dict[Any, Any]:
    """A (nested) state dict with its tensors on the CPU, so that a checkpoint loads on any machine."""
    return {key: _on_cpu(value) if isinstance(value, Mapping) else
            value.detach().cpu() if isinstance(value, torch.Tensor) else value
            for key, value in state.items()}


class ZoomtuneCallback(TrainerCallback):
    """Report `monitor` (a key of the evaluation's metrics, e.g. ``"eval_loss"`` or ``"eval_accuracy"``) at
    the next step after each evaluation in training (see the module's docstring). An evaluation before the
    first update (``eval_on_start``) is not reported; one at the same global step as the last report (a
    `trainer.evaluate()` right after training) reports that step again.

    - Stop: when the study's scheduler (or `study.stop_trial`) says stop, training ends at once
      (``control.should_training_stop``, what `EarlyStoppingCallback` does) and `trainer.train()` returns;
      the trial is marked to end STOPPED with the value the objective returns (`result()`, say).
    - Nudges: a nudged parameter named in `live` (default: lr / learning_rate -> ``lr``, momentum ->
      ``momentum``) is set in the optimizer's param groups. A nudged learning rate becomes the LR
      schedule's new base: the schedule goes on from where it is, scaled to it (with the default linear
      decay, 40% of the way down, the rate becomes 0.6 x the nudged value and keeps decaying).
    - Checkpoints (`checkpoint=True`): the model's state dict and the optimizer's state are saved with
      `trial.save_checkpoint` at each evaluation. A trial that has one (a branched or resumed trial) starts
      training from it; its Trainer counts steps from 0 again (so the LR schedule and warmup start over),
      and its reports go on after the checkpoint's step.

    Evaluations after the trial has ended (`study.tell`) are not reported. With several eval datasets
    (``eval_dataset={"val": ..., "test": ...}``, monitor ``"eval_val_loss"``) or an evaluation with another
    ``metric_key_prefix``, evaluations whose prefix `monitor` does not start with are skipped; when none of
    training's evaluations had it, `train()` raises at the end, listing the logged metrics.
    """

    def __init__(self, trial: Trial, monitor: str = "eval_loss", live: Mapping[str, str] | None = None, *,
                 checkpoint: bool = True) -> None:
        self.reporter = TrialReporter(trial, monitor, live)
        self.checkpoint = checkpoint
        self._start = self.reporter.checkpoint_of(TransformersCheckpoint) if checkpoint else None
        self.last_step: int | None = None if self._start is None else self._start.step
        self.last_global_step: int | None = None
        self.last_value: float | None = None
        self._last_metrics: Mapping[str, Any] = {}

    @property
    def trial(self) -> Trial:
        return self.reporter.trial

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        start, self._start = self._start, None
        if start is None:
            return
        model, optimizer = kwargs.get("model"), kwargs.get("optimizer")
        try:
            if model is not None:
                model.load_state_dict(start.model)
            if optimizer is not None and start.optimizer:
                current = optimizer.state_dict()
                optimizer.load_state_dict({**current, "state": start.optimizer})
        except (RuntimeError, ValueError, KeyError) as error:
            raise ValueError(f"trial {self.trial.number}: the checkpoint of step {start.step} does not fit "
                             f"this model (did the branch change its architecture or optimizer?): {error}") from error

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if self.trial.state is not TrialState.RUNNING:
            return  # an evaluation after the trial was told (trainer.evaluate() on the final model)
        metrics = metrics or {}
        self._last_metrics = metrics
        value = self.reporter.metric(metrics)
        if value is None:
            if self._of_another_dataset(metrics):
                return
            raise self.reporter.missing(metrics)
        if state.global_step == 0:
            return
        step = self._step_at(state.global_step)
        outcome = self.reporter.report(value, step=step)
        self.last_step, self.last_global_step, self.last_value = step, state.global_step, value
        optimizer = kwargs.get("optimizer")
        if outcome.changes and optimizer is not None:
            self._apply(outcome.changes, optimizer, kwargs.get("lr_scheduler"))
        model = kwargs.get("model")
        if self.checkpoint and model is not None:
            optimizer_state = {} if optimizer is None else _on_cpu(optimizer.state_dict()["state"])
            self.trial.save_checkpoint(TransformersCheckpoint(step, _on_cpu(model.state_dict()), optimizer_state),
                                       step=step)
        if outcome.stop:
            control.should_training_stop = True

    def _step_at(self, global_step: int) -> int:
        """The trial's step for an evaluation at `global_step`: the next one, or the last again when training
        has not moved since."""
        if self.last_step is None:
            return 0
        return self.last_step if global_step == self.last_global_step else self.last_step + 1

    def _of_another_dataset(self, metrics: Mapping[str, Any]) -> bool:
        """Whether these metrics come from an evaluation `monitor` does not name: one of several named eval
        datasets (prefix ``eval_<name>``) or one with its own prefix (``trainer.evaluate(test_set,
        metric_key_prefix="test")``). The default prefix ``eval`` is the one the monitor must be found in."""
        prefixes = [str(key)[:-len(RUNTIME)] for key in metrics if str(key).endswith(RUNTIME)]
        return any(p != DEFAULT_PREFIX and not self.reporter.monitor.startswith(p + "_") for p in prefixes)

    def _apply(self, changes: Mapping[str, Any], optimizer: Any, lr_scheduler: Any) -> None:
        groups = optimizer.param_groups
        schedule = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate may wrap the schedule
        bases: list[float] | None = getattr(schedule, "base_lrs", None)
        factors = [group[LR_KEY] / base if base else 1.0 for group, base in zip(groups, bases or (), strict=False)]
        done = self.reporter.apply_to_param_groups(groups, changes)
        if LR_KEY in done and bases is not None:
            for i, (group, factor) in enumerate(zip(groups, factors, strict=True)):
                bases[i] = group[LR_KEY]
                if "initial_lr" in group:
                    group["initial_lr"] = group[LR_KEY]
                group[LR_KEY] *= factor
        for name, value in changes.items():
            if self.reporter.live[name] not in done:
                warnings.warn(f"trial {self.trial.number}: nudged {name}={value!r} not applied: no param group of "
                              f"the optimizer has {self.reporter.live[name]!r}", RuntimeWarning, stacklevel=2)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        if self._last_metrics and self.last_value is None:
            raise self.reporter.missing(self._last_metrics)

    def result(self) -> float:
        """The last reported value (what a trial returns); KeyError listing the logged metrics when there is none."""
        if self.last_value is None:
            raise self.reporter.missing(self._last_metrics)
        return self.last_value


ModelInit = Callable[..., Any]
SpaceFunction = Callable[[Trial], Mapping[str, Any]]


def _arguments_fields() -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(TrainingArguments) if f.init)


def _check_names(names: Mapping[str, Any], fields: frozenset[str]) -> None:
    for name, value in names.items():
        if name not in fields or name == "output_dir":
            raise SearchSpaceError("is not a TrainingArguments field the search can set (model parameters are "
                                   "suggested in model_init)", repr(value), param=name)


def optimize_trainer(study: Study, model_init: ModelInit, args: TrainingArguments, space: Space | SpaceFunction,
                     n_trials: int, *, train_dataset: Any, eval_dataset: Any, monitor: str = "eval_loss",
                     compute_metrics: Callable[[EvalPrediction], dict[str, float]] | None = None,
                     callbacks: Sequence[TrainerCallback] = (), live: Mapping[str, str] | None = None,
                     checkpoint: bool = True, timeout: float | None = None, **trainer_kwargs: Any) -> TrialRecord:
    """Tune a `Trainer`: run `n_trials` trials of `study`, each training a fresh model, and return the best.

    `space` gives each trial's `TrainingArguments` overrides: a `zt.Space` whose names are
    TrainingArguments fields (``learning_rate``, ``weight_decay``, ``warmup_ratio``, ...), sampled jointly,
    or a function ``space(trial) -> {field: value}`` calling ``trial.suggest_*`` (like Transformers'
    ``hp_space``). `model_init(trial)` (or ``model_init()``) builds the model and may suggest model
    parameters itself. Each trial trains a `Trainer` (`trainer_kwargs` go to it: data_collator,
    processing_class, ...) with `ZoomtuneCallback(trial, monitor, live)` and your `callbacks`, under
    ``args.output_dir/trial-<number>``, and returns `monitor` at the end of training (evaluating once more
    if training did not end on an evaluation). The study's direction must suit `monitor` (minimize a loss).
    """
    if not isinstance(args, TrainingArguments):
        raise TypeError(f"args must be a transformers.TrainingArguments; got {type(args).__name__}")
    fields = _arguments_fields()
    if isinstance(space, Space):
        _check_names(space, fields)
    elif not callable(space):
        raise TypeError(f"space must be a zt.Space or a function trial -> dict of overrides; got {space!r}")
    takes_trial = len(inspect.signature(model_init).parameters) > 0

    def objective(trial: Trial) -> float:
        if isinstance(space, Space):
            trial.sample_space(space)
            overrides: Mapping[str, Any] = {name: trial.params[name] for name in space}
        else:
            overrides = space(trial)
            _check_names(overrides, fields)
        trial_args = dataclasses.replace(args, output_dir=os.path.join(args.output_dir or ".",
                                                                       f"trial-{trial.number}"), **overrides)
        model = model_init(trial) if takes_trial else model_init()
        callback = ZoomtuneCallback(trial, monitor, live, checkpoint=checkpoint)
        trainer = Trainer(model=model, args=trial_args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                          compute_metrics=compute_metrics, callbacks=[callback, *callbacks], **trainer_kwargs)
        trainer.train()
        if callback.last_global_step != trainer.state.global_step:
            trainer.evaluate()
        return callback.result()

    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    return study.best_trial


__all__ = ["TransformersCheckpoint", "ZoomtuneCallback", "optimize_trainer"]
