"""Schedulers in multi-objective studies: multi-objective ASHA's rung decisions (non-dominated sorting,
crowding tie-break, constraints), Hyperband's brackets on it, median stopping and PBT watching a named
objective, and a real two-objective study that MO-ASHA cuts short."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

import zoomtune as zt
from zoomtune.errors import ConfigError
from zoomtune.records import BranchReason, Direction, TrialRecord, TrialState
from zoomtune.schedulers import ASHA, PBT, Decision, Hyperband, MedianStopping, ScheduleContext

MIN, MAX = Direction.MINIMIZE, Direction.MAXIMIZE
CONTINUE, STOP = Decision.CONTINUE, Decision.STOP
NAMES = ("accuracy", "size")


def rec(number: int, vectors: Sequence[Sequence[float]] | Mapping[int, Sequence[float]],
        state: TrialState = TrialState.RUNNING, constraints: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None) -> TrialRecord:
    """A record reporting one vector per step (a list: steps 0, 1, ...; or step -> vector), the first
    objective's value also in `intermediate_values` as a study stores it."""
    by_step = dict(enumerate(vectors)) if isinstance(vectors, Sequence) else dict(vectors)
    return TrialRecord(number, state, dict(params or {}), {},
                       intermediate_values={s: float(v[0]) for s, v in by_step.items()},
                       intermediate_vectors={s: tuple(map(float, v)) for s, v in by_step.items()},
                       constraints=dict(constraints or {}))


def ctx(history: Sequence[TrialRecord], directions: tuple[Direction, ...] = (MIN, MIN),
        names: tuple[str, ...] = (), branch: Any = None) -> ScheduleContext:
    extra = {"branch": branch} if branch is not None else {}
    return ScheduleContext(directions[0], lambda: list(history), directions=directions, metric_names=names, **extra)


def asha(eta: int = 3, **kwargs: Any) -> ASHA:
    return ASHA(min_resource=1, reduction_factor=eta, seed=0, **kwargs)


# -- MO-ASHA at a rung ----------------------------------------------------------------------------

def test_a_dominated_vector_stops_and_a_non_dominated_one_continues() -> None:
    history = [rec(0, [(0.2, 0.2)]), rec(1, [(0.5, 0.1)])]  # both minimised
    assert asha().decide(rec(2, [(0.3, 0.3)]), ctx(history)) is STOP  # (0.2, 0.2) dominates it
    assert asha().decide(rec(2, [(0.1, 0.1)]), ctx(history)) is CONTINUE  # dominates both
    # the same vectors in a (maximise, minimise) study: the first objective flipped
    flipped = [rec(0, [(-0.2, 0.2)]), rec(1, [(-0.5, 0.1)])]
    assert asha().decide(rec(2, [(-0.6, 0.3)]), ctx(flipped, (MAX, MIN))) is STOP  # the worst in both
    assert asha().decide(rec(2, [(-0.1, 0.1)]), ctx(flipped, (MAX, MIN))) is CONTINUE  # the best in both
    assert asha().decide(rec(2, [(-0.3, 0.3)]), ctx(flipped, (MAX, MIN))) is STOP  # -0.2 / 0.2 dominates it


def test_a_lower_front_goes_on_when_the_first_front_leaves_room() -> None:
    # eta 2, six trials: keep 3; the front holds two, so the best of the second front goes on
    history = [rec(0, [(0.0, 1.0)]), rec(1, [(1.0, 0.0)]), rec(2, [(0.9, 0.9)]), rec(3, [(2.0, 2.0)]),
               rec(4, [(3.0, 3.0)])]
    assert asha(2).decide(rec(5, [(0.5, 0.5)]), ctx(history)) is CONTINUE  # rank 1, dominates (0.9, 0.9)
    assert asha(2).decide(rec(5, [(1.5, 1.5)]), ctx(history)) is STOP  # rank 2 behind (0.5 is not there)


# a front of six points x + y = 1 (minimised): crowding 2 * (right neighbour's x - left neighbour's x)
FRONT = [0.0, 0.1, 0.2, 0.5, 0.9, 1.0]


@pytest.mark.parametrize(("own", "expected"), [(0.0, CONTINUE), (1.0, CONTINUE), (0.5, CONTINUE), (0.9, STOP),
                                               (0.2, STOP), (0.1, STOP)])
def test_ties_on_the_front_are_broken_by_crowding_distance(own: float, expected: Decision) -> None:
    # eta 2: keep 3 of 6, all on the front: the two extremes (infinite crowding) and 0.5 (crowding 1.4,
    # ahead of 0.9's 1.0, 0.2's 0.8 and 0.1's 0.4)
    history = [rec(i, [(x, 1 - x)]) for i, x in enumerate(FRONT) if x != own]
    assert asha(2).decide(rec(9, [(own, 1 - own)]), ctx(history)) is expected


