"""The Transformers callback and optimize_trainer on a tiny randomly initialised BERT (nothing downloaded),
trained on the CPU for a few steps: reports at global steps, a scheduler's stop that ends trainer.train() the
Trainer's way (train returns, the trial ends STOPPED), live nudges that the LR schedule keeps, a branched trial
starting from its parent's weights."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import zoomtune as zt  # noqa: E402
from zoomtune.integrations.transformers import ZoomtuneCallback, optimize_trainer  # noqa: E402
from zoomtune.records import EventKind  # noqa: E402

BertConfig, BertForSequenceClassification = transformers.BertConfig, transformers.BertForSequenceClassification
Trainer, TrainerCallback, TrainingArguments = transformers.Trainer, transformers.TrainerCallback, \
    transformers.TrainingArguments


class Tokens(torch.utils.data.Dataset):
    """Random token sequences; the label says whether the first token is in the upper half of the vocabulary."""

    def __init__(self, n: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 50, (n, 8), generator=generator)
        self.labels = (self.ids[:, 0] > 25).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(8, dtype=torch.long), "labels": self.labels[i]}


TRAIN, EVAL = Tokens(32, 0), Tokens(16, 1)


def model_init(trial=None) -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                    num_attention_heads=2, intermediate_size=32,
                                                    max_position_embeddings=16, num_labels=2))


def arguments(tmp_path, **overrides) -> TrainingArguments:
    """4 steps an epoch (32 examples, batches of 8), 2 epochs, an evaluation after each."""
    settings = {"output_dir": str(tmp_path / "out"), "use_cpu": True, "report_to": "none", "save_strategy": "no",
                "eval_strategy": "epoch", "num_train_epochs": 2, "per_device_train_batch_size": 8,
                "learning_rate": 1e-2, "logging_strategy": "no", "disable_tqdm": True, **overrides}
    return TrainingArguments(**settings)


def accuracy(prediction) -> dict:
    return {"accuracy": float((np.argmax(prediction.predictions, axis=-1) == prediction.label_ids).mean())}


@pytest.fixture
def study(tmp_path):
    return zt.create_study(direction="minimize", artifacts=tmp_path / "artifacts")


def train(trial, args, *callbacks, **options):
    trainer = Trainer(model=model_init(), args=args, train_dataset=TRAIN, eval_dataset=EVAL,
                      callbacks=[ZoomtuneCallback(trial, **options), *callbacks])
    trainer.train()
    return trainer


def test_reports_each_evaluation_at_its_global_step(study, tmp_path):
    trial = study.ask()
    trainer = train(trial, arguments(tmp_path))
    study.tell(trial, trial.intermediate_values[1])
    record = study.trials[0]
    assert record.state is zt.TrialState.COMPLETE and sorted(record.intermediate_values) == [0, 1]
    assert record.intermediate_values[1] == pytest.approx(trainer.evaluate()["eval_loss"])
    assert {e.step for e in study.events(EventKind.CHECKPOINT, 0)} == {0, 1}


class TrainEnd(TrainerCallback):
    """Whether on_train_end ran (for a callback listed after ours)."""

    def __init__(self) -> None:
        self.ended = False

    def on_train_end(self, args, state, control, **kwargs):
        self.ended = True


def test_stop_request_ends_training_and_train_returns(study, tmp_path):
    trial = study.ask()
    study.stop_trial(trial.number)
    callback, end = ZoomtuneCallback(trial, checkpoint=False), TrainEnd()
    trainer = Trainer(model=model_init(), args=arguments(tmp_path), train_dataset=TRAIN, eval_dataset=EVAL,
                      callbacks=[callback, end])
    trainer.train()
    assert trainer.state.global_step == 4 and list(trial.intermediate_values) == [0]  # stopped at epoch 0's end
    assert end.ended  # the callbacks after ours ended training as usual
    assert trainer.evaluate()["eval_loss"] == pytest.approx(callback.result())  # code after train() runs
    record = study.tell(trial, callback.result())  # an ask/tell loop: the value is told as usual
    assert record.state is zt.TrialState.STOPPED and record.value == pytest.approx(trial.intermediate_values[0])


def test_older_objectives_that_raise_trial_stopped_after_train_still_end_stopped(study, tmp_path):
    def objective(trial):
        study.stop_trial(trial.number)
        callback = ZoomtuneCallback(trial, checkpoint=False)
        Trainer(model=model_init(), args=arguments(tmp_path), train_dataset=TRAIN, eval_dataset=EVAL,
                callbacks=[callback]).train()
        if trial.should_stop():
            raise zt.TrialStopped()
        return callback.result()

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state is zt.TrialState.STOPPED and trial.value == trial.intermediate_values[0]


def test_missing_metric_names_the_logged_ones(study, tmp_path):
    with pytest.raises(KeyError, match=r"'eval_acc' was not logged \(logged: epoch, eval_loss, eval_runtime"):
        train(study.ask(), arguments(tmp_path), monitor="eval_acc", checkpoint=False)


def test_several_eval_datasets_report_the_monitored_one(study, tmp_path):
    trial = study.ask()
    trainer = Trainer(model=model_init(), args=arguments(tmp_path), train_dataset=TRAIN,
                      eval_dataset={"train": TRAIN, "val": EVAL},
                      callbacks=[ZoomtuneCallback(trial, monitor="eval_val_loss", checkpoint=False)])
    trainer.train()
    test_loss = trainer.evaluate(EVAL, metric_key_prefix="test")["test_loss"]  # another prefix: not reported
    assert list(trial.intermediate_values) == [0, 1]
    study.tell(trial, trial.intermediate_values[1])
    assert trial.intermediate_values[1] == pytest.approx(test_loss)  # the same data as "val"
    assert trial.intermediate_values[1] != pytest.approx(trainer.evaluate(TRAIN)["eval_loss"])


class LearningRates(TrainerCallback):
    """The learning rate of each optimizer step, and a nudge sent at the first evaluation."""

    def __init__(self, study: zt.Study, number: int, nudge: dict) -> None:
        self.study, self.number, self.nudge, self.lr = study, number, nudge, {}

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        self.lr[state.global_step] = optimizer.param_groups[0]["lr"]

    def on_evaluate(self, args, state, control, **kwargs):
        if state.global_step == 2:
            self.study.nudge(self.number, self.nudge)


def test_nudged_lr_becomes_the_base_of_the_linear_schedule(study, tmp_path):
    trial = study.ask()
    trial.suggest_float("learning_rate", 1e-4, 1e-1, scale="log")
    trial.suggest_float("momentum", 0.0, 0.99)
    base = trial.params["learning_rate"]
    recorder = LearningRates(study, trial.number, {"learning_rate": 4e-3, "momentum": 0.5})
    args = arguments(tmp_path, learning_rate=base, eval_strategy="steps", eval_steps=2, max_steps=8)
    with pytest.warns(RuntimeWarning, match=r"nudged momentum=0.5 not applied: no param group .* 'momentum'"):
        train(trial, args, recorder, checkpoint=False)  # seen at the second report (global step 4)
    for step in range(8):
        start = base if step < 4 else 4e-3
        assert recorder.lr[step] == pytest.approx(start * (8 - step) / 8), step
    assert [e.step for e in study.events(EventKind.NUDGE, trial.number)] == [1]


def test_asha_stops_a_trial_that_learns_nothing(tmp_path):
    study = zt.create_study(direction="minimize", artifacts=tmp_path / "artifacts",
                            scheduler=zt.schedulers.ASHA(reduction_factor=2))
    study.enqueue({"learning_rate": 1e-2})
    study.enqueue({"learning_rate": 1e-6})
    best = optimize_trainer(study, model_init, arguments(tmp_path), zt.Space(learning_rate=zt.Float(1e-6, 1e-1,
                                                                                                    scale="log")),
                            n_trials=2, train_dataset=TRAIN, eval_dataset=TRAIN, checkpoint=False)
    good, bad = study.trials
    assert best.number == 0 and good.state is zt.TrialState.COMPLETE and sorted(good.intermediate_values) == [0, 1]
    assert bad.state is zt.TrialState.STOPPED and list(bad.intermediate_values) == [0]
    assert bad.value == bad.intermediate_values[0]  # what optimize_trainer's objective returned
    assert bad.intermediate_values[0] > good.intermediate_values[0]


def test_optimize_trainer_with_a_space_function_and_compute_metrics(tmp_path):
    study = zt.create_study(direction="maximize", sampler=zt.samplers.RandomSampler(seed=0),
                            artifacts=tmp_path / "artifacts")

    def space(trial):
        return {"learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-1, scale="log"),
                "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1)}

    best = optimize_trainer(study, model_init, arguments(tmp_path, eval_strategy="no"), space, n_trials=2,
                            train_dataset=TRAIN, eval_dataset=EVAL, monitor="eval_accuracy",
                            compute_metrics=accuracy, checkpoint=False)
    assert [t.state for t in study.trials] == [zt.TrialState.COMPLETE] * 2
    assert best.value == max(t.value for t in study.trials)
    assert all(set(t.params) == {"learning_rate", "weight_decay"} for t in study.trials)
    assert all(list(t.intermediate_values) == [0] for t in study.trials)  # the one evaluation after training
    assert (tmp_path / "out" / "trial-1").is_dir()


def test_a_space_name_that_is_no_training_argument_is_refused_at_once(study, tmp_path):
    with pytest.raises(zt.SearchSpaceError, match=r"parameter 'learning_rat': is not a TrainingArguments field"):
        optimize_trainer(study, model_init, arguments(tmp_path), zt.Space(learning_rat=zt.Float(1e-4, 1e-1)),
                         n_trials=1, train_dataset=TRAIN, eval_dataset=EVAL)
    with pytest.raises(zt.SearchSpaceError, match=r"parameter 'units'"):
        optimize_trainer(study, model_init, arguments(tmp_path), lambda t: {"units": t.suggest_int("units", 8, 64)},
                         n_trials=3, train_dataset=TRAIN, eval_dataset=EVAL)
    assert len(study.trials) == 1 and study.trials[0].state is zt.TrialState.FAILED


class Weights(TrainerCallback):
    """The model's weights when training begins and at each evaluation."""

    def __init__(self) -> None:
        self.begin: dict = {}
        self.at: dict = {}

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        self.begin = {k: v.clone() for k, v in model.state_dict().items()}
        self.lr = optimizer.param_groups[0]["lr"]
        self.moments = len(optimizer.state_dict()["state"])

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self.at[state.global_step] = {k: v.clone() for k, v in model.state_dict().items()}


