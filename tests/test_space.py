import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats

import zoomtune as zt
from zoomtune.space import Categorical, Float, Int, Space, distribution_from_dict

# -- validation: one template, naming the parameter, the rule and the value ------------------------


@pytest.mark.parametrize("make, rule, got", [
    (lambda t: t.suggest_float("lr", 1.0, 1e-4), "low < high must hold", "low=1.0, high=0.0001"),
    (lambda t: t.suggest_float("lr", 0.0, 1.0, scale="log"), "scale 'log' needs low > 0", "low=0.0"),
    (lambda t: t.suggest_float("beta", 0.9, 1.0, scale="log1m"), "scale 'log1m' needs high < 1", "high=1.0"),
    (lambda t: t.suggest_int("units", 0, 512, scale="log"), "Int with scale 'log' needs low >= 1", "low=0"),
    (lambda t: t.suggest_float("lr", 1e-4, 1.0, scale="logarithmic"), "scale must be one of", "'logarithmic'"),
    (lambda t: t.suggest_categorical("act", []), "choices must not be empty", "choices=[]"),
    (lambda t: t.suggest_int("n", 1.5, 4), "whole numbers", "low=1.5"),
])
def test_bad_ranges_name_parameter_rule_and_value(make, rule, got):
    trial = zt.create_study().ask()
    with pytest.raises(zt.SearchSpaceError) as info:
        make(trial)
    message = str(info.value)
    assert message.startswith("parameter '") and rule in message and got in message


def test_standalone_distribution_error_names_the_distribution():
    with pytest.raises(zt.SearchSpaceError, match=r"Float\(low=0, high=1\): scale 'log' needs low > 0"):
        Float(0, 1, scale="log")


def test_search_space_error_is_a_value_error():
    assert issubclass(zt.SearchSpaceError, ValueError)


def test_log_true_is_an_alias_of_scale_log():
    assert Float(1e-4, 1, log=True) == Float(1e-4, 1, scale="log")
    with pytest.raises(zt.SearchSpaceError, match="alias"):
        Float(0.1, 0.9, scale="log1m", log=True)


def test_yaml_space_reads_exponents_and_lists():
    space = Space.from_yaml("""
lr: {type: float, low: 1e-4, high: 1, scale: log}
beta: {type: float, low: 0.9, high: 0.999, scale: log1m}
units: {type: int, low: 32, high: 512, scale: log}
act: [relu, tanh]
""")
    assert space["lr"] == Float(1e-4, 1.0, scale="log")
    assert space["units"] == Int(32, 512, scale="log")
    assert space["act"] == Categorical(("relu", "tanh"))
    assert Space.from_dict(space.to_dict()) == space


def test_yaml_space_errors_name_the_parameter():
    with pytest.raises(zt.SearchSpaceError, match="parameter 'lr': scale 'log' needs low > 0"):
        Space.from_yaml("lr: {type: float, low: 0, high: 1, scale: log}")
    with pytest.raises(zt.SearchSpaceError, match="parameter 'x': type must be one of"):
        distribution_from_dict({"type": "complex", "low": 0, "high": 1}, name="x")


def test_seed_example_scales():
    assert Float(1e-4, 1.0, scale="log").from_unit(0.5) == pytest.approx(1e-2)
    assert Float(0.9, 0.999, scale="log1m").from_unit(0.5) == pytest.approx(0.99)
    assert Float(0.9, 0.999, scale="log1m").from_unit(0.0) == pytest.approx(0.9)
    assert Float(0.9, 0.999, scale="log1m").from_unit(1.0) == pytest.approx(0.999)


# -- properties of the unit-cube maps ----------------------------------------------------------------

scales = st.sampled_from(["linear", "log", "log1m"])


@st.composite
def floats(draw):
    scale = draw(scales)
    if scale == "log":
        low = draw(st.floats(1e-8, 1e3))
        high = draw(st.floats(low * 1.001, low * 1e6))
    elif scale == "log1m":
        high = draw(st.floats(-1e3, 0.999999))
        low = draw(st.floats(-1e4, high - 1e-6)) if high > -1e4 + 1e-6 else high - 1
    else:
        low = draw(st.floats(-1e6, 1e6))
        high = draw(st.floats(low + 1e-3 * max(1, abs(low)), low + 1e6))
    assume(low < high)
    return Float(low, high, scale=scale)


