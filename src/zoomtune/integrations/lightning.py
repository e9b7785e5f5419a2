"""PyTorch Lightning: a callback that ties a `Trainer` to a zoomtune trial.

At the end of each validation epoch it reports the monitored metric (step = epoch), applies nudged
hyperparameters (lr, momentum) to every optimizer live, and checkpoints the whole trainer in the trial.
When the study's scheduler says stop, it sets ``trainer.should_stop``: Lightning ends the fit its own clean
way (state FINISHED, loggers finalized as a success), ``trainer.fit`` returns, and the trial ends STOPPED
with whatever the objective returns (`Trial.end_stopped`); nothing is raised. A branched or retried trial
resumes from its checkpoint through Lightning's own ``ckpt_path``::

    callback = ZoomtuneCallback(trial, monitor="val_acc")
    trainer = pl.Trainer(max_epochs=10, callbacks=[callback])
    trainer.fit(model, datamodule=dm, ckpt_path=callback.ckpt_path())   # None: start afresh
    return trainer.callback_metrics["val_acc"].item()

One process only (``devices=1``): under DDP every rank would report.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.trainer.states import TrainerFn

from zoomtune.integrations.reporting import TrialReporter
from zoomtune.trial import BRANCH_CHECKPOINT_ATTR, Trial



@dataclass(frozen=True)
class LightningCheckpoint:
    """What the callback saves in the trial at each epoch: Lightning's checkpoint dict (``state_dict``,
    ``optimizer_states``, ``epoch``, ``global_step``, loops, callbacks) and the live parameters' values it was
    trained with, so that a branch's overrides can be told from the restored optimizer state."""

    trainer: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)


class ZoomtuneCallback(pl.Callback):
    """Report `monitor` from ``trainer.callback_metrics`` to `trial` at each validation epoch's end.

    `live` maps trial parameters to optimizer param-group keys set live when a nudge arrives (default:
    lr / learning_rate -> ``lr``, momentum -> ``momentum``). With `checkpoint` (the default) the trainer is
    saved in the trial at every report; ``trainer.fit(model, ckpt_path=callback.ckpt_path())`` resumes a
    branched or retried trial (a fit that does not is warned about).
    """

    def __init__(self, trial: Trial, monitor: str = "val_acc", live: Mapping[str, str] | None = None, *,
                 checkpoint: bool = True) -> None:
        super().__init__()
        self.reporter = TrialReporter(trial, monitor, live)
        self.checkpoint = checkpoint
        self._folder: Path | None = None
        self._resume: tuple[Path, dict[str, Any]] | None = None  # the file written for ckpt_path, its params

    @property
    def trial(self) -> Trial:
        return self.reporter.trial

    # -- resuming ------------------------------------------------------------------------------
    def ckpt_path(self) -> str | None:
        """A Lightning checkpoint file of the trial's latest checkpoint (for a branch: its parent's at the
        branch step) to pass as ``trainer.fit(..., ckpt_path=...)``; None when there is none. The file lives
        until the fit ends."""
        state = self.reporter.checkpoint_of(LightningCheckpoint)
        if state is None:
            return None
        path = self._scratch() / "resume.ckpt"
        torch.save(state.trainer, path)
        self._resume = (path, state.params)
        return str(path)

    # -- Lightning hooks -----------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.world_size > 1:
            raise ValueError(f"trial {self.trial.number}: ZoomtuneCallback runs in one process (devices=1); "
                             f"this trainer has {trainer.world_size}")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """After a restore from `ckpt_path`, apply the live parameters the trial changed since the checkpoint
        (a branch's overrides), which the restored optimizer state would otherwise undo; warn when a branched
        or retried trial is fit without it (it would train its parent's epochs again)."""
        path = trainer.ckpt_path
        if self._resume is not None and path is not None and Path(path) == self._resume[0]:
            saved = self._resume[1]
            self._apply(trainer, {name: value for name, value in self.trial.params.items()
                                  if name in self.reporter.live and saved.get(name) != value})
        elif path is None and BRANCH_CHECKPOINT_ATTR in self.trial.user_attrs:
            warnings.warn(f"trial {self.trial.number} starts from a checkpoint (a branch or a retry) but this fit "
                          "starts afresh: pass trainer.fit(..., ckpt_path=callback.ckpt_path()) to resume it",
                          stacklevel=2)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn is not TrainerFn.FITTING:
            return
        logs = trainer.callback_metrics
        value = self.reporter.metric(logs)
        if value is None:
            raise self.reporter.missing(logs)
        epoch = trainer.current_epoch
        outcome = self.reporter.report(value, step=epoch)
        self._apply(trainer, outcome.changes)
        if self.checkpoint:
            self._save(trainer, epoch)
        if outcome.stop:
            trainer.should_stop = True

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """The last hook of a fit: remove the scratch files."""
        if stage == TrainerFn.FITTING.value:
            self._remove_scratch()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """A fit that crashed never reaches `teardown`: remove the scratch files here."""
        self._remove_scratch()

    # -- helpers -------------------------------------------------------------------------------
    def _apply(self, trainer: pl.Trainer, changes: Mapping[str, Any]) -> None:
        if not changes:
            return
        groups = list(chain.from_iterable(optimizer.param_groups for optimizer in trainer.optimizers))
        done = self.reporter.apply_to_param_groups(groups, changes)
        unused = sorted({self.reporter.live[name] for name in changes} - set(done))
        if unused:
            warnings.warn(f"trial {self.trial.number}: no optimizer param group has {', '.join(unused)}; "
                          "the new value is in trial.params but training goes on without it", stacklevel=2)

    def _save(self, trainer: pl.Trainer, epoch: int) -> None:
        path = self._scratch() / f"epoch-{epoch}.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # optimizer, loops and callbacks too: a full resume
        state = torch.load(path, map_location="cpu", weights_only=False)  # written just now, by this trainer
        path.unlink()
        params = {name: value for name, value in self.trial.params.items() if name in self.reporter.live}
        self.trial.save_checkpoint(LightningCheckpoint(state, params), step=epoch)

    def _remove_scratch(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder, self._resume = None, None

    def _scratch(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="zoomtune-lightning-"))
        return self._folder


__all__ = ["LightningCheckpoint", "ZoomtuneCallback"]
