"""The Keras 3 callback on a tiny Sequential model (torch backend): reports, a scheduler's stop that ends
model.fit the Keras way (fit returns, the trial ends STOPPED), live nudges of the optimizer, and a branched
trial starting from its parent's weights."""

import os

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported
keras = pytest.importorskip("keras")

import zoomtune as zt  # noqa: E402
from zoomtune.integrations.keras import ZoomtuneCallback  # noqa: E402
from zoomtune.records import EventKind  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.random((256, 8), dtype=np.float32)
Y = (X.sum(axis=1) > 4).astype("int32")


def build(lr: float, momentum: float = 0.0) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(lr, momentum=momentum), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def fit(model: keras.Model, *callbacks: keras.callbacks.Callback, initial_epoch: int = 0) -> keras.callbacks.History:
    return model.fit(X, Y, validation_split=0.25, epochs=3, batch_size=64, verbose=0, shuffle=False,
                     initial_epoch=initial_epoch, callbacks=list(callbacks))


class Recorder(keras.callbacks.Callback):
    """What the model looks like at each point of fit, seen after the callbacks before it."""

    def __init__(self) -> None:
        super().__init__()
        self.begin_weights: list[np.ndarray] = []
        self.epoch_weights: dict[int, list[np.ndarray]] = {}
        self.lr: dict[int, float] = {}
        self.momentum: dict[int, float] = {}
        self.ended = False

    def on_train_begin(self, logs=None):
        self.begin_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        self.ended = True

    def on_epoch_begin(self, epoch, logs=None):
        self.lr[epoch] = float(self.model.optimizer.learning_rate)
        self.momentum[epoch] = self.model.optimizer.momentum

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_weights[epoch] = self.model.get_weights()


@pytest.fixture
def study(tmp_path):
    return zt.create_study(direction="minimize", artifacts=tmp_path)


def test_reports_each_epoch_and_checkpoints(study):
    def objective(trial):
        model = build(trial.suggest_float("lr", 0.05, 0.5, scale="log"))
        history = fit(model, ZoomtuneCallback(trial, monitor="val_loss"))
        return history.history["val_loss"][-1]

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state is zt.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [0, 1, 2]
    assert trial.intermediate_values[2] == pytest.approx(trial.value)
    assert {e.step for e in study.events(EventKind.CHECKPOINT, 0)} == {0, 1, 2}


def test_stop_request_ends_fit_after_the_epoch_and_fit_returns(study):
    trial = study.ask()
    study.stop_trial(trial.number)
    recorder = Recorder()
    history = fit(build(0.1), ZoomtuneCallback(trial, monitor="val_loss", checkpoint=False), recorder)
    assert history.epoch == [0] and list(trial.intermediate_values) == [0]  # fit ended after the epoch told to stop
    assert recorder.ended  # the callbacks after ours ended the fit as usual
    record = study.tell(trial, history.history["val_loss"][-1])  # an ask/tell loop: the value is told as usual
    assert record.state is zt.TrialState.STOPPED and record.value == pytest.approx(trial.intermediate_values[0])


def test_older_objectives_that_raise_trial_stopped_after_fit_still_end_stopped(study):
    def objective(trial):
        study.stop_trial(trial.number)
        history = fit(build(trial.suggest_float("lr", 0.05, 0.5)), ZoomtuneCallback(trial, monitor="val_loss"))
        if trial.should_stop():
            raise zt.TrialStopped()
        return history.history["val_loss"][-1]

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state is zt.TrialState.STOPPED and list(trial.intermediate_values) == [0]
    assert trial.value == trial.intermediate_values[0]


