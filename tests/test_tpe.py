import statistics
import time

import numpy as np
import pytest

import zoomtune as zt
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.samplers import RandomSampler, SampleContext, TPESampler
from zoomtune.samplers.tpe import _aitchison_aitken, _neighbour_bandwidths, _Parzen
from zoomtune.space import distribution_from_dict
from zoomtune.testing.sampler_suite import SPACE, SamplerConformance, bowl, define_by_run


class TestTPE(SamplerConformance):
    def make_sampler(self, seed):
        return TPESampler(seed=seed, n_startup_trials=5)


def best_on_bowl(sampler, n_trials=60, declared=True):
    study = zt.create_study(direction="minimize", sampler=sampler, space=SPACE if declared else None)
    study.optimize((lambda t: bowl(t.params)) if declared else define_by_run, n_trials=n_trials)
    assert all(t.state is zt.TrialState.COMPLETE for t in study.trials)
    return study.best_value  # the bowl's minimum is 0, so this is the regret


def test_tpe_beats_random_on_the_bowl():
    # 5-D: log and log1m floats, a log int, an int and a categorical; optimum 0 inside the box
    seeds = range(5)
    tpe = statistics.median(best_on_bowl(TPESampler(seed=s)) for s in seeds)
    rand = statistics.median(best_on_bowl(RandomSampler(seed=s)) for s in seeds)
    assert tpe < 0.4 * rand, (tpe, rand)


def test_tpe_works_define_by_run_and_with_a_declared_space():
    rand = statistics.median(best_on_bowl(RandomSampler(seed=s)) for s in range(3))
    for declared in (True, False):
        tpe = statistics.median(best_on_bowl(TPESampler(seed=s), declared=declared) for s in range(3))
        assert tpe < 0.5 * rand, (declared, tpe, rand)


def test_tpe_maximizes():
    study = zt.create_study(direction="maximize", sampler=TPESampler(seed=0), space=SPACE)
    study.optimize(lambda t: -bowl(t.params), n_trials=60)
    rand = zt.create_study(direction="maximize", sampler=RandomSampler(seed=0), space=SPACE)
    rand.optimize(lambda t: -bowl(t.params), n_trials=60)
    assert study.best_value > rand.best_value


def test_tpe_finds_the_good_choice_of_a_categorical():
    space = zt.Space(x=zt.Float(0.0, 1.0), kind=zt.Categorical(("a", "b", "c", "d", "e")))

    def objective(trial):
        return (trial.params["x"] - 0.3) ** 2 + (0.0 if trial.params["kind"] == "d" else 1.0)

    def run(sampler):
        study = zt.create_study(sampler=sampler, space=space)
        study.optimize(objective, n_trials=50)
        late = [t.params["kind"] for t in study.trials[30:]]
        return late.count("d") / len(late), study.best_value

    tpe = [run(TPESampler(seed=s)) for s in range(5)]
    rand = [run(RandomSampler(seed=s)) for s in range(5)]
    # median over seeds: a run whose startup trials never try "d" can take longer to find it. The
    # share stays below 1: the bad group's sharp kernel knows that "d" with a poor x was tried, so
    # some proposals probe the other choices (Optuna's TPE: 0.45 on this test)
    assert statistics.median(share for share, _ in tpe) >= 0.4  # random: 0.2
    assert statistics.median(best for _, best in tpe) < 0.1 * statistics.median(best for _, best in rand)


def test_conditional_parameters_are_sampled_outside_the_joint_space():
    def objective(trial):
        kind = trial.suggest_categorical("kind", ["a", "b"])
        if kind == "a":
            return (trial.suggest_float("xa", 0.0, 1.0) - 0.8) ** 2
        return 1.0 + trial.suggest_float("xb", 0.0, 1.0)

    study = zt.create_study(sampler=TPESampler(seed=0, n_startup_trials=5))
    study.optimize(objective, n_trials=40)
    assert all(t.state is zt.TrialState.COMPLETE for t in study.trials)
    late = study.trials[20:]
    assert sum(t.params["kind"] == "a" for t in late) >= 0.7 * len(late)
    assert study.best_value < 0.01


def branchy(trial):
    """Two branches, each with its own parameter; the first is better."""
    kind = trial.suggest_categorical("kind", ["a", "b"])
    if kind == "a":
        x = trial.suggest_float("xa", 0.0, 1.0)
        return (x - 0.8) ** 2, 1.0 - x
    x = trial.suggest_float("xb", 0.0, 1.0, scale="linear")
    return 1.0 + x, 2.0 - x


@pytest.mark.parametrize("directions", [["minimize"], ["minimize", "minimize"]])
def test_trials_keep_only_the_parameters_their_branch_asked_for(directions):
    study = zt.create_study(sampler=TPESampler(seed=1, n_startup_trials=5), directions=directions)
    objective = (lambda t: branchy(t)[0]) if len(directions) == 1 else branchy
    study.optimize(objective, n_trials=30)
    kinds = {t.params["kind"] for t in study.trials}
    assert kinds == {"a", "b"}  # both branches ran, so later joint draws spanned xa and xb
    for t in study.trials:
        assert set(t.params) == {"kind", "xa" if t.params["kind"] == "a" else "xb"}, t.params
        assert set(t.distributions) == set(t.params)
    best = study.best_params if len(directions) == 1 else study.best_trials[0].params
    assert set(best) == {"kind", "xa" if best["kind"] == "a" else "xb"}


