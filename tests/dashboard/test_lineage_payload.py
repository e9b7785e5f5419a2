"""The dashboard's lineage JSON (`zoomtune.plot.data.lineage`) is `zoomtune.lineage.lineage`, flattened (one
implementation)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import zoomtune as zt
from zoomtune.dashboard import payload as pl
from zoomtune.plot import data as pd
from zoomtune.lineage import LineageNode
from zoomtune.records import BranchPayload, BranchReason, Event, NudgePayload, ZoomPayload


def _objective(trial: zt.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(4):
        trial.save_checkpoint({"step": step}, step)
        trial.report(x + 1.0 / (1 + step), step)
    return x


def _edges(roots: list[LineageNode]) -> set[tuple[int | None, int, str | None]]:
    out: set[tuple[int | None, int, str | None]] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        out.add((node.parent, node.number, node.reason.value if node.reason is not None else None))
        stack.extend(node.children)
    return out


def _branched_and_nudged(tmp_path: Path) -> zt.Study:
    study = zt.create_study("lineage", sampler=zt.samplers.RandomSampler(seed=0), artifacts=tmp_path)
    study.optimize(_objective, n_trials=3)
    study.branch(0, step=2, overrides={"x": 0.25})  # by hand, from trial 0's checkpoint at step 2
    study.branch(1, overrides={"x": 0.75}, reason=BranchReason.PBT, replaces=2)
    trial = study.ask()  # runs the first queued branch (trial 3)
    trial.suggest_float("x", 0.0, 1.0)
    trial.report(1.0, 2)
    study.nudge(trial.number, {"x": 0.5})
    trial.report(0.9, 3)  # takes the nudge here
    study.tell(trial, 0.5)
    return study


def test_dashboard_lineage_is_the_library_lineage(tmp_path: Path) -> None:
    study = _branched_and_nudged(tmp_path)
    data: dict[str, Any] = pd.study_data(study.name, study.direction, study.trials, pd.shown_events(study))["lineage"]
    forest = study.lineage()
    assert {(n["parent"], n["number"], n["reason"]) for n in data["nodes"]} == _edges(forest)
    assert {(n["parent"], n["number"], n["reason"]) for n in data["nodes"]} == {
        (None, 0, None), (None, 1, None), (0, 3, "branch"), (1, 4, "pbt")}
    assert [n["number"] for n in data["nodes"]] == [0, 1, 3, 4] and data["truncated"] is False
    by_number = {n["number"]: n for n in data["nodes"]}
    assert by_number[3]["branch_step"] == 2  # the checkpoint step it really started from
    assert by_number[4]["branch_step"] == 3  # no step asked: the parent's latest checkpoint
    assert by_number[3]["first"] == 2 and by_number[3]["last"] == 3 and by_number[3]["state"] == "COMPLETE"
    assert data["nudges"] == [{"trial": 3, "step": 3, "old": {"x": 0.25}, "new": {"x": 0.5}}]
    detail = pl.trial_payload(study.trial(3))
    kinds = [e["kind"] for e in detail["events"]]
    assert "branch" in kinds and "nudge" in kinds
    branch = next(e for e in detail["events"] if e["kind"] == "branch")
    assert branch["payload"] == {"parent": 0, "overrides": {"x": 0.25}, "reason": "branch", "from_step": 2,
                                 "replaces": None}


def test_branch_step_is_the_from_step_and_other_events_are_ignored() -> None:
    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=1))
    study.optimize(_report_steps, n_trials=2)
    first, second = study.trials
    trials = [first, replace(second, parent=0)]  # the parent link lives on the trial record
    events = [Event(BranchPayload(0, {"x": 0.1}, BranchReason.RETRY, from_step=1), trial_number=1, step=3),
              Event(NudgePayload({"x": 0.1}, {"x": 0.2}), trial_number=1, step=2),
              Event(ZoomPayload(1, ["x"], [{"unit": {"x": [0.0, 0.5]}}], 2, 0.1, ["x in [0, 0.5]"])),
              Event(NudgePayload({"x": 0.2}, {"x": 0.3}), trial_number=99, step=2)]  # no such trial
    data = pd.lineage(trials, events)
    assert [(n["number"], n["parent"], n["reason"], n["branch_step"]) for n in data["nodes"]] == [
        (0, None, None, None), (1, 0, "retry", 1)]
    assert data["nudges"] == [{"trial": 1, "step": 2, "old": {"x": 0.1}, "new": {"x": 0.2}}]
    assert pd.lineage(study.trials, [])["nodes"] == []  # no branches, no nudges: no lineage


def _report_steps(trial: zt.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(3):
        trial.report(x, step)
    return x


def test_lineage_is_bounded(monkeypatch: Any) -> None:
    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=2))
    study.optimize(_report_steps, n_trials=6)
    events = [Event(NudgePayload({"x": 0.0}, {"x": float(i)}), trial_number=i % 6, step=i) for i in range(12)]
    monkeypatch.setattr(pd, "MAX_LINEAGE", 4)
    monkeypatch.setattr(pd, "MAX_EVENTS", 3)
    data = pd.lineage(study.trials, events)
    assert [n["number"] for n in data["nodes"]] == [2, 3, 4, 5] and data["truncated"] is True
    assert len(data["nudges"]) == 3 and {n["trial"] for n in data["nudges"]} <= {2, 3, 4, 5}


def test_zoom_boxes_use_the_distributions_unit_edge() -> None:
    dists = {"lr": zt.Float(1e-4, 1.0, scale="log"), "units": zt.Int(16, 512, scale="log"),
             "act": zt.Categorical(("relu", "tanh"))}
    event = Event(ZoomPayload(2, ["lr", "units", "act"],
                              [{"unit": {"lr": [0.25, 0.5], "units": [0.0, 1.0]}, "choices": {"act": [1, 5]}}],
                              10, 0.5, ["lr in ..."]))
    [zoom] = pd.zoom_rounds([Event(NudgePayload({}, {}), trial_number=0), event], dists)
    assert zoom["round"] == 2 and zoom["n_trials"] == 10 and zoom["best"] == 0.5 and zoom["described"] == ["lr in ..."]
    [box] = zoom["boxes"]
    assert box["ranges"]["lr"] == [dists["lr"].unit_edge(0.25), dists["lr"].unit_edge(0.5)]
    assert box["ranges"]["lr"][0] == pytest.approx(1e-3)
    lo, hi = box["ranges"]["units"]
    assert lo == pytest.approx(15.5) and hi == pytest.approx(512.5)  # cell borders
    assert box["choices"] == {"act": ["tanh"]}
