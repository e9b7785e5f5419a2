"""The scikit-learn search benchmark: its distributions, its interleaving, and one tiny run of the whole command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna_integration")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import sklearn_search as bench


def _tiny() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=240, n_features=6, random_state=0)


TINY = bench.Problem("tiny", _tiny, bench.PROBLEMS["sgd"].estimator, bench.PROBLEMS["sgd"].params, "max_iter", 9,
                     partial_fit=True)


def test_a_log_integer_is_an_integer_in_range_on_every_decade() -> None:
    param = bench.Param("leaf", 5, 500, log=True, integer=True)
    rng = np.random.default_rng(0)
    values = [param.scipy().rvs(random_state=rng) for _ in range(400)]
    assert all(isinstance(v, int) and 5 <= v <= 500 for v in values)
    assert 0.2 < np.mean(np.array(values) < 50) < 0.7  # log scale: about half below the geometric middle
    assert param.optuna().log and param.zoomtune().scale.value == "log"


def test_each_seed_runs_the_methods_in_another_order() -> None:
    names = ["a", "b", "c"]
    assert [bench.rotated(names, s) for s in range(4)] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"],
                                                          ["a", "b", "c"]]


def test_one_tiny_run_has_a_row_per_method_and_reads_back_its_cache(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.PROBLEMS, "tiny", TINY)
    cache = tmp_path / "runs.jsonl"
    argv = ["--seeds", "1", "--problems", "tiny", "--candidates", "4", "--cache", str(cache)]
    text = bench.main(argv)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]
    per_problem = [r for r in rows if r[0] == "tiny"]
    assert [r[1] for r in per_problem] == list(bench.METHODS)  # every method applies to the tiny problem
    baseline = per_problem[0]
    assert baseline[6:] == ["1.00x", "+0.0000"]
    for row in per_problem:
        test = float(row[4].split()[0])
        assert 0.5 < test <= 1.0 and float(row[5].split()[0]) > 0
    overall = [r for r in rows if r[0] in bench.METHODS]
    assert len(overall) == len(bench.METHODS) and overall[0][1] == "1"
    assert len(cache.read_text().splitlines()) == len(bench.METHODS)
    assert [r for r in (line for line in bench.main(argv).splitlines()) if r.startswith("| tiny")] == \
        [line for line in text.splitlines() if line.startswith("| tiny")]  # read back, not rerun
    assert len(cache.read_text().splitlines()) == len(bench.METHODS)