def test_branch_starts_from_the_parent_checkpoint(study, tmp_path):
    parent, branch = Weights(), Weights()
    space = zt.Space(learning_rate=zt.Float(1e-4, 1e-1, scale="log"))
    study.enqueue({"learning_rate": 1e-2})
    optimize_trainer(study, model_init, arguments(tmp_path), space, n_trials=1, train_dataset=TRAIN,
                     eval_dataset=EVAL, callbacks=[parent])
    number = study.branch(0, step=0, overrides={"learning_rate": 3e-3})
    optimize_trainer(study, model_init, arguments(tmp_path), space, n_trials=1, train_dataset=TRAIN,
                     eval_dataset=EVAL, callbacks=[branch])

    record = study.trials[number]
    assert record.parent == 0 and record.state is zt.TrialState.COMPLETE
    assert sorted(record.intermediate_values) == [1, 2]  # its two evaluations, after the parent's first
    assert parent.begin.keys() == branch.begin.keys()
    for name, saved in parent.at[4].items():
        torch.testing.assert_close(branch.begin[name], saved, rtol=0, atol=0)
    assert not torch.equal(branch.begin["classifier.weight"], parent.begin["classifier.weight"])
    assert branch.lr == pytest.approx(3e-3) and branch.moments > 0  # its own lr, the parent's Adam moments
