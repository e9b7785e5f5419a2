"""The multi-objective benchmark's problems (against their known Pareto fronts), its parameter mapping,
and one tiny run of the whole command (zoomtune Random against Optuna Random)."""

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

RNG_DRAWS = 200


@pytest.mark.parametrize(("function", "shape"), [(mp.zdt1, lambda f1: 1 - math.sqrt(f1)),
                                                 (mp.zdt2, lambda f1: 1 - f1 ** 2)])
def test_zdt_on_its_pareto_set_lies_on_the_known_front(function: mp.UnitFunction,
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
        values = mp.zdt1(u)
        assert values[1] > 1 - math.sqrt(values[0])


def test_dtlz2_on_its_pareto_set_lies_on_the_unit_sphere_and_off_it_outside() -> None:
    rng = np.random.default_rng(1)
    for _ in range(RNG_DRAWS):
        u = rng.random(7)
        assert np.linalg.norm(mp.dtlz2(u)) >= 1.0 - 1e-12
        u[2:] = 0.5
        values = mp.dtlz2(u)
        assert np.linalg.norm(values) == pytest.approx(1.0)
        assert (values >= -1e-12).all()


@pytest.mark.parametrize("name", list(mp.problems()))
def test_the_mapping_round_trips_and_is_monotone(name: str) -> None:
    problem = mp.problems()[name]
    assert {p.scale for p in problem.params} == {"log", "log1m", "linear"}
    rng = np.random.default_rng(2)
    for _ in range(50):
        u = rng.random(len(problem.params))
        params = problem.params_at(u)
        for p in problem.params:
            assert p.low <= params[p.name] <= p.high
        assert problem.to_unit(params) == pytest.approx(u, abs=1e-9)
    for p in problem.params:
        assert mp.from_unit(p, 0.25) < mp.from_unit(p, 0.75)


@pytest.mark.parametrize("name", list(mp.problems()))
def test_the_pareto_set_in_parameters_reaches_the_ceiling(name: str) -> None:
    problem = mp.problems()[name]
    n = len(problem.params)
    rest = 0.0 if problem.objectives == 2 else 0.5
    points = []
    for a in np.linspace(0, 1, 40):
        for b in np.linspace(0, 1, 40 if problem.objectives == 3 else 1):
            u = np.full(n, rest)
            u[0] = a
            if problem.objectives == 3:
                u[1] = b
            points.append(problem.evaluate(problem.params_at(u)))
    ceiling = problem.ceiling()
    assert 0.5 < ceiling < 1.0
    assert problem.score(np.array(points)) == pytest.approx(ceiling, abs=0.01)
    random_values = np.array([problem.function(u) for u in np.random.default_rng(3).random((60, n))])
    assert problem.score(random_values) < ceiling - 0.05


def test_one_tiny_run_prints_both_tables_with_every_column(tmp_path: Path) -> None:
    cache = tmp_path / "runs.jsonl"
    argv = ["--seeds", "1", "--budgets", "5,12", "--methods", "zt Random,Optuna Random", "--jobs", "1",
            "--problems", "ZDT1 (8-d),DTLZ2 (7-d)", "--cache", str(cache)]
    text = multi_objective.main(argv)
    header = next(line for line in text.splitlines() if line.startswith("| problem") and "ceiling" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == ["problem", "ceiling", "trials", "zt Random",
                                                                 "Optuna Random"]
    ratio = next(line for line in text.splitlines() if line.startswith("| problem") and "zt / Optuna" in line)
    assert [c.strip() for c in ratio.strip("|").split("|")] == ["problem", "trials", "best zoomtune", "median HV",
                                                                "best Optuna", "median HV", "zt / Optuna", ">= 1"]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]
    assert [r[:3] for r in rows if r[1] == "12" and r[2] == "zt Random"] == [["ZDT1 (8-d)", "12", "zt Random"],
                                                                            ["DTLZ2 (7-d)", "12", "zt Random"]]
    assert ("PASS" in text) != ("FAIL" in text)
    assert len(cache.read_text().splitlines()) == 4  # 2 problems x 2 methods x 1 seed

    def tables(output: str) -> list[str]:
        return [line for line in output.splitlines() if line.startswith("|")]

    assert tables(multi_objective.main(argv)) == tables(text)  # read back from the cache, not rerun
    assert len(cache.read_text().splitlines()) == 4