def test_a_missing_coordinate_is_marginalised_out_of_the_density():
    # one by one: each dimension's density is the 1-D density of the trials that have it
    points = np.array([[0.2, np.nan, 0.1], [np.nan, 0.7, 0.9], [0.4, 0.75, np.nan], [0.3, np.nan, 0.5]])
    n_choices = [0, 0, 4]
    x = np.random.default_rng(0).random((7, 3))
    joint = _Parzen(points, n_choices, 1.0, independent=True).log_pdf(x)
    one_by_one = sum(_Parzen(points[~np.isnan(points[:, j]), j:j + 1], n_choices[j:j + 1], 1.0).log_pdf(x[:, j:j + 1])
                     for j in range(3))
    np.testing.assert_allclose(joint, one_by_one)
    # jointly: a component is flat along a coordinate it lacks (a tiny prior leaves that component alone)
    lone = _Parzen(np.array([[0.3, np.nan]]), [0, 0], 1e-12)
    np.testing.assert_allclose(lone.log_pdf(np.array([[0.3, 0.05], [0.3, 0.5], [0.3, 0.95]])),
                               lone.log_pdf(np.array([[0.3, 0.5]]))[0], rtol=1e-9)
    draws = lone.sample(np.random.default_rng(1), 200)
    assert not np.isnan(draws).any() and draws[:, 1].std() > 0.2  # uniform along the missing one


def test_a_declared_space_models_only_trials_with_all_of_its_parameters():
    space = zt.Space(x=zt.Float(0.0, 1.0), y=zt.Float(0.0, 1.0))
    history = [TrialRecord(i, TrialState.COMPLETE, {"x": 0.1 * (i % 10)} | ({"y": 0.5} if i % 2 else {}),
                           {"x": space["x"]} | ({"y": space["y"]} if i % 2 else {}), value=float(i))
               for i in range(20)]
    sampler = TPESampler(seed=0)
    whole = sampler.groups(space, history, (Direction.MINIMIZE,))
    partial = sampler.groups(space, history, (Direction.MINIMIZE,), partial=True)
    assert len(whole.good) + len(whole.bad) == 10
    assert len(partial.good) + len(partial.bad) == 20


def test_only_complete_trials_with_the_same_distribution_are_modelled():
    space = zt.Space(x=zt.Float(0.0, 1.0))
    other = zt.Float(0.0, 2.0)
    rng = np.random.default_rng(0)
    history = []
    for i in range(60):
        x = float(rng.random())
        if i % 3 == 0:  # a different range for x, with values pointing the wrong way
            history.append(TrialRecord(i, TrialState.COMPLETE, {"x": x}, {"x": other}, value=-abs(x - 0.9)))
        elif i % 3 == 1:  # stopped early: not modelled either
            history.append(TrialRecord(i, TrialState.STOPPED, {"x": x}, {"x": space["x"]}, value=-10.0))
        else:
            history.append(TrialRecord(i, TrialState.COMPLETE, {"x": x}, {"x": space["x"]}, value=abs(x - 0.2)))
    sampler = TPESampler(seed=0)
    points = [sampler.sample(space, SampleContext(60 + k, Direction.MINIMIZE, space, lambda: history))[0]
              for k in range(20)]
    assert statistics.median(abs(u - 0.2) for u in points) < 0.1, points


def test_sampling_with_2000_finished_trials_is_fast():
    rng = np.random.default_rng(0)
    history = []
    for i in range(2000):
        params = SPACE.from_unit(rng.random(len(SPACE)))
        # fresh distribution objects per trial, as a storage that does not share them would give
        dists = {n: distribution_from_dict(d.to_dict()) for n, d in SPACE.items()}
        history.append(TrialRecord(i, TrialState.COMPLETE, params, dists, value=bowl(params)))
    sampler = TPESampler(seed=0)
    groups = sampler.groups(SPACE, history, (Direction.MINIMIZE,))
    good, bad = groups.good, groups.bad
    # what bounds the cost: the model holds at most max_observations trials, the good group
    # ranked over the whole history, whatever the history's length
    assert len(good) + len(bad) == sampler.max_observations == 300
    assert max(t.value for t in good) <= min(t.value for t in history if t not in good)
    times = []
    for k in range(7):
        context = SampleContext(2000 + k, Direction.MINIMIZE, SPACE, lambda: history)
        start = time.perf_counter()
        point = sampler.sample(SPACE, context)
        times.append(time.perf_counter() - start)
        assert len(point) == len(SPACE) and all(0.0 <= u <= 1.0 for u in point)
    # a loose bound (about 6 ms on a quiet 2-core machine; the README's table has the measured
    # numbers): it catches an uncapped model (seconds), not a busy machine
    assert min(times) < 0.25, times


