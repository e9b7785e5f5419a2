import itertools
import math
import pickle
import statistics
import subprocess
import sys

import numpy as np
import pytest

import zoomtune as zt
from zoomtune.errors import ConfigError
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.samplers import GPSampler, RandomSampler, SampleContext
from zoomtune.samplers import _gp_acquisition as acq, _gp_math as gpm
from zoomtune.studyfile import SAMPLERS
from zoomtune.testing.sampler_suite import SPACE, SamplerConformance, bowl, random_history


class TestGPConformance(SamplerConformance):
    n_trials = 10

    def make_sampler(self, seed):
        return GPSampler(seed=seed, n_startup_trials=4, n_candidates=128)



@pytest.fixture(autouse=True)
def _one_blas_thread():
    # what GPSampler.sample does; the maths tests call _gp_math directly
    with gpm.one_blas_thread():
        yield


def context(number, history, pending=(), direction=Direction.MINIMIZE, space=SPACE):
    return SampleContext(number, direction, space, lambda: list(history), pending=lambda: list(pending))


# -- the sampler ------------------------------------------------------------------------------

def test_same_seed_and_history_give_the_same_point_whatever_the_sampler_did_before():
    history = random_history(SPACE, 20, bowl)
    fresh = GPSampler(seed=7).sample(SPACE, context(20, history))
    used = GPSampler(seed=7)
    used.sample(SPACE, context(15, history[:15]))  # a fit on other data first
    assert used.sample(SPACE, context(20, history)) == fresh
    assert GPSampler(seed=7).sample(SPACE, context(21, history)) != fresh  # another trial number
    assert GPSampler(seed=8).sample(SPACE, context(20, history)) != fresh


