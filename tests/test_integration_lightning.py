"""ZoomtuneCallback with real Lightning fits of a tiny MLP on random tensors: reports per epoch, a scheduler's
stop ends a plain trainer.fit cleanly (FINISHED, loggers finalized as a success) and the trial STOPPED (not
FAILED), a nudge reaches the live optimizer, a branch resumes from its parent's checkpoint, and worker
processes run it."""

from __future__ import annotations

from typing import Any

import pytest

pl = pytest.importorskip("lightning.pytorch")

import torch  # noqa: E402
from lightning.pytorch.loggers import Logger  # noqa: E402
from lightning.pytorch.trainer.states import TrainerStatus  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import zoomtune as zt  # noqa: E402
from zoomtune.integrations.lightning import LightningCheckpoint, ZoomtuneCallback  # noqa: E402

torch.set_num_threads(1)


class TinyNet(pl.LightningModule):
    """A 2-layer MLP trained with SGD; it logs nothing in the sanity check, so a callback that did not skip
    the sanity check would fail on a missing metric."""

    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lr, self.momentum = lr, momentum
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.trainer.sanity_checking:
            return
        x, y = batch
        logits = self.net(x)
        self.log("val_acc", (logits.argmax(1) == y).float().mean())
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum)


def _study(tmp_path: Any, **options: Any) -> zt.Study:
    """A maximizing in-memory study whose checkpoints go under `tmp_path`."""
    return zt.create_study(direction="maximize", artifacts=tmp_path / "artifacts", **options)


def _loaders() -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()
    data = TensorDataset(x, y)
    return DataLoader(data, batch_size=64), DataLoader(data, batch_size=256)


