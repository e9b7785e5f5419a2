"""MultiFidelitySampler: the base sampler models the trials' values at the largest step enough trials reached."""

import math
import statistics
from pathlib import Path

import pytest

import zoomtune as zt
from zoomtune.errors import ConfigError
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.samplers import MultiFidelitySampler, SampleContext, Sampler, TPESampler
from zoomtune.studyfile import parse_study
from zoomtune.testing.sampler_suite import SamplerConformance


class TestMultiFidelityTPE(SamplerConformance):
    def make_sampler(self, seed):
        return MultiFidelitySampler(TPESampler(seed=seed, n_startup_trials=5))


SPACE = zt.Space(lr=zt.Float(1e-4, 1.0, scale="log"), x=zt.Float(0.0, 1.0))


class Spy(Sampler):
    """Records the context it was given; proposes the cube's centre."""

    uses_history = True

    def __init__(self, n_startup_trials=None):
        super().__init__(seed=0)
        if n_startup_trials is not None:
            self.n_startup_trials = n_startup_trials
        self.seen = []

    def sample(self, space, context):
        self.seen.append(context)
        return [0.5] * len(space)

    def sample_one(self, name, dist, context):
        self.seen.append(context)
        return 0.5


def record(number, curve, state=TrialState.STOPPED, space=SPACE):
    """A trial with `curve[i]` reported at step i (None: no report at that step)."""
    values = {step: v for step, v in enumerate(curve) if v is not None}
    last = values[max(values)] if values else None
    return TrialRecord(number, state, {"lr": 10 ** -(1 + number % 3), "x": number / 20}, dict(space),
                       value=last, intermediate_values=values)


def rung_history():
    """12 trials reported at step 0, 6 of them went on to step 2 and 2 to step 8; one FAILED trial
    and one RUNNING trial (through pending) at step 2 as well."""
    history = []
    for n in range(12):
        length = 9 if n < 2 else 3 if n < 6 else 1
        curve = [10.0 + n - 0.5 * step for step in range(length)]  # value at step s: 10 + n - s / 2
        state = TrialState.COMPLETE if length == 9 else TrialState.STOPPED
        history.append(record(n, curve, state))
    history.append(record(12, [1.0, 1.0, 1.0], TrialState.FAILED))
    return history


def test_the_largest_step_with_enough_trials_is_modelled_with_the_values_there():
    history = rung_history()
    running = record(13, [0.0, 0.0, 0.5], TrialState.RUNNING)  # reported at step 2, still running
    early = record(14, [0.0], TrialState.RUNNING)  # not at step 2 yet: stays pending
    spy = Spy()
    mf = MultiFidelitySampler(spy, min_trials=5, stopped_as_worse=False)
    assert mf.rung(SPACE, history) == 2  # 12 at step 0, 6 at step 2, 2 at step 8
    context = SampleContext(20, Direction.MINIMIZE, SPACE, lambda: history, pending=lambda: [running, early])
    mf.sample(SPACE, context)
    seen = spy.seen[-1]
    got = seen.history()
    assert [t.number for t in got] == [0, 1, 2, 3, 4, 5, 13]  # STOPPED (2-5), COMPLETE (0, 1) and RUNNING (13)
    assert all(t.state is TrialState.COMPLETE for t in got)
    assert [t.value for t in got] == [9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 0.5]  # each one's value at step 2
    for t in got:  # params, distributions and the curve are kept
        original = [*history, running][t.number]
        assert t.params == original.params and t.distributions == original.distributions
        assert t.intermediate_values == original.intermediate_values
    assert [t.number for t in seen.pending()] == [14]
    assert seen.number == 20 and seen.direction is Direction.MINIMIZE and seen.declared_space is SPACE
    assert history[2].state is TrialState.STOPPED and history[2].value == 11.0  # the study's records are untouched