def test_pending_trials_make_consecutive_proposals_differ():
    space = zt.Space(x=zt.Float(0.0, 1.0), y=zt.Float(0.0, 1.0))

    def objective(p):
        return (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2

    history = random_history(space, 15, objective, seed=1)
    sampler = GPSampler(seed=0)
    first = sampler.sample(space, context(15, history, space=space))
    params = space.from_unit(first)
    running = TrialRecord(15, TrialState.RUNNING, params, dict(space.items()))
    second = sampler.sample(space, context(16, history, [running], space=space))
    again = sampler.sample(space, context(16, history, space=space))  # same number, no pending trial
    assert math.dist(first, second) > 0.02, (first, second)
    assert math.dist(second, again) > 0.02
    # a pending trial outside the space (a parameter missing) is not a fantasy
    partial = TrialRecord(15, TrialState.RUNNING, {"x": params["x"]}, {"x": space["x"]})
    assert sampler.sample(space, context(16, history, [partial], space=space)) == again


def test_startup_points_then_model_and_tiny_spaces_start_sooner():
    assert GPSampler().n_startup(SPACE) == 10
    assert GPSampler().n_startup(zt.Space(a=zt.Categorical(("x", "y", "z")))) == 2
    assert GPSampler().n_startup(zt.Space(a=zt.Categorical(tuple("abcd")), b=zt.Int(1, 8))) == 8
    assert GPSampler(n_startup_trials=0).n_startup(SPACE) == 2
    # before the GP: the Sobol sequence's point `number`
    sobol = zt.samplers.SobolSampler(seed=3)
    history = random_history(SPACE, 4, bowl)
    assert GPSampler(seed=3).sample(SPACE, context(4, history)) == sobol.sample(SPACE, context(4, history))


def test_define_by_run_parameters_outside_the_space_get_a_seeded_uniform_draw():
    sampler = GPSampler(seed=5)
    dist = zt.Float(0.0, 1.0)
    u = sampler.sample_one("extra", dist, context(3, []))
    assert u == sampler.sample_one("extra", dist, context(3, [])) == GPSampler(seed=5).sample_one("extra", dist,
                                                                                                     context(3, []))
    assert 0.0 <= u < 1.0 and u != sampler.sample_one("extra", dist, context(4, []))

    def objective(trial):
        kind = trial.suggest_categorical("kind", ["a", "b"])
        x = trial.suggest_float("xa" if kind == "a" else "xb", 0.0, 1.0)
        return (x - 0.4) ** 2 + (0.0 if kind == "a" else 0.3)

    study = zt.create_study(sampler=GPSampler(seed=0, n_startup_trials=4, n_candidates=128))
    study.optimize(objective, n_trials=12)
    assert all(t.state is zt.TrialState.COMPLETE for t in study.trials)


def test_long_histories_are_modelled_on_a_subset_keeping_the_best():
    space = zt.Space(x=zt.Float(0.0, 1.0), y=zt.Float(0.0, 1.0))

    def objective(p):
        return (p["x"] - 0.8) ** 2 + (p["y"] - 0.1) ** 2

    history = random_history(space, 400, objective, seed=2)
    sampler = GPSampler(seed=0, max_history=40)
    y = np.array([t.value for t in history])
    ys = y[sampler._subset(np.argsort(y, kind="stable"), np.random.default_rng(0))]
    assert len(ys) == 40 and set(np.sort(y)[:13]) <= set(ys)
    point = sampler.sample(space, context(400, history, space=space))
    assert math.dist(point, (0.8, 0.1)) < 0.15


def test_a_used_sampler_pickles_and_proposes_alike():
    history = random_history(SPACE, 12, bowl)
    sampler = GPSampler(seed=1, n_candidates=128)
    first = sampler.sample(SPACE, context(12, history))
    sampler.sample(SPACE, context(3, history[:3]))  # the Sobol start-up engine too
    copy = pickle.loads(pickle.dumps(sampler))
    assert copy.sample(SPACE, context(12, history)) == first


def test_constructor_arguments_are_checked():
    for kwargs, message in [
        ({"n_startup_trials": -1}, "GPSampler: n_startup_trials: must be an integer >= 0; got -1"),
        ({"n_candidates": 0}, "GPSampler: n_candidates: must be an integer >= 1; got 0"),
        ({"n_polish": 1.5}, "GPSampler: n_polish: must be an integer >= 1; got 1.5"),
        ({"max_history": 5}, "GPSampler: max_history: must be an integer >= 10; got 5"),
        ({"deterministic_objective": 1}, "GPSampler: deterministic_objective: must be True or False; got 1"),
        ({"seed": -2}, "GPSampler: seed: must be an integer >= 0 or None; got -2"),
    ]:
        with pytest.raises(ConfigError) as info:
            GPSampler(**kwargs)
        assert str(info.value) == message


def test_registered_and_import_stays_light():
    assert SAMPLERS["gp"] is GPSampler and zt.samplers.GPSampler is GPSampler
    code = ("import sys, zoomtune; print(sorted(m for m in ('scipy.optimize', 'scipy.stats', 'scipy.linalg', "
            "'zoomtune.samplers._gp_math', 'zoomtune.samplers._gp_acquisition') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- the maths --------------------------------------------------------------------------------

def reference_kernel(a, b, is_cat, params):
    """Matern-5/2 written out pair by pair."""
    k = np.empty((len(a), len(b)))
    for i in range(len(a)):
        for j in range(len(b)):
            r2 = 0.0
            for dim in range(a.shape[1]):
                diff = float(a[i, dim] != b[j, dim]) if is_cat[dim] else (a[i, dim] - b[j, dim]) ** 2
                r2 += diff / params.lengthscales[dim] ** 2
            r = math.sqrt(r2)
            k[i, j] = params.signal * (1 + math.sqrt(5) * r + 5 * r2 / 3) * math.exp(-math.sqrt(5) * r)
    return k


def random_problem(rng, n=14, m=6):
    is_cat = np.array([False, False, True])
    x = np.column_stack([rng.random((n, 2)), rng.integers(0, 3, n)])
    xs = np.column_stack([rng.random((m, 2)), rng.integers(0, 3, m)])
    params = gpm.Params(np.array([0.3, 0.7, 1.2]), 1.7, 1e-3)
    return x, rng.standard_normal(n), xs, is_cat, params


def test_posterior_matches_a_dense_solve():
    rng = np.random.default_rng(0)
    x, y, xs, is_cat, params = random_problem(rng)
    gp = gpm.GP(x, y, is_cat, params)
    k = reference_kernel(x, x, is_cat, params) + params.noise * np.eye(len(x))
    ks = reference_kernel(xs, x, is_cat, params)
    mean, var = gp.posterior(xs)
    np.testing.assert_allclose(mean, ks @ np.linalg.solve(k, y), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(var, params.signal - np.sum(ks * np.linalg.solve(k, ks.T).T, axis=1), rtol=1e-7,
                               atol=1e-10)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    x, y, xs, is_cat, params = random_problem(rng)
    terms = gpm.pair_terms(x, x, is_cat).reshape(len(x) ** 2, 3)
    theta = np.array([-0.8, 0.2, 0.5, 0.3, -4.0])
    value, grad = gpm.neg_log_posterior(theta, terms, y)
    h = 1e-6
    numeric = [(gpm.neg_log_posterior(theta + e, terms, y)[0] - gpm.neg_log_posterior(theta - e, terms, y)[0]) / (2 * h)
               for e in np.eye(5) * h]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)
    gp = gpm.GP(x, y, is_cat, params)
    best = float(np.min(y))
    value, grad = gpm.log_ei_grad(gp, xs, best)
    np.testing.assert_allclose(value, gpm.log_ei(*gp.posterior(xs), best), rtol=1e-12)
    for j in range(2):  # numeric dimensions only
        e = np.zeros(3)
        e[j] = h
        numeric = (gpm.log_ei(*gp.posterior(xs + e), best) - gpm.log_ei(*gp.posterior(xs - e), best)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-4, atol=1e-6)


def test_log_ei_matches_a_high_precision_reference():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    z = np.concatenate([np.linspace(-40.0, 6.0, 231), -np.logspace(1.0, 7.0, 25)])
    value, slope = gpm.log_h(z)
    ref_value, ref_slope = [], []
    for zi in z:
        zm = mpmath.mpf(float(zi))
        h = zm * mpmath.ncdf(zm) + mpmath.npdf(zm)
        ref_value.append(float(mpmath.log(h)))
        ref_slope.append(float(mpmath.ncdf(zm) / h))
    np.testing.assert_allclose(value, ref_value, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(slope, ref_slope, rtol=1e-9)


def test_log_ei_agrees_with_the_closed_form_and_stays_finite_in_the_tail():
    from scipy.stats import norm

    rng = np.random.default_rng(2)
    mean, var = rng.normal(size=50), rng.uniform(0.01, 2.0, 50)
    sigma = np.sqrt(var)
    z = (0.1 - mean) / sigma
    ei = sigma * (z * norm.cdf(z) + norm.pdf(z))
    np.testing.assert_allclose(gpm.log_ei(mean, var, 0.1), np.log(ei), rtol=1e-10)
    tail = -np.logspace(0.0, 150.0, 400)[::-1]  # from -1e150 up to -1
    value, slope = gpm.log_h(tail)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(slope)) and np.all(slope > 0)
    assert np.all(np.diff(value) > 0)  # increasing in z
    # where EI underflows, log EI still ranks: a farther point has a lower log EI
    far = gpm.log_ei(np.array([50.0, 60.0]), np.array([1e-4, 1e-4]), 0.0)
    assert np.all(np.isfinite(far)) and far[0] > far[1]


def test_irrelevant_dimension_gets_a_long_lengthscale():
    rng = np.random.default_rng(3)
    x = rng.random((40, 3))
    y = np.sin(5.0 * x[:, 0]) + 2.0 * (x[:, 1] - 0.5) ** 2
    y = (y - y.mean()) / y.std()
    params = gpm.fit(x, y, np.zeros(3, dtype=bool))
    ls = params.lengthscales
    assert ls[2] > 4.0 * max(ls[0], ls[1]), ls


def test_lengthscales_stay_below_the_bound_however_flat_a_dimension():
    rng = np.random.default_rng(4)
    x = rng.random((30, 4))
    y = (x[:, 0] - 0.3) ** 2
    params = gpm.fit(x, (y - y.mean()) / y.std(), np.zeros(4, dtype=bool), fixed_noise=True)
    high = math.exp(gpm.log_lengthscale_bounds(4)[1])
    assert np.all(params.lengthscales <= high * (1 + 1e-9)) and params.lengthscales[0] < 1.0, params.lengthscales


def test_weakly_relevant_dimensions_are_refined_not_parked_at_a_bound():
    # two strong dimensions and two that move the value by at most 1e-2: once the strong ones are
    # solved, the weak ones must still be searched (an unbounded lengthscale left them at a bound)
    space = zt.Space(a=zt.Float(0.0, 1.0), b=zt.Float(0.0, 1.0), c=zt.Float(0.0, 1.0), d=zt.Float(0.0, 1.0))

    def objective(p):
        strong = 20.0 * (p["a"] - 0.35) ** 2 + 20.0 * (p["b"] - 0.6) ** 2
        return strong + 0.01 * ((p["c"] - 0.4) ** 2 + (p["d"] - 0.7) ** 2)

    for seed in range(2):
        study = zt.create_study(sampler=GPSampler(seed=seed, deterministic_objective=True), space=space)
        study.optimize(lambda t: objective(t.params), n_trials=45)
        best = study.best_trial.params
        assert abs(best["c"] - 0.4) < 0.15 and abs(best["d"] - 0.7) < 0.15, best
        assert study.best_value < 2e-4, study.best_value


def test_conditional_trials_keep_their_branch_and_every_branch_is_modelled(monkeypatch):
    fitted = []
    fit = gpm.fit
    monkeypatch.setattr(gpm, "fit", lambda x, *a, **k: fitted.append(x.copy()) or fit(x, *a, **k))

    def objective(trial):
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        x = trial.suggest_float("x", 0.0, 1.0)
        if kind == "a":
            return (x - 0.7) ** 2 + (trial.suggest_float("xa", 0.0, 1.0) - 0.2) ** 2
        if kind == "b":
            return 0.2 + (x - 0.3) ** 2 + 0.5 * trial.suggest_int("nb", 1, 4)
        return 0.4 + (x - 0.5) ** 2

    own = {"a": {"kind", "x", "xa"}, "b": {"kind", "x", "nb"}, "c": {"kind", "x"}}
    best = []
    for seed in range(3):
        study = zt.create_study(sampler=GPSampler(seed=seed, n_startup_trials=6, n_candidates=256,
                                                  deterministic_objective=True))
        study.optimize(objective, n_trials=30)
        # a trial records only the parameters its branch asked for ...
        assert all(set(t.params) == own[t.params["kind"]] for t in study.trials)
        # ... and the GP models the trials of every branch together, inactive parameters imputed
        assert len(fitted[-1]) == 29 and fitted[-1].shape[1] == 4
        late = study.trials[15:]
        assert sum(t.params["kind"] == "a" for t in late) >= 0.6 * len(late)
        best.append(study.best_value)
    assert statistics.median(best) < 0.01, best


def test_a_point_is_scored_with_the_dimensions_its_choices_switch_off_imputed():
    n_choices = np.array([2, 0, 0])  # a choice and two numbers; column 2 exists only for choice 0
    x = np.array([[0, 0.1, 0.4], [1, 0.5, np.nan], [0, 0.9, 0.2], [1, 0.3, np.nan]])
    conditions = acq.Conditions.learn(x, n_choices)
    points, off = conditions.apply(np.array([[0.0, 0.2, 0.8], [1.0, 0.2, 0.8]]))
    assert off.tolist() == [[False, False, False], [False, False, True]]
    assert points[1, 2] == 0.5 and points[0, 2] == 0.8
    assert acq.impute(acq.snap(np.array([[0.9, np.nan, 0.5]]), n_choices), n_choices)[0, 1] == 0.5
    unconditional = acq.Conditions.learn(np.array([[0, 0.1, 0.4], [0, 0.5, np.nan]]), n_choices)
    assert len(unconditional.child) == 0  # choice 0 both with and without column 2: no condition


# -- search quality ---------------------------------------------------------------------------

def trials_to_find_best(sampler, space, objective, optimum, budget):
    study = zt.create_study(sampler=sampler, space=space)
    for n in range(1, budget + 1):
        trial = study.ask()
        value = objective(trial.params)
        study.tell(trial, value)
        if value <= optimum + 1e-12:
            return n
    return budget + 1


def test_categorical_problem_is_solved_faster_than_random():
    # 4 x 4 x 4 x 4 = 256 combinations, additive plus one interaction; random needs about 256 trials
    choices = ("p", "q", "r", "s")
    space = zt.Space(a=zt.Categorical(choices), b=zt.Categorical(choices), c=zt.Categorical(choices),
                     d=zt.Categorical(choices))
    table = {"a": [0.6, 0.0, 1.0, 0.4], "b": [0.5, 0.9, 0.2, 0.0], "c": [0.0, 0.7, 0.3, 1.0],
             "d": [0.8, 0.4, 0.0, 0.6]}

    def objective(p):
        return sum(table[k][choices.index(p[k])] for k in table) + 0.3 * (p["a"] == p["b"])

    optimum = min(objective(dict(zip("abcd", combo, strict=True))) for combo in itertools.product(choices, repeat=4))
    seeds = range(5)
    gp = [trials_to_find_best(GPSampler(seed=s, n_candidates=256), space, objective, optimum, 40) for s in seeds]
    rand = [trials_to_find_best(RandomSampler(seed=s), space, objective, optimum, 40) for s in seeds]
    assert statistics.mean(gp) < 0.6 * statistics.mean(rand), (gp, rand)


def test_finds_the_bowl_optimum_where_random_search_does_not():
    centre = np.array([0.3, 0.7, 0.55, 0.2])
    space = zt.Space(**{f"x{i}": zt.Float(0.0, 1.0) for i in range(4)})

    def objective(trial):
        return float(sum((trial.params[f"x{i}"] - centre[i]) ** 2 for i in range(4)))

    for seed in range(3):
        gp = zt.create_study(sampler=GPSampler(seed=seed, n_candidates=256), space=space)
        gp.optimize(objective, n_trials=30)
        rand = zt.create_study(sampler=RandomSampler(seed=seed), space=space)
        rand.optimize(objective, n_trials=30)
        assert gp.best_value < 1e-3 < 1e-2 < rand.best_value, (seed, gp.best_value, rand.best_value)


def test_maximize_on_log_and_log1m_scales():
    space = zt.Space(lr=zt.Float(1e-4, 1.0, scale="log"), beta=zt.Float(0.9, 0.999, scale="log1m"))

    def objective(trial):
        return -((math.log10(trial.params["lr"]) + 2.5) ** 2 + (math.log10(1 - trial.params["beta"]) + 2) ** 2)

    study = zt.create_study(direction="maximize", sampler=GPSampler(seed=0, n_candidates=256), space=space)
    study.optimize(objective, n_trials=20)
    rand = zt.create_study(direction="maximize", sampler=RandomSampler(seed=0), space=space)
    rand.optimize(objective, n_trials=20)
    assert study.best_value > -1e-3 and study.best_value > rand.best_value, (study.best_value, rand.best_value)


def test_integer_dimensions_are_searched_on_their_values():
    # the mean's minimum lies between the levels (at 0.45 of the unit range): the proposal is a level, the
    # better of the two around it, found by the discrete search and not by rounding a continuous optimum
    levels = {0: np.array([0.1, 0.3, 0.5, 0.7, 0.9])}
    x = np.array([[0.1], [0.3], [0.7], [0.9]])
    y = (x[:, 0] - 0.45) ** 2
    ys = (y - y.mean()) / y.std()
    is_cat = np.array([False])
    gp = gpm.GP(x, ys, is_cat, gpm.Params(np.array([0.3]), 1.0, 1e-6))
    point = acq.maximize(acq.LogEI(gp, float(ys.min())), np.array([0]), x, np.random.default_rng(0), 64, 3,
                         levels=levels)
    assert point[0] == 0.5


def test_an_evaluated_point_is_not_proposed_again():
    # a noise-free problem whose best trial sits at a bound: the model's EI at that held point (its noise
    # floor) exceeded EI everywhere else, and the same point was proposed again and again
    space = zt.Space(a=zt.Int(1, 5), b=zt.Float(0.0, 1.0), c=zt.Int(0, 9))

    def objective(trial):
        p = trial.params
        return (p["a"] - 3.3) ** 2 + (p["b"] - 0.2) ** 2 + 0.1 * (p["c"] - 7) ** 2

    study = zt.create_study(sampler=GPSampler(seed=0, n_startup_trials=5, deterministic_objective=True), space=space)
    study.optimize(objective, n_trials=25)
    points = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(points)) == len(points)
    assert study.best_value < 0.09 + 1e-3, study.best_value
