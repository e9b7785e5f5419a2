"""Panda mode in the training loop: a nudged learning rate changes training live; a branch continues
from its parent's checkpoint."""

import pytest

torch = pytest.importorskip("torch")

import zoomtune as zt  # noqa: E402
from zoomtune.nn import datasets  # noqa: E402
from zoomtune.nn.models import MLP  # noqa: E402
from zoomtune.nn.training import fit  # noqa: E402


def train(trial, epochs, checkpoint=False):
    lr = trial.suggest_float("lr", 1e-4, 1e4, scale="log")
    torch.manual_seed(0)
    model = MLP(64, [32], 10, batchnorm=False)
    return fit(model, datasets.digits(), trial=trial, optimizer="sgd", lr=lr, momentum=0.0, epochs=epochs,
               batch_size=64, checkpoint=checkpoint)


def test_a_nudged_learning_rate_reaches_the_optimizer_at_the_next_epoch(tmp_path):
    results = {}
    for nudged in (False, True):
        study = zt.create_study(direction="maximize", artifacts=tmp_path)
        study.enqueue({"lr": 0.05})
        trial = study.ask()
        if nudged:
            trial.suggest_float("lr", 1e-4, 1e4, scale="log")
            trial.flush()  # what its first report would do: the parameters are in storage
            study.nudge(trial.number, {"lr": 5000.0})  # taken in at the first report, after epoch 0
        results[nudged] = train(trial, epochs=4)
        if nudged:
            assert trial.params["lr"] == 5000.0
            [event] = study.events(zt.EventKind.NUDGE)
            assert event.step == 0 and event.payload == zt.NudgePayload({"lr": 0.05}, {"lr": 5000.0})
    calm, nudged = results[False].history, results[True].history
    assert not results[False].diverged and calm[-1] > 0.7 and calm == sorted(calm)
    assert nudged[0] == calm[0]  # the same first epoch, then the nudged rate wrecks training
    assert max(nudged[1:]) < 0.3 < calm[1]


def test_a_branch_continues_from_the_parents_checkpoint(tmp_path):
    study = zt.create_study(direction="maximize", artifacts=tmp_path)
    study.enqueue({"lr": 0.05})
    parent = study.ask()
    first = train(parent, epochs=3, checkpoint=True)
    study.tell(parent, first.val_accuracy)
    child_number = study.branch(parent.number, step=1, overrides={"lr": 0.02})
    child = study.ask()
    assert child.number == child_number and child.params["lr"] == 0.02
    result = train(child, epochs=4, checkpoint=True)
    assert result.history[:2] == first.history[:2]  # epochs 0 and 1 come from the parent's checkpoint
    assert sorted(child.intermediate_values) == [2, 3]  # its own curve continues from step 2
    assert result.epochs == 4
