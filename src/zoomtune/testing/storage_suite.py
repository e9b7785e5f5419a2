"""The storage conformance suite: subclass `StorageConformance` and provide a `storage` fixture.

>>> class TestMyStorage(StorageConformance):  # doctest: +SKIP
...     @pytest.fixture
...     def storage(self):
...         return MyStorage()
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta, timezone

import pytest

from zoomtune.errors import DuplicatedStudyError, StudyNotFoundError, TrialNotFoundError, TrialStateError
from zoomtune.records import (BranchPayload, BranchReason, ControlAction, ControlPayload, Direction, Event, EventKind,
                              FailureCause, NudgePayload, TrialState, ZoomPayload)
from zoomtune.space import Categorical, Float, Int
from zoomtune.storage.base import AttrScope, FinishedTrial, Storage


class StorageConformance:
    """Behaviour every `Storage` must show. Tests are methods; `storage` is a fixture you provide."""

    @pytest.fixture
    def storage(self) -> Storage:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_create_and_get_study(self, storage: Storage) -> None:
        info = storage.create_study("s", Direction.MAXIMIZE, {"x": {"type": "float", "low": 0, "high": 1,
                                                                   "scale": "linear"}}, {"note": "a"})
        again = storage.get_study("s")
        assert again.study_id == info.study_id and again.direction is Direction.MAXIMIZE
        assert again.space == {"x": {"type": "float", "low": 0, "high": 1, "scale": "linear"}}
        assert again.attrs == {"note": "a"}

    def test_duplicate_and_missing_study(self, storage: Storage) -> None:
        storage.create_study("s", Direction.MINIMIZE)
        with pytest.raises(DuplicatedStudyError):
            storage.create_study("s", Direction.MINIMIZE)
        with pytest.raises(StudyNotFoundError):
            storage.get_study("nope")
        with pytest.raises(StudyNotFoundError):
            storage.delete_study("nope")

    def test_trial_numbers_are_consecutive_per_study(self, storage: Storage) -> None:
        a = storage.create_study("a", Direction.MINIMIZE).study_id
        b = storage.create_study("b", Direction.MINIMIZE).study_id
        numbers_a = [storage.create_trial(a).number for _ in range(3)]
        numbers_b = [storage.create_trial(b).number for _ in range(2)]
        assert numbers_a == [0, 1, 2] and numbers_b == [0, 1]

    def test_update_and_read_back_everything(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        trial = storage.create_trial(sid)
        assert trial.state is TrialState.RUNNING and trial.datetime_start is not None
        dists = {"lr": Float(1e-4, 1.0, scale="log"), "n": Int(1, 9), "act": Categorical(("relu", None, True))}
        storage.update_trial(trial.trial_id, params={"lr": (dists["lr"], 0.01), "n": (dists["n"], 3)},
                             values={0: 0.5, 1: 0.25}, user_attrs={"k": [1, 2]})
        storage.update_trial(trial.trial_id, params={"act": (dists["act"], None)}, values={1: 0.2, 2: math.nan},
                             user_attrs={"j": "x"}, state=TrialState.COMPLETE, value=0.125)
        got = storage.get_trial(sid, trial.number)
        assert got.state is TrialState.COMPLETE and got.value == 0.125
        assert got.params == {"lr": 0.01, "n": 3, "act": None}
        assert got.distributions == dists
        assert got.intermediate_values[0] == 0.5 and got.intermediate_values[1] == 0.2
        assert math.isnan(got.intermediate_values[2])
        assert got.user_attrs == {"k": [1, 2], "j": "x"}
        assert got.datetime_complete is not None and got.duration is not None and got.duration >= 0

    def test_param_overwrite_keeps_one_value(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        trial = storage.create_trial(sid)
        dist = Float(0.0, 1.0)
        storage.update_trial(trial.trial_id, params={"x": (dist, 0.1)})
        storage.update_trial(trial.trial_id, params={"x": (dist, 0.7)})
        assert storage.get_trial(sid, 0).params == {"x": 0.7}

    def test_the_same_update_twice_leaves_what_one_leaves(self, storage: Storage) -> None:
        """A server storage runs `update_trial` again when a lost connection hides whether its COMMIT went
        through: writing the same thing twice must change nothing."""
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        trial = storage.create_trial(sid)
        storage.update_trial(trial.trial_id, values={0: 0.5}, user_attrs={"a": 1})
        write = {"params": {"x": (Float(0.0, 1.0), 0.3)}, "values": {1: 0.25}, "user_attrs": {"b": [2]},
                 "state": TrialState.COMPLETE, "value": 0.25}
        storage.update_trial(trial.trial_id, **write)  # type: ignore[arg-type]
        once = storage.get_trial(sid, trial.number)
        storage.update_trial(trial.trial_id, **write)  # type: ignore[arg-type]
        twice = storage.get_trial(sid, trial.number)
        assert (twice.params, twice.intermediate_values, twice.user_attrs, twice.state, twice.value) == (
            once.params, once.intermediate_values, once.user_attrs, once.state, once.value) == (
            {"x": 0.3}, {0: 0.5, 1: 0.25}, {"a": 1, "b": [2]}, TrialState.COMPLETE, 0.25)
        assert len(storage.get_trials(sid)) == 1

    def test_failed_trial_keeps_its_error(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        trial = storage.create_trial(sid)
        storage.update_trial(trial.trial_id, state=TrialState.FAILED, error="ValueError: boom")
        got = storage.get_trial(sid, 0)
        assert got.state is TrialState.FAILED and got.error == "ValueError: boom" and got.value is None

    def test_start_trial_claims_waiting_trials_once_in_order_then_adds_new_ones(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        first = storage.create_trial(sid, TrialState.WAITING, {"x": 1}, parent=None)
        second = storage.create_trial(sid, TrialState.WAITING, {"x": 2}, parent=0, user_attrs={"branch_step": 3})
        assert storage.get_trial(sid, first.number).state is TrialState.WAITING
        claimed = [storage.start_trial(sid), storage.start_trial(sid)]
        assert [c.number for c in claimed] == [first.number, second.number]
        assert claimed[0].params == {"x": 1} and claimed[1].parent == 0
        assert claimed[1].user_attrs == {"branch_step": 3}
        assert storage.get_trial(sid, 1).user_attrs == {"branch_step": 3}
        assert all(c.state is TrialState.RUNNING for c in claimed)
        fresh = storage.start_trial(sid)
        assert fresh.number == 2 and fresh.state is TrialState.RUNNING and fresh.params == {}
        assert storage.get_trial(sid, 2).state is TrialState.RUNNING

    def test_start_trial_by_number_claims_exactly_that_waiting_trial(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        older = storage.create_trial(sid, TrialState.WAITING, {"x": 1})
        wanted = storage.create_trial(sid, TrialState.WAITING, {"x": 2})
        got = storage.start_trial(sid, wanted.number)
        assert got.number == wanted.number and got.params == {"x": 2} and got.state is TrialState.RUNNING
        assert storage.get_trial(sid, older.number).state is TrialState.WAITING
        with pytest.raises(TrialStateError):
            storage.start_trial(sid, wanted.number)  # no longer waiting
        with pytest.raises(TrialStateError):
            storage.start_trial(sid, 99)
        assert storage.start_trial(sid).number == older.number

    def test_filter_by_state(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        for state in (TrialState.COMPLETE, TrialState.FAILED, TrialState.COMPLETE):
            trial = storage.create_trial(sid)
            storage.update_trial(trial.trial_id, state=state, value=1.0 if state is TrialState.COMPLETE else None)
        storage.create_trial(sid)
        assert [t.number for t in storage.get_trials(sid, (TrialState.COMPLETE,))] == [0, 2]
        assert [t.number for t in storage.get_trials(sid)] == [0, 1, 2, 3]
        assert storage.get_trials(sid, (TrialState.STOPPED,)) == []
        assert [t.number for t in storage.get_trials(sid, from_number=2)] == [2, 3]
        assert [t.number for t in storage.get_trials(sid, (TrialState.COMPLETE,), from_number=1)] == [2]
        assert storage.get_trials(sid, from_number=9) == []

    def test_list_studies_counts_and_best(self, storage: Storage) -> None:
        sid = storage.create_study("max", Direction.MAXIMIZE).study_id
        for value in (1.0, 3.0, 2.0):
            trial = storage.create_trial(sid)
            storage.update_trial(trial.trial_id, state=TrialState.COMPLETE, value=value)
        storage.create_trial(sid)
        storage.create_study("empty", Direction.MINIMIZE)
        summaries = {s.name: s for s in storage.list_studies()}
        assert summaries["max"].best_value == 3.0 and summaries["max"].n_trials == 4
        assert summaries["max"].counts[TrialState.RUNNING] == 1
        assert summaries["max"].counts[TrialState.COMPLETE] == 3
        assert summaries["empty"].best_value is None and summaries["empty"].n_trials == 0

    def test_events_by_study_and_trial(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        storage.create_trial(sid)
        storage.create_trial(sid)
        zoom = ZoomPayload(round=1, names=["lr"], boxes=[{"unit": {"lr": [0.1, 0.2]}, "choices": {}}], n_trials=3,
                           best=0.5, described=["lr in [0.1, 0.2]"])
        storage.add_event(sid, Event(zoom))
        storage.add_event(sid, Event(NudgePayload({"lr": 0.1}, {"lr": 0.01}), trial_number=0, step=3))
        storage.add_event(sid, Event(ControlPayload(ControlAction.STOP), trial_number=1))
        storage.add_event(sid, Event(BranchPayload(0, {"lr": 0.5}, BranchReason.PBT, from_step=2), trial_number=1))
        assert [e.kind for e in storage.get_events(sid)] == [EventKind.ZOOM, EventKind.NUDGE, EventKind.CONTROL,
                                                             EventKind.BRANCH]
        zooms = storage.get_events(sid, EventKind.ZOOM)
        assert len(zooms) == 1 and zooms[0].payload == zoom and zooms[0].time is not None
        trial_events = storage.get_trial(sid, 0).events
        assert len(trial_events) == 1 and trial_events[0].step == 3 and trial_events[0].kind is EventKind.NUDGE
        assert trial_events[0].payload == NudgePayload({"lr": 0.1}, {"lr": 0.01})
        of_one = storage.get_events(sid, trial_number=1)
        assert [e.payload for e in of_one] == [ControlPayload(ControlAction.STOP),
                                               BranchPayload(0, {"lr": 0.5}, BranchReason.PBT, from_step=2)]
        assert isinstance(of_one[1].payload, BranchPayload) and of_one[1].payload.reason is BranchReason.PBT

    def test_failure_cause_is_stored(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        trial = storage.create_trial(sid)
        storage.update_trial(trial.trial_id, state=TrialState.FAILED, error="KeyboardInterrupt",
                             cause=FailureCause.INTERRUPTED)
        got = storage.get_trial(sid, trial.number)
        assert got.cause is FailureCause.INTERRUPTED and got.error == "KeyboardInterrupt"
        done = storage.create_trial(sid)
        storage.update_trial(done.trial_id, state=TrialState.COMPLETE, value=1.0)
        assert storage.get_trial(sid, done.number).cause is None

    def test_delete_study_removes_its_trials(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        storage.create_trial(sid)
        storage.delete_study("s")
        with pytest.raises(StudyNotFoundError):
            storage.get_study("s")
        new_sid = storage.create_study("s", Direction.MINIMIZE).study_id
        assert storage.get_trials(new_sid) == []

    def test_stale_trials_fail_once_and_heartbeats_keep_trials_alive(self, storage: Storage) -> None:
        import time

        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        dead, alive, done = (storage.create_trial(sid) for _ in range(3))
        storage.update_trial(done.trial_id, state=TrialState.COMPLETE, value=1.0)
        time.sleep(0.3)
        storage.heartbeat([alive.trial_id])
        assert storage.fail_stale_trials(sid, 0.2, "worker died") == [dead.number]
        assert storage.fail_stale_trials(sid, 0.2, "worker died") == []
        got = storage.get_trial(sid, dead.number)
        assert got.state is TrialState.FAILED and got.error == "worker died"
        assert got.cause is FailureCause.WORKER_LOST
        assert storage.get_trial(sid, alive.number).state is TrialState.RUNNING
        assert storage.get_trial(sid, done.number).state is TrialState.COMPLETE
        time.sleep(0.3)
        storage.update_trial(alive.trial_id, values={0: 1.0})  # a report is a heartbeat too
        assert storage.fail_stale_trials(sid, 0.2, "worker died") == []

    def test_missing_trial(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        with pytest.raises(TrialNotFoundError):
            storage.get_trial(sid, 5)

    def test_a_multi_objective_study_keeps_its_directions_and_names(self, storage: Storage) -> None:
        both = (Direction.MAXIMIZE, Direction.MINIMIZE)
        storage.create_study("mo", Direction.MAXIMIZE, directions=both, metric_names=("acc", "size"))
        storage.create_study("so", Direction.MINIMIZE)
        got, single = storage.get_study("mo"), storage.get_study("so")
        assert got.directions == both and got.metric_names == ("acc", "size") and got.is_multi_objective
        assert single.directions == (Direction.MINIMIZE,) and single.metric_names == ()
        assert not single.is_multi_objective
        assert {s.name: s.best_value for s in storage.list_studies()} == {"mo": None, "so": None}

    def test_objective_vectors_and_reports_of_every_objective_are_stored(self, storage: Storage) -> None:
        sid = storage.create_study("mo", Direction.MAXIMIZE, directions=(Direction.MAXIMIZE, Direction.MINIMIZE)
                                   ).study_id
        trial = storage.create_trial(sid)
        storage.update_trial(trial.trial_id, values={0: 0.5}, vectors={0: (0.5, 3.0)})
        storage.update_trial(trial.trial_id, values={1: 0.75, 2: 0.5}, vectors={1: (0.75, math.nan)})
        storage.update_trial(trial.trial_id, state=TrialState.COMPLETE, value=0.75, objective_values=(0.75, 2.5))
        got = storage.get_trial(sid, trial.number)
        assert got.value == 0.75 and got.values == (0.75, 2.5)
        assert got.intermediate_values == {0: 0.5, 1: 0.75, 2: 0.5}  # the first objective's, what schedulers see
        assert got.intermediate_vectors[0] == (0.5, 3.0) and set(got.intermediate_vectors) == {0, 1}
        assert got.intermediate_vectors[1][0] == 0.75 and math.isnan(got.intermediate_vectors[1][1])
        assert [t.values for t in storage.get_trials(sid, (TrialState.COMPLETE,))] == [(0.75, 2.5)]

    def test_a_single_objective_trial_has_its_value_as_a_vector_of_one(self, storage: Storage) -> None:
        sid = storage.create_study("so", Direction.MINIMIZE).study_id
        trial = storage.create_trial(sid)
        storage.update_trial(trial.trial_id, values={0: 2.0}, state=TrialState.COMPLETE, value=1.5)
        got = storage.get_trial(sid, trial.number)
        assert got.value == 1.5 and got.values == (1.5,) and got.intermediate_vectors == {}
        failed = storage.create_trial(sid)
        storage.update_trial(failed.trial_id, state=TrialState.FAILED, error="x")
        assert storage.get_trial(sid, failed.number).values is None

    def test_constraints_merge_and_decide_feasibility_and_the_listed_best(self, storage: Storage) -> None:
        sid = storage.create_study("c", Direction.MINIMIZE).study_id
        for value, constraints in ((1.0, {"size": 2.0}), (2.0, {"size": -1.0}), (3.0, None)):
            trial = storage.create_trial(sid)
            storage.update_trial(trial.trial_id, constraints={"size": 5.0, "time": -1.0})
            storage.update_trial(trial.trial_id, state=TrialState.COMPLETE, value=value, constraints=constraints)
        trials = storage.get_trials(sid)
        assert [t.constraints for t in trials] == [{"size": 2.0, "time": -1.0}, {"size": -1.0, "time": -1.0},
                                                   {"size": 5.0, "time": -1.0}]
        assert [t.feasible for t in trials] == [False, True, False]
        assert trials[0].violation == 2.0
        assert {s.name: s.best_value for s in storage.list_studies()}["c"] == 2.0  # the best feasible one


    def test_a_finished_trial_is_written_whole_with_its_own_times_under_the_next_number(self, storage: Storage) -> None:
        sid = storage.create_study("mo", Direction.MINIMIZE, directions=(Direction.MINIMIZE, Direction.MAXIMIZE)
                                   ).study_id
        storage.create_trial(sid)
        start = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
        dists = {"lr": Float(1e-4, 1.0, scale="log"), "act": Categorical(("relu", None))}
        written = storage.add_finished_trial(sid, FinishedTrial(
            TrialState.COMPLETE, params={"lr": (dists["lr"], 0.01), "act": (dists["act"], None)}, value=0.5,
            objective_values=(0.5, 0.75), intermediate_values={0: 0.9, 3: math.nan},
            intermediate_vectors={0: (0.9, 0.1)}, user_attrs={"fold": {"k": [1, 2]}}, constraints={"size": -1.0},
            datetime_start=start, datetime_complete=start + timedelta(seconds=42.5)))
        got = storage.get_trial(sid, 1)
        assert written.number == got.number == 1 and written.trial_id == got.trial_id
        assert (got.state, got.params, got.distributions) == (TrialState.COMPLETE, {"lr": 0.01, "act": None}, dists)
        assert (got.value, got.values, got.constraints) == (0.5, (0.5, 0.75), {"size": -1.0})
        assert got.intermediate_values[0] == 0.9 and math.isnan(got.intermediate_values[3])
        assert got.intermediate_vectors == {0: (0.9, 0.1)} and got.user_attrs == {"fold": {"k": [1, 2]}}
        assert (got.datetime_start, got.duration, got.error, got.cause) == (start, 42.5, None, None)
        assert (written.datetime_start, written.datetime_complete) == (got.datetime_start, got.datetime_complete)
        assert (written.params, written.values, written.user_attrs) == (got.params, got.values, got.user_attrs)
        assert storage.create_trial(sid).number == 2

    def test_a_finished_failed_trial_keeps_its_error_and_an_unknown_end_is_now(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MAXIMIZE).study_id
        before = datetime.now(timezone.utc) - timedelta(seconds=1)
        storage.add_finished_trial(sid, FinishedTrial(TrialState.FAILED, error="boom", cause=FailureCause.ERROR))
        storage.add_finished_trial(sid, FinishedTrial(TrialState.STOPPED, value=2.0, intermediate_values={4: 2.0}))
        storage.add_finished_trial(sid, FinishedTrial(TrialState.COMPLETE, value=1.0))
        failed, stopped, done = storage.get_trials(sid)
        assert (failed.state, failed.error, failed.cause, failed.values) == (TrialState.FAILED, "boom",
                                                                              FailureCause.ERROR, None)
        assert failed.datetime_start is None and failed.datetime_complete is not None
        assert failed.datetime_complete >= before
        assert (stopped.state, stopped.value, stopped.intermediate_values) == (TrialState.STOPPED, 2.0, {4: 2.0})
        assert {s.name: s.best_value for s in storage.list_studies()} == {"s": 1.0}  # only COMPLETE counts
        assert [t.number for t in storage.get_trials(sid, (TrialState.COMPLETE,))] == [done.number] == [2]

    def test_trial_numbers_stay_unique_when_finished_and_new_trials_are_added_at_once(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        errors: list[BaseException] = []

        def write(k: int) -> None:
            try:
                for i in range(6):
                    if (i + k) % 2:
                        storage.add_finished_trial(sid, FinishedTrial(TrialState.COMPLETE, value=float(i)))
                    else:
                        storage.create_trial(sid)
            except BaseException as error:  # noqa: BLE001 - the test fails on it below
                errors.append(error)

        threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        trials = storage.get_trials(sid)
        assert [t.number for t in trials] == list(range(24))
        assert sum(t.state is TrialState.COMPLETE for t in trials) == 12

    def test_a_finished_trial_is_refused_for_a_missing_study(self, storage: Storage) -> None:
        with pytest.raises(StudyNotFoundError):
            storage.add_finished_trial(12345, FinishedTrial(TrialState.COMPLETE, value=1.0))

    def test_study_attributes_are_set_after_creation_one_key_at_a_time(self, storage: Storage) -> None:
        info = storage.create_study("s", Direction.MINIMIZE, attrs={"sampler_seed": 3})
        other = storage.create_study("t", Direction.MINIMIZE)
        storage.set_study_attr(info.study_id, "owner", "ana")
        got = storage.set_study_attr(info.study_id, "data", {"rows": [1, 2], "ok": True})
        assert got.attrs == storage.get_study("s").attrs == {
            "sampler_seed": 3, "user_attrs": {"owner": "ana", "data": {"rows": [1, 2], "ok": True}}}
        storage.set_study_attr(info.study_id, "owner", "bo")  # overwrites only that key
        storage.set_study_attr(info.study_id, "sampler_seed", 4, scope=AttrScope.SYSTEM)
        assert storage.get_study("s").attrs == {"sampler_seed": 4,
                                                "user_attrs": {"owner": "bo", "data": {"rows": [1, 2], "ok": True}}}
        assert storage.get_study("t").attrs == other.attrs == {}
        assert got.name == "s" and got.direction is Direction.MINIMIZE and got.study_id == info.study_id

    def test_concurrent_study_attribute_writers_lose_no_key(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        threads = [threading.Thread(target=lambda k=k: [storage.set_study_attr(sid, f"k{k}-{i}", i) for i in range(3)])
                   for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert storage.get_study("s").attrs["user_attrs"] == {f"k{k}-{i}": i for k in range(4) for i in range(3)}

    def test_a_study_attribute_must_be_json_with_a_name(self, storage: Storage) -> None:
        sid = storage.create_study("s", Direction.MINIMIZE).study_id
        with pytest.raises(TypeError, match=r"attribute 'bad' must be JSON-serialisable"):
            storage.set_study_attr(sid, "bad", object())
        with pytest.raises(TypeError, match="non-empty string"):
            storage.set_study_attr(sid, " ", 1)
        with pytest.raises(ValueError, match="holds the user attributes"):
            storage.set_study_attr(sid, "user_attrs", {}, scope=AttrScope.SYSTEM)
        with pytest.raises(StudyNotFoundError):
            storage.set_study_attr(12345, "k", 1)
        assert storage.get_study("s").attrs == {}