def test_categorical_kernel_puts_1_minus_b_on_the_observed_choice_and_shrinks_b_with_n():
    k = 5
    bs = []
    for n in (2, 6, 50):
        idx = np.arange(n) % k
        probs = _aitchison_aitken(idx, k, prior_weight=1.0)
        assert probs.shape == (n + 1, k)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0)
        np.testing.assert_allclose(probs[n], 1.0 / k)  # the prior component is uniform
        b = 1.0 - probs[0, idx[0]]
        for i in range(n):
            rest = np.delete(probs[i], idx[i])
            np.testing.assert_allclose(rest, b / (k - 1))  # the other choices share b equally
            assert probs[i, idx[i]] > rest.max()
        bs.append(b)
    # a bad group of 50 trials must say which choices it tried: its kernel is much sharper than
    # a good group's of 2, which stays close to uniform (the fixed 0.4 of before lost on NB201)
    assert bs[0] > bs[1] > bs[2]
    assert bs[0] >= 0.5 and bs[2] < 0.1, bs
    assert _aitchison_aitken(np.array([0, 0]), 1, 1.0).tolist() == [[1.0], [1.0], [1.0]]


def test_the_bad_density_separates_tried_from_untried_choices():
    # 40 bad trials, all on choices 0-2 of 5: g must be far lower on 3 and 4 than on 0-2
    n_choices = [5]
    bad = np.array([[((i % 3) + 0.5) / 5] for i in range(40)])
    g = _Parzen(bad, n_choices, prior_weight=1.0)
    cells = np.array([[(c + 0.5) / 5] for c in range(5)])
    p = np.exp(g.log_pdf(cells))
    assert p[:3].min() > 5 * p[3:].max(), p
    np.testing.assert_allclose(p.sum(), 1.0)  # a distribution over the 5 cells


def test_numeric_bandwidth_is_the_distance_to_the_farther_neighbour():
    points = np.array([[0.1], [0.12], [0.14], [0.9]])
    # raw widths 0.1, 0.02, 0.76, 0.76 (the faces 0 and 1 count as neighbours), floor 1 / (n + 2)
    np.testing.assert_allclose(_neighbour_bandwidths(points)[:, 0], [1 / 6, 1 / 6, 0.76, 0.76])
    cluster = np.append(0.2 + 0.001 * np.arange(97), 0.9)[:, None]  # n = 98: floor 0.01
    sigma = _neighbour_bandwidths(cluster)[:, 0]
    np.testing.assert_allclose(sigma[1:96], 0.01)
    np.testing.assert_allclose(sigma[97], 0.9 - 0.296)  # an isolated point is wide
    # repeated values (an integer parameter): the inner copy gets the floor max(1 / (n + 2), 0.01)
    ties = _neighbour_bandwidths(np.array([[0.5], [0.5], [0.5]]))[:, 0]
    np.testing.assert_allclose(ties, [0.5, 0.2, 0.5])
    assert _neighbour_bandwidths(np.empty((0, 3))).shape == (0, 3)


def test_tpe_finds_the_best_configuration_of_an_all_categorical_space_faster_than_random():
    # 4 categoricals x 5 choices (625 configurations), a seeded additive cost with one optimum
    cost = np.random.default_rng(7).random((4, 5))
    space = zt.Space(**{f"e{j}": zt.Categorical(tuple("abcde")) for j in range(4)})
    best = float(cost.min(axis=1).sum())

    def objective(trial):
        return float(sum(cost[j, "abcde".index(trial.params[f"e{j}"])] for j in range(4)))

    def regret(sampler):
        study = zt.create_study(sampler=sampler, space=space)
        study.optimize(objective, n_trials=50)
        return study.best_value - best

    tpe = [regret(TPESampler(seed=s)) for s in range(5)]
    rand = [regret(RandomSampler(seed=s)) for s in range(5)]
    assert sum(r < 1e-12 for r in tpe) >= 3, tpe  # random search finds it with chance 1 - (624/625)^50 = 8 %
    assert statistics.median(tpe) < 0.25 * statistics.median(rand), (tpe, rand)


def test_same_seed_and_history_give_the_same_point_with_tied_values():
    # integer and categorical parameters repeat values; the bandwidths' tie order must depend only
    # on the trials, not on the order a storage returns them in
    space = zt.Space(n=zt.Int(1, 4), kind=zt.Categorical(("a", "b", "c")), x=zt.Float(0.0, 1.0))
    rng = np.random.default_rng(3)
    history = []
    for i in range(80):
        params = space.from_unit(rng.random(3))
        history.append(TrialRecord(i, TrialState.COMPLETE, params, dict(space.items()),
                                   value=float(params["n"]) + float(rng.random())))
    context = SampleContext(80, Direction.MINIMIZE, space, lambda: history)
    first = TPESampler(seed=11).sample(space, context)
    assert TPESampler(seed=11).sample(space, context) == first
    assert TPESampler(seed=11).sample(space, SampleContext(80, Direction.MINIMIZE, space,
                                                             lambda: list(reversed(history)))) == first