def test_with_fewer_than_eta_reports_at_the_rung_everyone_continues() -> None:
    dominated = rec(1, [(0.9, 0.9)])
    assert asha(3).decide(dominated, ctx([rec(0, [(0.1, 0.1)])])) is CONTINUE
    assert asha(3).decide(dominated, ctx([rec(0, [(0.1, 0.1)]), rec(2, [(0.2, 0.2)])])) is STOP
    # reports at other steps do not count for this rung; a report between rungs is not judged
    elsewhere = [rec(0, {2: (0.1, 0.1)}), rec(2, {2: (0.2, 0.2)})]
    assert asha(3).decide(dominated, ctx(elsewhere)) is CONTINUE
    assert asha(3).decide(rec(1, [(0.1, 0.1), (0.9, 0.9)]), ctx([rec(0, [(0.0, 0.0)] * 2)] * 3)) is CONTINUE


def test_a_non_finite_vector_stops_and_ranks_behind_every_finite_one() -> None:
    history = [rec(0, [(0.5, 0.5)]), rec(1, [(math.nan, 0.0)])]
    assert asha().decide(rec(2, [(math.nan, 0.0)]), ctx(history)) is STOP
    assert asha().decide(rec(2, [(0.1, math.inf)]), ctx(history)) is STOP
    assert asha().decide(rec(2, [(0.4, 0.4)]), ctx(history)) is CONTINUE  # the NaN one is no rival
    assert asha().decide(rec(2, [(0.6, 0.6)]), ctx(history)) is STOP  # 1 of 3 goes on: (0.5, 0.5)


def test_feasible_trials_go_first_then_the_smaller_violation() -> None:
    feasible = [rec(0, [(0.8, 0.8)], constraints={"params": -1.0}), rec(1, [(0.9, 0.9)], constraints={"params": 0.0})]
    infeasible_best = rec(2, [(0.0, 0.0)], constraints={"params": 5.0})
    assert asha().decide(infeasible_best, ctx(feasible)) is STOP  # best objectives, but infeasible
    assert asha().decide(rec(2, [(0.85, 0.85)]), ctx(feasible)) is STOP  # feasible, dominated by (0.8, 0.8)
    violators = [rec(0, [(0.0, 0.0)], constraints={"c": 2.0}), rec(1, [(0.0, 0.0)], constraints={"c": 3.0})]
    assert asha().decide(rec(2, [(0.9, 0.9)], constraints={"c": 1.0}), ctx(violators)) is CONTINUE
    assert asha().decide(rec(2, [(0.9, 0.9)]), ctx(violators)) is CONTINUE  # feasible beats them all


def test_a_single_number_in_a_multi_objective_study_is_judged_as_the_first_objective() -> None:
    history = [rec(0, [(0.1, 9.0)]), rec(1, [(0.2, 9.0)])]
    single = TrialRecord(2, TrialState.RUNNING, {}, {}, intermediate_values={0: 0.3})  # no vector: first only
    assert asha().decide(single, ctx(history)) is STOP  # 0.3 is the worst first objective
    better = TrialRecord(2, TrialState.RUNNING, {}, {}, intermediate_values={0: 0.05})
    assert asha().decide(better, ctx(history)) is CONTINUE


def test_objective_makes_asha_watch_one_objective_by_name_or_index() -> None:
    # six at the rung, keep 2; the front is (0.1, 9), (0.2, 8) and the trial's (0.3, 1): it and (0.1, 9) are
    # the extremes
    history = [rec(0, [(0.1, 9.0)]), rec(1, [(0.2, 8.0)]), rec(3, [(0.5, 5.0)]), rec(4, [(0.6, 6.0)]),
               rec(5, [(0.7, 7.0)])]
    own = rec(2, [(0.3, 1.0)])
    assert asha().decide(own, ctx(history, names=NAMES)) is CONTINUE
    assert asha(objective="size").decide(own, ctx(history, names=NAMES)) is CONTINUE  # the smallest
    assert asha(objective=1).decide(own, ctx(history, names=NAMES)) is CONTINUE
    assert asha(objective="accuracy").decide(own, ctx(history, names=NAMES)) is STOP  # third of six
    assert asha(objective=0).decide(own, ctx(history)) is STOP


# -- Hyperband on MO-ASHA -------------------------------------------------------------------------