def test_median_stopping_ends_a_bad_trial_stopped(tmp_path):
    study = zt.create_study(direction="minimize", artifacts=tmp_path,
                            scheduler=zt.schedulers.MedianStopping(n_startup_trials=1))
    study.enqueue({"lr": 0.5})
    study.enqueue({"lr": 1e-6})  # learns nothing: worse than the first trial's median at epoch 0

    def objective(trial):
        model = build(trial.suggest_float("lr", 1e-6, 1.0, scale="log"))
        return fit(model, ZoomtuneCallback(trial, monitor="val_loss", checkpoint=False)).history["val_loss"][-1]

    study.optimize(objective, n_trials=2)
    good, bad = study.trials
    assert good.state is zt.TrialState.COMPLETE and len(good.intermediate_values) == 3
    assert bad.state is zt.TrialState.STOPPED
    assert list(bad.intermediate_values) == [0]
    assert bad.value == pytest.approx(bad.intermediate_values[0])  # what the objective returned: fit went on to return


def test_missing_metric_names_the_logged_ones(study):
    trial = study.ask()
    with pytest.raises(KeyError, match=r"'val_acc' was not logged \(logged: accuracy, loss, val_accuracy, val_loss\)"):
        fit(build(0.1), ZoomtuneCallback(trial, monitor="val_acc", checkpoint=False))


class Nudger(keras.callbacks.Callback):
    def __init__(self, study: zt.Study, number: int, params: dict) -> None:
        super().__init__()
        self.study, self.number, self.changes = study, number, params

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.study.nudge(self.number, self.changes)


def test_nudged_lr_and_momentum_reach_the_live_optimizer(study):
    trial = study.ask()
    lr, momentum = trial.suggest_float("lr", 0.01, 1.0), trial.suggest_float("momentum", 0.0, 0.99)
    trial.flush()  # stored, so that the nudge sent before the first report can name them
    recorder = Recorder()
    fit(build(lr, momentum), Nudger(study, trial.number, {"lr": 0.02, "momentum": 0.5}),
        ZoomtuneCallback(trial, monitor="val_loss", checkpoint=False), recorder)
    study.tell(trial, trial.intermediate_values[2])
    assert recorder.lr[0] == pytest.approx(lr, rel=1e-6)
    assert recorder.lr[1] == pytest.approx(0.02) and recorder.lr[2] == pytest.approx(0.02)
    assert recorder.momentum[0] == pytest.approx(momentum) and recorder.momentum[1] == 0.5
    assert study.trials[0].params["lr"] == 0.02
    assert [e.step for e in study.events(EventKind.NUDGE, trial.number)] == [0]


def test_nudge_of_a_parameter_the_optimizer_lacks_warns(study):
    trial = study.ask()
    trial.suggest_float("lr", 0.01, 1.0)
    trial.suggest_float("momentum", 0.0, 0.99)
    trial.flush()
    model = build(0.1)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    with pytest.warns(RuntimeWarning, match=r"nudged momentum=0.5 not applied: the optimizer Adam has no 'momentum'"):
        fit(model, Nudger(study, trial.number, {"momentum": 0.5}),
            ZoomtuneCallback(trial, monitor="val_loss", checkpoint=False))


def test_branch_starts_from_the_parent_checkpoint(study):
    parent_recorder, branch_recorder = Recorder(), Recorder()

    def objective(trial):
        model = build(trial.suggest_float("lr", 0.01, 1.0))
        callback = ZoomtuneCallback(trial, monitor="val_loss")
        recorder = branch_recorder if trial.parent is not None else parent_recorder
        history = fit(model, callback, recorder, initial_epoch=callback.initial_epoch)
        return history.history["val_loss"][-1]

    study.enqueue({"lr": 0.2})
    study.optimize(objective, n_trials=1)
    number = study.branch(0, step=1, overrides={"lr": 0.03})
    study.optimize(objective, n_trials=1)

    branch = study.trials[number]
    assert branch.parent == 0 and branch.state is zt.TrialState.COMPLETE
    assert list(branch.intermediate_values) == [2]  # epochs 0 and 1 came from the parent
    for restored, saved in zip(branch_recorder.begin_weights, parent_recorder.epoch_weights[1], strict=True):
        np.testing.assert_array_equal(restored, saved)
    assert branch_recorder.lr[2] == pytest.approx(0.03)  # the branch's lr, not the checkpoint's
    assert not np.allclose(branch_recorder.epoch_weights[2][0], parent_recorder.epoch_weights[2][0])