def test_trials_stopped_before_the_step_join_as_the_worst_there():
    history = rung_history()
    for direction, worst in ((Direction.MINIMIZE, 14.0), (Direction.MAXIMIZE, 9.0)):
        spy = Spy()
        MultiFidelitySampler(spy, min_trials=5).sample(SPACE, SampleContext(20, direction, SPACE, lambda: history))
        got = {t.number: t.value for t in spy.seen[-1].history()}
        assert sorted(got) == list(range(12))  # the 6 stopped at step 0 too; never the FAILED one
        assert all(got[n] == 10.0 + n - 1.0 for n in range(6))
        assert all(got[n] == worst for n in range(6, 12))


def test_too_few_trials_at_every_step_pass_the_context_through():
    history = rung_history()
    spy = Spy()
    mf = MultiFidelitySampler(spy, min_trials=13)
    context = SampleContext(20, Direction.MINIMIZE, SPACE, lambda: history)
    assert mf.rung(SPACE, history) is None
    mf.sample(SPACE, context)
    mf.sample_one("lr", SPACE["lr"], context)
    assert spy.seen == [context, context]


def test_sample_one_models_the_one_parameter_space():
    history = rung_history()
    spy = Spy()
    MultiFidelitySampler(spy, min_trials=5).sample_one("x", SPACE["x"], SampleContext(20, Direction.MINIMIZE,
                                                                                       None, lambda: history))
    assert len(spy.seen[-1].history()) == 12


def test_only_trials_of_the_same_space_count():
    other = zt.Space(lr=zt.Float(1e-5, 1.0, scale="log"), x=zt.Float(0.0, 1.0))  # lr's range changed
    history = [record(n, [1.0, 2.0, 3.0], space=other) for n in range(8)] + rung_history()
    assert MultiFidelitySampler(Spy(), min_trials=7).rung(SPACE, history) == 0  # 6 at step 2: the 8 others do not count


def test_default_min_trials():
    assert MultiFidelitySampler(TPESampler(n_startup_trials=10)).needed(SPACE) == 10
    assert MultiFidelitySampler(TPESampler(n_startup_trials=2)).needed(SPACE) == 4  # d + 2
    assert MultiFidelitySampler(Spy()).needed(zt.Space(a=zt.Float(0, 1), b=zt.Float(0, 1), c=zt.Float(0, 1))) == 5
    assert MultiFidelitySampler(Spy(n_startup_trials=7), min_trials=3).needed(SPACE) == 3


def test_tpe_accepts_the_projected_records():
    history = rung_history()
    mf = MultiFidelitySampler(TPESampler(seed=0, n_startup_trials=5), min_trials=5)
    context = mf.projected(SPACE, SampleContext(20, Direction.MINIMIZE, SPACE, lambda: history))
    groups = mf.base.groups(SPACE, context.history(), (Direction.MINIMIZE,))
    assert len(groups.good) + len(groups.bad) == 12
    # TPE alone would see only the 2 COMPLETE trials and draw at random
    groups = mf.base.groups(SPACE, history, (Direction.MINIMIZE,))
    assert len(groups.good) + len(groups.bad) == 2