def test_hyperband_judges_vectors_within_each_bracket_only() -> None:
    hb = Hyperband(min_resource=1, max_resource=9, reduction_factor=3, seed=3)
    numbers = {b: [n for n in range(200) if hb.bracket(n) == b][:3] for b in range(hb.s_max + 1)}
    (a0, b0, own), (a1, b1, _) = numbers[0], numbers[1]
    dominated = rec(own, [(0.9, 0.9)])
    same_bracket = [rec(a0, [(0.1, 0.1)]), rec(b0, [(0.2, 0.2)])]
    other_bracket = [rec(a1, [(0.1, 0.1)]), rec(b1, [(0.2, 0.2)])]
    assert hb.decide(dominated, ctx(same_bracket)) is STOP
    assert hb.decide(dominated, ctx(other_bracket)) is CONTINUE  # only one report in its own bracket
    # bracket 1 starts judging at resource 3 (step 2): its first report is never judged
    in_one = rec(numbers[1][2], [(0.9, 0.9)])
    assert hb.decide(in_one, ctx(other_bracket)) is CONTINUE
    late = [rec(a1, [(0.1, 0.1)] * 3), rec(b1, [(0.2, 0.2)] * 3)]
    assert hb.decide(rec(numbers[1][2], [(0.9, 0.9)] * 3), ctx(late)) is STOP
    # the top bracket never stops anyone; the same seed gives the same brackets
    top = numbers[hb.s_max]
    assert hb.decide(rec(top[2], [(0.9, 0.9)] * 9), ctx([rec(top[0], [(0.0, 0.0)] * 9)] * 3)) is CONTINUE
    assert [Hyperband(max_resource=9, seed=3).bracket(n) for n in range(50)] == [hb.bracket(n) for n in range(50)]


# -- median stopping and PBT on a named objective -------------------------------------------------

# accuracy (maximised) and size (minimised) at steps 0, 1
FINISHED = [rec(i, [(0.5 + 0.1 * i, 10.0 + i)] * 2, TrialState.COMPLETE) for i in range(4)]


def test_median_stopping_watches_the_objective_it_is_told_to() -> None:
    own = rec(9, [(0.9, 50.0)] * 2)  # the best accuracy, the worst size
    context = ctx(FINISHED, (MAX, MIN), NAMES)
    rule = MedianStopping(n_startup_trials=3, seed=0)
    assert rule.decide(own, context) is CONTINUE  # the first objective by default
    assert MedianStopping(n_startup_trials=3, objective="size", seed=0).decide(own, context) is STOP
    assert MedianStopping(n_startup_trials=3, objective=1, seed=0).decide(own, context) is STOP
    small = rec(9, [(0.1, 1.0)] * 2)
    assert MedianStopping(n_startup_trials=3, objective="size", seed=0).decide(small, context) is CONTINUE
    assert rule.decide(small, context) is STOP


def test_pbt_ranks_by_the_named_objective_and_branches_from_a_top_trial() -> None:
    branches: list[tuple[int, dict[str, Any], BranchReason, int | None]] = []

    def branch(number: int, step: int | None = None, overrides: Mapping[str, Any] | None = None, *,
               reason: BranchReason = BranchReason.BRANCH, replaces: int | None = None) -> int:
        branches.append((number, dict(overrides or {}), reason, replaces))
        return 100 + len(branches)

    space = {"lr": zt.Float(1e-4, 1, scale="log")}
    population = [TrialRecord(i, TrialState.RUNNING, {"lr": 0.01 * (i + 1)}, space,
                              intermediate_values={0: 0.5 + i / 10}, intermediate_vectors={0: (0.5 + i / 10, 10.0 + i)})
                  for i in range(4)]
    own = TrialRecord(9, TrialState.RUNNING, {"lr": 0.5}, space, intermediate_values={0: 0.95},
                      intermediate_vectors={0: (0.95, 99.0)})
    context = ctx(population, (MAX, MIN), NAMES, branch)
    assert PBT(interval=1, quantile=0.25, min_population=4, seed=0).decide(own, context) is CONTINUE
    assert branches == []
    pbt = PBT(interval=1, quantile=0.25, min_population=4, objective="size", seed=0)
    assert pbt.decide(own, context) is STOP  # the biggest model: the bottom quarter by size
    (donor, overrides, reason, replaces), = branches
    assert donor == 0 and reason is BranchReason.PBT and replaces == 9  # trial 0 is the smallest
    assert set(overrides) == {"lr"} and 1e-4 <= overrides["lr"] <= 1
    pbt.decide(own, context)
    assert branches[1] == branches[0]  # seeded: the same decision, the same perturbation


@pytest.mark.parametrize("make", [lambda o: MedianStopping(objective=o, seed=0), lambda o: PBT(objective=o, seed=0),
                                  lambda o: ASHA(objective=o, seed=0), lambda o: Hyperband(objective=o, seed=0)])
