"""TrialReporter, what every framework callback shares, against a real in-memory study: reports are
stored, a stop is remembered and marks the trial to end STOPPED, nudges come back as changes once."""

import math

import pytest

import zoomtune as zt
from zoomtune.integrations.reporting import ReportOutcome, TrialReporter, as_float


def _trial(study: zt.Study) -> zt.Trial:
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    trial.suggest_float("momentum", 0.5, 0.99)
    return trial


def test_reports_are_stored_and_nothing_changes_without_a_nudge():
    study = zt.create_study(direction="maximize")
    reporter = TrialReporter(_trial(study), monitor="val_acc")
    assert reporter.report(0.5, step=0) == ReportOutcome(stop=False, changes={})
    assert reporter.report(0.6, step=1).changes == {}
    assert study.trials[0].intermediate_values == {0: 0.5, 1: 0.6}
    assert not reporter.stopped and not reporter.trial.ends_stopped


def test_a_nudge_comes_back_once_as_a_change():
    study = zt.create_study(direction="maximize")
    trial = _trial(study)
    reporter = TrialReporter(trial, monitor="val_acc")
    reporter.report(0.5, step=0)
    study.nudge(trial.number, {"lr": 0.003})
    assert reporter.report(0.55, step=1).changes == {"lr": 0.003}
    assert reporter.report(0.6, step=2).changes == {}
    groups = [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.2}]
    assert reporter.apply_to_param_groups(groups, {"lr": 0.003}) == ["lr"]
    assert [g["lr"] for g in groups] == [0.003, 0.003]


def test_a_stop_is_remembered_and_marks_the_trial():
    study = zt.create_study(direction="maximize")
    trial = _trial(study)
    reporter = TrialReporter(trial, monitor="val_acc")
    reporter.report(0.5, step=0)
    study.stop_trial(trial.number)
    assert reporter.report(0.4, step=1).stop
    assert reporter.stopped and reporter.stopped_at == 1 and trial.ends_stopped
    assert reporter.report(0.3, step=2).stop and reporter.stopped_at == 1  # the first stop is the one remembered


def test_metrics_are_read_from_logs_with_clear_errors():
    study = zt.create_study(direction="maximize")
    reporter = TrialReporter(_trial(study), monitor="val_acc")
    assert reporter.metric({"loss": 1.0}) is None
    assert "logged: loss, val_loss" in str(reporter.missing({"val_loss": 1.0, "loss": 2.0}))
    with pytest.raises(TypeError, match="'val_acc' must be a number"):
        reporter.metric({"val_acc": "high"})
    assert as_float(_Scalar(0.25)) == 0.25
    assert math.isnan(reporter.metric({"val_acc": float("nan")}))
    with pytest.raises(TypeError, match="monitor must name"):
        TrialReporter(study.ask(), monitor="")


class _Scalar:
    """A stand-in for a one-element tensor or NumPy scalar: what matters is `.item()`."""

    def __init__(self, value: float) -> None:
        self.value = value

    def item(self) -> float:
        return self.value


def test_a_stopped_trial_that_returns_ends_stopped_with_the_returned_value():
    study = zt.create_study(direction="maximize")
    trial = _trial(study)
    reporter = TrialReporter(trial, monitor="val_acc")
    reporter.report(0.5, step=0)
    study.stop_trial(trial.number)
    reporter.report(0.4, step=1)
    assert trial.ends_stopped
    record = study.tell(trial, 0.45)  # the objective returned after the framework ended its fit
    assert record.state is zt.TrialState.STOPPED and record.value == 0.45


def test_in_optimize_a_callback_stop_needs_no_exception_from_the_objective():
    """What every framework callback relies on: the fit ends normally, the objective returns, the trial is
    STOPPED; trials the scheduler lets run end COMPLETE."""

    def objective(trial: zt.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        reporter = TrialReporter(trial, monitor="score")
        score = 0.0
        for epoch in range(6):  # a framework's loop: it stops when told, it never raises
            score = x * (epoch + 1)
            if reporter.report(score, step=epoch).stop:
                break
        return score

    study = zt.create_study(direction="maximize", sampler=zt.samplers.RandomSampler(seed=0),
                            scheduler=zt.schedulers.MedianStopping(n_startup_trials=3))
    study.optimize(objective, n_trials=12)
    stopped = study.get_trials([zt.TrialState.STOPPED])
    assert stopped and study.get_trials([zt.TrialState.COMPLETE])
    for record in stopped:
        assert len(record.intermediate_values) < 6
        assert record.value == record.intermediate_values[max(record.intermediate_values)]


def test_a_callback_restores_only_a_checkpoint_of_its_own_kind(tmp_path):
    study = zt.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 'zt.db'}")
    trial = _trial(study)
    reporter = TrialReporter(trial, monitor="val_acc")
    assert reporter.checkpoint_of(dict) is None  # nothing saved yet
    reporter.report(0.5, step=0)
    trial.save_checkpoint({"weights": [1.0, 2.0]}, step=0)
    assert reporter.checkpoint_of(dict) == {"weights": [1.0, 2.0]}
    with pytest.raises(TypeError, match="its checkpoint is a dict, not one ZoomtuneCallback saved"):
        reporter.checkpoint_of(list)
