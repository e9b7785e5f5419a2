import pytest

import zoomtune as zt
from zoomtune.schedulers.pbt import PBT


def test_checkpoints_round_trip_and_retention_keeps_last_two_and_best(tmp_path):
    study = zt.create_study(direction="maximize", artifacts=tmp_path)
    trial = study.ask()
    assert trial.load_checkpoint() is None
    for step, value in enumerate([0.1, 0.9, 0.3, 0.4, 0.5]):
        trial.report(value, step)
        trial.save_checkpoint({"step": step, "weights": [step] * 3})
    assert trial.load_checkpoint() == {"step": 4, "weights": [4, 4, 4]}
    folder = tmp_path / study.name / "trial-0"
    assert sorted(p.name for p in folder.iterdir()) == ["step-1.pkl", "step-3.pkl", "step-4.pkl"]
    study.tell(trial, 0.5)
    with pytest.raises(RuntimeError, match="cannot save a checkpoint"):
        trial.save_checkpoint({})


def test_default_artifacts_folder_is_beside_the_sqlite_file(tmp_path):
    study = zt.create_study(storage=f"sqlite:///{tmp_path / 'z.db'}")
    assert study.artifacts == tmp_path / "zoomtune-artifacts"


def test_branch_starts_from_the_parents_checkpoint_with_new_values(tmp_path):
    study = zt.create_study(artifacts=tmp_path)
    parent = study.ask()
    lr = parent.suggest_float("lr", 1e-4, 1, scale="log")
    for step, value in enumerate([5.0, 1.0, 4.0, 3.0]):  # best (lowest) at step 1
        parent.report(value, step)
        parent.save_checkpoint({"step": step})
    study.tell(parent, 3.0)
    number = study.branch(0, step=2, overrides={"lr": 0.003})
    child = study.ask()
    assert child.number == number and child.parent == 0
    assert child.suggest_float("lr", 1e-4, 1, scale="log") == 0.003 and lr != 0.003
    # step 2 was pruned (kept: last two, 2 and 3... and the best, 1); the latest at or before 2 is used
    assert child.load_checkpoint() == {"step": 2}
    [event] = list(study.events(zt.EventKind.BRANCH))
    assert event.trial_number == number and event.payload.parent == 0 and event.step == 2
    assert event.payload.from_step == 2
    with pytest.raises(zt.SearchSpaceError, match="parameter 'lr': the new value must lie in"):
        study.branch(0, step=1, overrides={"lr": 5.0})
    with pytest.raises(zt.SearchSpaceError, match="parameter 'momentum': trial 0 has no such parameter"):
        study.branch(0, step=1, overrides={"momentum": 0.9})


STEPS = 16


def training(trial):
    """A toy training run whose progress per step depends on lr (best near 0.03); it checkpoints
    every step and resumes from a checkpoint, as PBT needs."""
    import math
    import time

    lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    state = trial.load_checkpoint() or {"step": -1, "score": 0.0}
    score = state["score"]
    for step in range(state["step"] + 1, STEPS):
        score += math.exp(-((math.log10(lr) + 1.5) ** 2))
        time.sleep(0.003)  # an epoch takes time, so the population trains side by side
        trial.report(score, step)
        trial.save_checkpoint({"step": step, "score": score})
        if trial.should_stop():
            raise zt.TrialStopped()
    return score


def test_pbt_exploits_good_trials_and_records_the_lineage(tmp_path):
    results = {}
    for name, scheduler in (("pbt", PBT(interval=4, seed=0)), ("none", None)):
        study = zt.create_study(direction="maximize", sampler=zt.samplers.RandomSampler(seed=1),
                                scheduler=scheduler, artifacts=tmp_path / name)
        study.optimize(training, n_trials=24, n_jobs=4)
        results[name] = study
    pbt = results["pbt"]
    branches = [e for e in pbt.events(zt.EventKind.BRANCH) if e.payload.reason is zt.BranchReason.PBT]
    assert branches, "PBT never exploited"
    stopped = [t for t in pbt.trials if t.state is zt.TrialState.STOPPED]
    assert {e.payload.replaces for e in branches} <= {t.number for t in stopped}
    children = [pbt.trial(e.trial_number) for e in branches if pbt.trial(e.trial_number).state.is_finished]
    assert children and all(c.parent is not None for c in children)
    # a child's curve continues after the step of the donor's checkpoint it copied
    copied = [pbt.trial(e.trial_number) for e in branches if "branch_from_step" in pbt.trial(e.trial_number).user_attrs]
    finished = [c for c in copied if c.state is zt.TrialState.COMPLETE and c.user_attrs["branch_from_step"] < STEPS - 1]
    assert finished
    for child in finished:
        assert min(child.intermediate_values) == child.user_attrs["branch_from_step"] + 1
    # the mean final score of completed trials is higher with PBT
    def mean_final(study):
        values = [t.value for t in study.trials if t.state is zt.TrialState.COMPLETE]
        return sum(values) / len(values)

    assert mean_final(pbt) > mean_final(results["none"])