def test_constructor_arguments_are_checked():
    cases = [
        ({"base": "tpe"}, "MultiFidelitySampler: base: must be a zoomtune Sampler; got 'tpe'"),
        ({"base": TPESampler(seed=1), "min_trials": 0}, "MultiFidelitySampler: min_trials: must be an integer >= 1 "
                                                        "or None; got 0"),
        ({"base": TPESampler(seed=1), "min_trials": 2.0}, "MultiFidelitySampler: min_trials: must be an integer >= 1 "
                                                          "or None; got 2.0"),
        ({"base": TPESampler(seed=1), "seed": -1}, "MultiFidelitySampler: seed: must be an integer >= 0 or None; "
                                                   "got -1"),
        ({"base": TPESampler(seed=1), "seed": 2}, "MultiFidelitySampler: seed: must be None or the base sampler's "
                                                  "seed (1), since the wrapper draws nothing; got 2"),
        ({"base": TPESampler(seed=1), "stopped_as_worse": 1}, "MultiFidelitySampler: stopped_as_worse: must be True "
                                                              "or False; got 1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError) as raised:
            MultiFidelitySampler(**kwargs)
        assert str(raised.value) == message
    assert MultiFidelitySampler(TPESampler(seed=1), seed=1).seed == 1
    assert MultiFidelitySampler(TPESampler(seed=5)).seed == 5


def test_a_study_file_names_the_base_sampler():
    def build(sampler):
        return parse_study({"study": "s", "objective": "m:f", "sampler": sampler, "seed": 4},
                           Path("s.yaml")).build_sampler()

    mf = build({"name": "multi_fidelity", "base": {"name": "tpe", "n_startup_trials": 6}, "min_trials": 8})
    assert isinstance(mf, MultiFidelitySampler) and isinstance(mf.base, TPESampler)
    assert (mf.seed, mf.base.seed, mf.base.n_startup_trials, mf.min_trials) == (4, 4, 6, 8)
    assert isinstance(build("multi_fidelity").base, TPESampler)  # the base defaults to TPE
    with pytest.raises(ConfigError, match="base must be one of"):
        build({"name": "multi_fidelity", "base": "grid"})


# -- with ASHA on learning curves -------------------------------------------------------------------
MAX_EPOCHS = 27


def curve(params, step):
    """A learning curve that converges slowly (e^(-epoch / 20) over 27 epochs), slower the further lr is
    from 1e-2; the final value's optimum (lr = 1e-2, x = 0.3) is also the early one's."""
    lr_gap = (math.log10(params["lr"]) + 2) ** 2
    return lr_gap + 4 * (params["x"] - 0.3) ** 2 + (1.0 + lr_gap) * math.exp(-step / 20)


OPTIMUM = curve({"lr": 1e-2, "x": 0.3}, MAX_EPOCHS - 1)


def fixed_curve(trial):
    """`curve` on SPACE's parameters (sampled by `ask`)."""
    return lambda step: curve(trial.params, step)


def run_asha(sampler, seed, epochs, learning_curve=fixed_curve, space=SPACE):
    """Ask/tell under ASHA until `epochs` epochs are spent, each trial's values `learning_curve(trial)(step)`;
    the study."""
    study = zt.create_study(sampler=sampler, scheduler=zt.schedulers.ASHA(1, 3, MAX_EPOCHS, seed=seed), space=space)
    used = 0
    while used < epochs:
        trial = study.ask()
        at = learning_curve(trial)
        for step in range(MAX_EPOCHS):
            value = at(step)
            trial.report(value, step)
            used += 1
            if trial.should_stop():
                study.tell(trial, state=TrialState.STOPPED)
                break
        else:
            study.tell(trial, value)
    return study


def test_same_seed_same_trials_under_asha():
    def params(seed):
        return [(t.params, t.state) for t in run_asha(MultiFidelitySampler(TPESampler(seed=seed)), seed, 150).trials]

    first = params(3)
    assert first == params(3)
    assert first != params(4)
    assert any(t == TrialState.STOPPED for _, t in first)


def test_it_beats_plain_tpe_at_the_same_epochs_under_asha():
    seeds = range(5)
    plain = [run_asha(TPESampler(seed=s), s, 400).best_value - OPTIMUM for s in seeds]
    ours = [run_asha(MultiFidelitySampler(TPESampler(seed=s)), s, 400).best_value - OPTIMUM for s in seeds]
    assert statistics.mean(ours) < 0.5 * statistics.mean(plain), (ours, plain)


# -- a conditional (define-by-run) objective --------------------------------------------------------
BRANCHES = {"good": {"kind", "lr", "x"}, "bad": {"kind", "lr", "y", "z"}}


def branch_curve(trial):
    """Two branches with their own parameters; the "bad" one ends 1.5 worse. Converges like `curve`."""
    kind = trial.suggest_categorical("kind", ["good", "bad"])
    lr_gap = (math.log10(trial.suggest_float("lr", 1e-3, 1e-1, scale="log")) + 2) ** 2
    if kind == "good":
        final = lr_gap + 4 * (trial.suggest_float("x", 0.0, 1.0) - 0.3) ** 2
    else:
        final = 1.5 + lr_gap + 4 * (trial.suggest_float("y", 0.0, 1.0) - 0.7) ** 2 + 0.05 * abs(
            trial.suggest_int("z", 1, 8) - 4)
    return lambda step: final + (1.0 + lr_gap) * math.exp(-step / 20)


def branch_record(number, kind, curve, state=TrialState.STOPPED):
    """A trial of `branch_curve`'s space that took `kind` and reported `curve`."""
    dists = {"kind": zt.Categorical(("good", "bad")), "lr": zt.Float(1e-3, 1e-1, scale="log"),
             "x" if kind == "good" else "y": zt.Float(0.0, 1.0)}
    params = {name: (kind if name == "kind" else 0.01 if name == "lr" else 0.5) for name in dists}
    values = dict(enumerate(curve))
    return TrialRecord(number, state, params, dists, value=curve[-1], intermediate_values=values)


def test_a_base_that_models_partial_trials_sees_every_branch_at_the_step():
    history = [branch_record(n, "good" if n % 2 else "bad", [5.0 - n / 10] * (1 + n % 3)) for n in range(12)]
    history.append(branch_record(12, "good", [1.0, 1.0, 1.0], TrialState.COMPLETE))
    tpe = MultiFidelitySampler(TPESampler(seed=0), min_trials=5)
    assert tpe.records_asked_only and not MultiFidelitySampler(Spy()).records_asked_only
    space = tpe.joint_space(history)
    assert space == TPESampler().joint_space(history) and set(space) == {"kind", "lr", "x"}  # one COMPLETE trial
    space = zt.Space(**space, y=zt.Float(0.0, 1.0))  # as once a "bad" trial completes
    assert tpe.rung(space, history) == 2  # trials 2, 5, 8, 11 and 12 of both branches reached step 2
    assert MultiFidelitySampler(Spy(), min_trials=5).rung(space, history) is None  # none has all 4 parameters
    got = tpe.projected(space, SampleContext(20, Direction.MINIMIZE, None, lambda: history)).history()
    assert [(t.number, t.value) for t in got if t.number % 3 == 2] == [(2, 4.8), (5, 4.5), (8, 4.2), (11, 3.9)]
    assert len(got) == 13 and {t.params["kind"] for t in got} == {"good", "bad"}
    groups = tpe.base.groups(space, got, (Direction.MINIMIZE,), partial=True)
    assert len(groups.good) + len(groups.bad) == 13  # TPE models all of them


def run_branches(sampler, seed):
    return run_asha(sampler, seed, 300, branch_curve, space=None)


def test_conditional_trials_keep_only_asked_parameters_and_learn_the_better_branch():
    late = []
    for seed in range(5):
        study = run_branches(MultiFidelitySampler(TPESampler(seed=seed)), seed)
        for trial in study.trials:
            assert set(trial.params) == BRANCHES[trial.params["kind"]], trial
        assert set(study.best_params) == BRANCHES[study.best_params["kind"]]
        late.append(sum(t.params["kind"] == "good" for t in study.trials[-20:]) / 20)
    plain = [sum(t.params["kind"] == "good" for t in run_branches(TPESampler(seed=seed), seed).trials[-20:]) / 20
             for seed in range(5)]
    # Plain TPE learns from the few COMPLETE trials only: about half its late trials on each branch (median 0.4
    # on these seeds, 0.5 over 20 seeds); the wrapper learns from the stopped ones too (0.8 here, 0.83 over 20).
    assert statistics.median(late) >= 0.65 > statistics.median(plain), (late, plain)


@pytest.mark.parametrize(("learning_curve", "space"), [(fixed_curve, SPACE), (branch_curve, None)])
def test_with_too_few_reports_it_is_its_base(learning_curve, space):
    def trials(sampler):
        return [(t.params, t.state, t.value) for t in run_asha(sampler, 1, 120, learning_curve, space).trials]

    never = MultiFidelitySampler(TPESampler(seed=1, n_startup_trials=5), min_trials=10**6)
    assert trials(never) == trials(TPESampler(seed=1, n_startup_trials=5))