@given(floats(), st.floats(0, 1))
def test_float_from_unit_stays_in_range_and_round_trips(dist, u):
    value = dist.from_unit(u)
    assert dist.low <= value <= dist.high and dist.contains(value)
    assert dist.to_unit(value) == pytest.approx(u, abs=1e-6)


@given(floats(), st.floats(0, 1), st.floats(0, 1))
def test_float_from_unit_is_monotone(dist, u, v):
    lo, hi = sorted((u, v))
    assert dist.from_unit(lo) <= dist.from_unit(hi)


@given(st.integers(1, 10_000), st.integers(0, 10_000), st.sampled_from(["linear", "log"]), st.floats(0, 1))
def test_int_from_unit_in_range_and_in_its_cell(low, width, scale, u):
    dist = Int(low, low + width + 1, scale=scale)
    value = dist.from_unit(u)
    assert isinstance(value, int) and dist.contains(value)
    assert dist.from_unit(dist.to_unit(value)) == value


@given(st.lists(st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none()), min_size=1, max_size=8,
                unique_by=lambda c: (type(c), c)))
def test_categorical_round_trips_every_choice(choices):
    dist = Categorical(tuple(choices))
    for choice in choices:
        back = dist.from_unit(dist.to_unit(choice))
        assert type(back) is type(choice) and back == choice


# -- statistics: samples are uniform on their scale ------------------------------------------------

N = 4000


def _sample(suggest, seed=7):
    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=seed))
    values = []
    for _ in range(N):
        trial = study.ask()
        values.append(suggest(trial))
        study.tell(trial, 0.0)
    return np.array(values, dtype=float)


def test_log_float_is_uniform_in_log10():
    lr = _sample(lambda t: t.suggest_float("lr", 1e-4, 1.0, scale="log"))
    assert stats.kstest(np.log10(lr), stats.uniform(loc=-4, scale=4).cdf).pvalue > 1e-3
    # and clearly not uniform on the raw range: that would put ~90% of samples above 0.1
    assert 0.2 < np.mean(lr > 0.1) < 0.3


def test_log1m_float_is_uniform_in_log10_of_one_minus_beta():
    beta = _sample(lambda t: t.suggest_float("beta", 0.9, 0.999, scale="log1m"))
    assert stats.kstest(np.log10(1 - beta), stats.uniform(loc=-3, scale=2).cdf).pvalue > 1e-3
    assert 0.45 < np.mean(beta > 0.99) < 0.55  # half the samples in [0.99, 0.999], as the seed wants


def test_log_int_is_uniform_in_log10_for_large_ranges():
    n = _sample(lambda t: t.suggest_int("n", 1000, 1_000_000, scale="log"))
    assert stats.kstest(np.log10(n), stats.uniform(loc=3, scale=3).cdf).pvalue > 1e-3


def test_log_int_matches_its_exact_distribution():
    units = _sample(lambda t: t.suggest_int("units", 1, 1000, scale="log")).astype(int)
    edges = [(1, 9), (10, 99), (100, 1000)]
    total = math.log(1000.5) - math.log(0.5)
    expected = [N * (math.log(hi + 0.5) - math.log(lo - 0.5)) / total for lo, hi in edges]
    observed = [np.sum((units >= lo) & (units <= hi)) for lo, hi in edges]
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_linear_int_and_categorical_are_uniform():
    k = _sample(lambda t: t.suggest_int("k", 0, 9)).astype(int)
    assert stats.chisquare(np.bincount(k, minlength=10)).pvalue > 1e-3
    c = _sample(lambda t: ["a", "b", "c"].index(t.suggest_categorical("c", ["a", "b", "c"])))
    assert stats.chisquare(np.bincount(c.astype(int), minlength=3)).pvalue > 1e-3