def test_an_objective_the_study_lacks_is_a_config_error_naming_the_choices(make: Any) -> None:
    scheduler = make("acc")
    owner = type(scheduler).__name__
    with pytest.raises(ConfigError) as raised:
        scheduler.check_study((MAX, MIN), NAMES)
    assert str(raised.value) == (f"{owner}: objective: must be one of the study's objectives ('accuracy', 'size') "
                                 "or an index below 2; got 'acc'")
    with pytest.raises(ConfigError, match=r"objective: must be an objective index below 2 \(the study names no "):
        make(2).check_study((MAX, MIN), ())
    with pytest.raises(ConfigError, match="'accuracy', 'size'"):
        scheduler.decide(rec(0, [(0.5, 1.0)] * 4), ctx(FINISHED, (MAX, MIN), NAMES))
    make("size").check_study((MAX, MIN), NAMES)
    make(0).check_study((MIN,), ())


# -- a real two-objective study -------------------------------------------------------------------

STEPS, TRIALS = 9, 18


def two_objective_curve(trial: zt.Trial) -> tuple[float, float]:
    """Accuracy rising to a ceiling set by lr (best near 1e-2) and a size set by units: a trade-off."""
    lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    units = trial.suggest_int("units", 8, 512, scale="log")
    ceiling = 0.95 - 0.1 * (math.log10(lr) + 2) ** 2 + 0.03 * math.log2(units / 8) / 6
    accuracy = 0.0
    for step in range(STEPS):
        accuracy = ceiling * (1 - math.exp(-0.6 * (step + 1)))
        trial.report([accuracy, float(units)], step)
        if trial.should_stop():
            raise zt.TrialStopped()
    return accuracy, float(units)


def run_study(url: str, name: str) -> zt.Study:
    study = zt.create_study(name=name, storage=url, directions=["maximize", "minimize"], metric_names=list(NAMES),
                            sampler=zt.samplers.RandomSampler(seed=1),
                            scheduler=ASHA(min_resource=1, reduction_factor=3, max_resource=STEPS, seed=0))
    study.optimize(two_objective_curve, n_trials=TRIALS)
    return study


def test_mo_asha_stops_dominated_trials_of_a_real_study_and_keeps_the_front(sqlite_url: str) -> None:
    study = run_study(sqlite_url, "mo-asha")
    trials = zt.load_study("mo-asha", storage=sqlite_url).trials
    stopped = [t for t in trials if t.state is TrialState.STOPPED]
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert len(trials) == TRIALS and len(stopped) >= TRIALS // 3 and len(complete) >= 2
    assert sum(len(t.intermediate_values) for t in trials) < 0.6 * TRIALS * STEPS
    dominated = 0
    for t in stopped:  # each stopped at a rung (resource 1 or 3) that held at least eta reports
        last = t.last_step
        assert last in (0, 2) and t.intermediate_vectors[last][1] == t.params["units"]
        rivals = [u.intermediate_vectors[last] for u in trials
                  if u.number < t.number and last in u.intermediate_vectors]
        own = t.intermediate_vectors[last]
        assert len(rivals) >= 2
        dominated += any(a >= own[0] and s <= own[1] for a, s in rivals)
    assert dominated >= len(stopped) // 2  # most were dominated; the others lost a crowding tie-break
    front = study.best_trials
    assert front and all(t.state is TrialState.COMPLETE for t in front)
    # the same seeds give the same run
    again = run_study(sqlite_url, "mo-asha-again").trials
    assert [(t.state, t.params) for t in again] == [(t.state, t.params) for t in trials]


def test_the_study_hands_its_objective_names_to_the_scheduler(sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match=r"^ASHA: objective: must be one of the study's objectives \('accuracy'"):
        zt.create_study(directions=["maximize", "minimize"], metric_names=list(NAMES), scheduler=ASHA(objective="acc"))
    study = zt.create_study(storage=sqlite_url, directions=["maximize", "minimize"], metric_names=list(NAMES),
                            sampler=zt.samplers.RandomSampler(seed=1),
                            scheduler=MedianStopping(n_startup_trials=3, objective="size", seed=0))
    study.optimize(two_objective_curve, n_trials=12)
    trials = study.trials
    stopped = [t for t in trials if t.state is TrialState.STOPPED]
    assert stopped
    for t in stopped:  # bigger than the median of the others at its last step: it watched "size", not accuracy
        step = t.last_step
        others = [u.params["units"] for u in trials if u.number < t.number and step in u.intermediate_values]
        assert t.params["units"] > statistics.median(others)