class StatusLogger(Logger):
    """A Lightning logger that keeps the status Lightning finalizes it with ("success", "failed")."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[str] = []

    @property
    def name(self) -> str:
        return "status"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def finalize(self, status: str) -> None:
        self.statuses.append(status)


def _trainer(*callbacks: pl.Callback, max_epochs: int = 3, logger: Logger | bool = False) -> pl.Trainer:
    return pl.Trainer(max_epochs=max_epochs, enable_progress_bar=False, enable_model_summary=False, logger=logger,
                      enable_checkpointing=False, accelerator="cpu", devices=1, callbacks=list(callbacks),
                      log_every_n_steps=1)


def _fit(trial: zt.Trial, *callbacks: pl.Callback, max_epochs: int = 3, trainers: list[pl.Trainer] | None = None,
         **options: Any) -> float:
    """The objective's body: build the model from the trial, fit it with a ZoomtuneCallback made with
    `options` (monitor="val_acc" unless given) by a plain trainer.fit resuming from the callback's ckpt_path,
    return val_acc (`trainers` collects the trainer)."""
    model = TinyNet(trial.suggest_float("lr", 1e-5, 1.0, scale="log"), trial.suggest_float("momentum", 0.0, 0.95))
    options.setdefault("monitor", "val_acc")
    callback = ZoomtuneCallback(trial, **options)
    trainer = _trainer(callback, *callbacks, max_epochs=max_epochs)
    if trainers is not None:
        trainers.append(trainer)
    train, val = _loaders()
    trainer.fit(model, train, val, ckpt_path=callback.ckpt_path())
    return float(trainer.callback_metrics["val_acc"])


class _Every(pl.Callback):
    """Runs `action(trainer, module)` at the end of every training epoch (after its validation)."""

    def __init__(self, action: Any, hook: str = "on_train_epoch_end") -> None:
        setattr(self, hook, action)


def test_reports_every_epoch_and_checkpoints_the_trainer(tmp_path):
    study = _study(tmp_path)
    study.enqueue({"lr": 0.3, "momentum": 0.5})
    study.optimize(_fit, n_trials=1)
    trial = study.trials[0]
    assert trial.state is zt.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [0, 1, 2]
    assert trial.value == trial.intermediate_values[2] > 0.8
    steps = [e.step for e in study.events(zt.EventKind.CHECKPOINT, 0)]
    assert steps == [0, 1, 2]


def test_a_missing_metric_fails_the_trial_naming_the_logged_ones(tmp_path):
    study = _study(tmp_path)
    study.optimize(lambda trial: _fit(trial, monitor="val_f1", max_epochs=1), n_trials=1)
    trial = study.trials[0]
    assert trial.state is zt.TrialState.FAILED
    assert "'val_f1' was not logged (logged: val_acc, val_loss)" in (trial.error or "")


@pytest.mark.parametrize("scheduler", [zt.schedulers.MedianStopping(n_startup_trials=1, n_warmup_steps=1),
                                       zt.schedulers.ASHA(min_resource=2, reduction_factor=2, max_resource=4)],
                         ids=["median", "asha"])
def test_the_scheduler_stops_bad_trials_cleanly_and_they_end_stopped(tmp_path, scheduler):
    study = _study(tmp_path, scheduler=scheduler)
    for lr in (0.3, 1e-5, 0.5):  # good, hopeless (its accuracy never moves), better
        study.enqueue({"lr": lr, "momentum": 0.5})
    trainers: list[pl.Trainer] = []

    def objective(trial: zt.Trial) -> float:
        return _fit(trial, max_epochs=4, trainers=trainers)

    study.optimize(objective, n_trials=3)
    states = [t.state for t in study.trials]
    assert states == [zt.TrialState.COMPLETE, zt.TrialState.STOPPED, zt.TrialState.COMPLETE]
    stopped = study.trials[1]
    assert sorted(stopped.intermediate_values) == [0, 1]  # stopped at step 1: no epoch trained after it
    assert stopped.value == stopped.intermediate_values[1]
    assert sorted(study.trials[2].intermediate_values) == [0, 1, 2, 3]
    assert [t.state.status for t in trainers] == [TrainerStatus.FINISHED] * 3  # no exception crossed a fit


def _stopped_after_epoch_0(trial: zt.Trial, logger: Logger | bool = False) -> pl.Trainer:
    """A plain trainer.fit of `trial` that study.stop_trial stops at its report of epoch 1 (asked after epoch 0);
    the fitted trainer."""
    callback = ZoomtuneCallback(trial, monitor="val_loss", checkpoint=False)
    stopper = _Every(lambda trainer, module: trial.study.stop_trial(trial.number))
    trainer = _trainer(callback, stopper, max_epochs=4, logger=logger)
    train, val = _loaders()
    trainer.fit(TinyNet(trial.suggest_float("lr", 1e-3, 1.0, scale="log")), train, val)
    return trainer


def test_a_plain_trainer_fit_stopped_by_the_study_finishes_cleanly_and_the_trial_ends_stopped(tmp_path):
    study = _study(tmp_path)
    seen: dict[str, Any] = {}

    def objective(trial: zt.Trial) -> float:
        logger = StatusLogger()
        trainer = _stopped_after_epoch_0(trial, logger)
        seen.update(status=trainer.state.status, finalized=logger.statuses, epochs=trainer.current_epoch)
        return float(trainer.callback_metrics["val_loss"])  # code after the fit runs

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert seen["status"] is TrainerStatus.FINISHED  # not INTERRUPTED: nothing was raised in the fit
    assert seen["finalized"] == ["success"]  # an MLflow run would be FINISHED, not FAILED
    assert seen["epochs"] == 2  # epoch 1 ended, then the fit
    assert trial.state is zt.TrialState.STOPPED and sorted(trial.intermediate_values) == [0, 1]
    assert trial.value == trial.intermediate_values[1]  # what the objective returned


def test_older_objectives_that_raise_trial_stopped_after_the_fit_still_end_stopped(tmp_path):
    study = _study(tmp_path)

    def objective(trial: zt.Trial) -> float:
        trainer = _stopped_after_epoch_0(trial)
        if trial.should_stop():
            raise zt.TrialStopped()
        return float(trainer.callback_metrics["val_loss"])

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state is zt.TrialState.STOPPED and trial.value == trial.intermediate_values[1]


def test_ask_and_tell_records_a_stopped_fit_as_stopped(tmp_path):
    study = _study(tmp_path)
    trial = study.ask()
    trainer = _stopped_after_epoch_0(trial)
    record = study.tell(trial, float(trainer.callback_metrics["val_loss"]))
    assert record.state is zt.TrialState.STOPPED and record.value == trial.intermediate_values[1]


def _nudge_after_epoch_0(study: zt.Study, params: dict[str, Any]) -> Any:
    def nudge(trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.current_epoch == 0:
            study.nudge(0, params)
    return nudge


def test_a_nudge_changes_the_live_optimizer(tmp_path):
    study = _study(tmp_path)
    study.enqueue({"lr": 0.1, "momentum": 0.9})
    seen: list[tuple[float, float]] = []

    def lr(trainer: pl.Trainer, module: pl.LightningModule) -> None:
        group = trainer.optimizers[0].param_groups[0]
        seen.append((group["lr"], group["momentum"]))

    study.optimize(lambda trial: _fit(trial, _Every(_nudge_after_epoch_0(study, {"lr": 0.003, "momentum": 0.5})),
                                      _Every(lr, "on_train_epoch_start")), n_trials=1)
    # sent after epoch 0, taken at epoch 1's report, so epoch 2 trains with it
    assert seen == [(0.1, 0.9), (0.1, 0.9), (0.003, 0.5)]
    trial = study.trials[0]
    assert trial.params["lr"] == 0.003 and trial.params["momentum"] == 0.5
    [nudge] = study.events(zt.EventKind.NUDGE, 0)
    assert nudge.step == 1 and nudge.payload.new == {"lr": 0.003, "momentum": 0.5}
    assert nudge.payload.old == {"lr": 0.1, "momentum": 0.9}


def test_a_nudge_no_optimizer_can_take_is_named_in_a_warning(tmp_path):
    study = _study(tmp_path)
    study.enqueue({"lr": 0.1, "momentum": 0.9})
    with pytest.warns(UserWarning, match="no optimizer param group has rho"):
        study.optimize(lambda trial: _fit(trial, _Every(_nudge_after_epoch_0(study, {"momentum": 0.5})),
                                          live={"momentum": "rho"}), n_trials=1)
    assert study.trials[0].state is zt.TrialState.COMPLETE and study.trials[0].params["momentum"] == 0.5


def test_a_branch_resumes_from_its_parents_checkpoint_with_its_overrides(tmp_path):
    study = _study(tmp_path)
    study.enqueue({"lr": 0.1, "momentum": 0.9})
    study.optimize(_fit, n_trials=1)
    start: dict[str, Any] = {}

    def at_start(trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if start:
            return
        optimizer = trainer.optimizers[0]
        start.update(epoch=trainer.current_epoch, lr=optimizer.param_groups[0]["lr"],
                     buffers=len(optimizer.state), weights={k: v.clone() for k, v in module.state_dict().items()})

    number = study.branch(0, step=1, overrides={"lr": 0.02})
    study.optimize(lambda trial: _fit(trial, _Every(at_start, "on_train_epoch_start"), max_epochs=4), n_trials=1)
    child = study.trials[number]
    assert child.state is zt.TrialState.COMPLETE and child.parent == 0
    assert sorted(child.intermediate_values) == [2, 3]  # epochs 0 and 1 came from the parent
    assert start["epoch"] == 2  # epochs 0 and 1 are not trained again
    assert start["lr"] == 0.02  # the override beats the restored optimizer state
    assert start["buffers"] > 0  # SGD's momentum buffers were restored, not started afresh
    parent_state = study.checkpoints.load(study.trial(number).user_attrs["branch_checkpoint"])
    assert isinstance(parent_state, LightningCheckpoint) and parent_state.trainer["epoch"] == 1
    for name, tensor in parent_state.trainer["state_dict"].items():
        assert torch.equal(start["weights"][name], tensor), name


def test_a_branch_fit_without_its_ckpt_path_is_warned_about(tmp_path):
    study = _study(tmp_path)
    study.enqueue({"lr": 0.1, "momentum": 0.9})
    study.optimize(lambda trial: _fit(trial, max_epochs=2), n_trials=1)
    number = study.branch(0, step=1)

    def objective(trial: zt.Trial) -> float:
        trainer = _trainer(ZoomtuneCallback(trial), max_epochs=1)
        trainer.fit(TinyNet(trial.suggest_float("lr", 1e-5, 1.0, scale="log")), *_loaders())
        return float(trainer.callback_metrics["val_acc"])

    with pytest.warns(UserWarning, match=r"starts from a checkpoint .* ckpt_path=callback.ckpt_path\(\)"):
        study.optimize(objective, n_trials=1)
    assert sorted(study.trials[number].intermediate_values) == [0]  # trained afresh, as warned


def test_worker_processes_run_the_callback(tmp_path):
    study = _study(tmp_path, storage=f"sqlite:///{tmp_path / 'z.db'}")
    study.optimize(lambda trial: _fit(trial, max_epochs=2), n_trials=2, n_jobs=2)
    trials = study.trials
    assert [t.state for t in trials] == [zt.TrialState.COMPLETE] * 2
    assert all(sorted(t.intermediate_values) == [0, 1] for t in trials)
    assert all(len(study.events(zt.EventKind.CHECKPOINT, t.number)) == 2 for t in trials)


def test_a_retried_trial_resumes_where_the_failed_one_checkpointed(tmp_path):
    study = _study(tmp_path, max_retries=1)
    study.enqueue({"lr": 0.1, "momentum": 0.9})

    def crash_in_epoch_2(trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.current_epoch == 2:
            raise RuntimeError("the machine fell over")

    study.optimize(lambda trial: _fit(trial, _Every(crash_in_epoch_2, "on_train_epoch_start"), max_epochs=4),
                   n_trials=1)
    assert study.trials[0].state is zt.TrialState.FAILED
    number = study.retry(0)
    assert number is not None
    study.optimize(lambda trial: _fit(trial, max_epochs=4), n_trials=1)
    retried = study.trials[number]
    assert retried.state is zt.TrialState.COMPLETE
    assert sorted(retried.intermediate_values) == [2, 3]  # epochs 0 and 1 were the failed trial's
