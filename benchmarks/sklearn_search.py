"""scikit-learn searches at the same candidate budget: RandomizedSearchCV, HalvingRandomSearchCV, Optuna's
OptunaSearchCV and zoomtune's ZoomSearchCV (random, TPE, ASHA over n_samples and over an iteration count).

    python benchmarks/sklearn_search.py                        # as in docs/sklearn_search.md (5 seeds, 4 problems)
    python benchmarks/sklearn_search.py --seeds 3 --problems digits-svc,sgd
    python benchmarks/sklearn_search.py --cache sk.jsonl       # resume an interrupted run

Every method gets `--candidates` (default 27) candidates, cv=3, accuracy, n_jobs=1 and one BLAS/OpenMP thread
(set before numpy is imported), on a stratified 75/25 train/test split drawn per seed. Per run it records the
search's `best_score_`, the held-out accuracy of its refit `best_estimator_` (what the user gets) and the wall
time of `fit` (search and refit). Runs are interleaved: for each seed, each problem, the methods in an order
rotated by the seed, so a busy spell of the machine does not fall on one method. Medians over seeds, spread
min-max; `time x` is the median over seeds of (method's time / RandomizedSearchCV's time on the same seed and
split), `test diff` the median of the per-seed differences in test accuracy (method - RandomizedSearchCV).

A halving method's `best_score_` is its score at its last rung; over n_samples that rung may be a subsample of the
training folds, so its best CV score does not compare with the others': the test column does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported: its BLAS reads them once

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cached_rows, header, markdown_table, use_repo_src  # noqa: E402

use_repo_src()

CV = 3
FACTOR = 3


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter, translated to each library's distributions."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def scipy(self) -> Any:
        from scipy import stats

        if self.integer:
            return _LogInt(int(self.low), int(self.high)) if self.log else stats.randint(int(self.low),
                                                                                         int(self.high) + 1)
        return stats.loguniform(self.low, self.high) if self.log else stats.uniform(self.low, self.high - self.low)

    def optuna(self) -> Any:
        from optuna.distributions import FloatDistribution, IntDistribution

        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)

    def zoomtune(self) -> Any:
        import zoomtune as zt

        scale = "log" if self.log else "linear"
        return zt.Int(int(self.low), int(self.high), scale=scale) if self.integer else zt.Float(self.low, self.high,
                                                                                               scale=scale)


class _LogInt:
    """An integer uniform on a log scale, for RandomizedSearchCV (scipy has no such distribution)."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def rvs(self, random_state: Any = None) -> int:
        from scipy import stats

        value = stats.loguniform(self.low - 0.5, self.high + 0.5).rvs(random_state=random_state)
        return int(min(self.high, max(self.low, round(value))))


@dataclass(frozen=True)
class Problem:
    """A data set, an estimator and its space; `iterations` names the estimator's iteration count (a resource for
    halving, None when it has none) and `iter_max` its full value; `partial_fit`: Optuna's pruning applies."""

    name: str
    data: Callable[[], tuple[np.ndarray, np.ndarray]]
    estimator: Callable[[], Any]
    params: tuple[Param, ...]
    iterations: str | None = None
    iter_max: int | None = None
    partial_fit: bool = False


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


def _noisy(n_samples: int, n_features: int, n_informative: int) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def make() -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import make_classification

        return make_classification(n_samples=n_samples, n_features=n_features, n_informative=n_informative,
                                   flip_y=0.08, class_sep=0.8, random_state=0)
    return make


def _svc() -> Any:
    from sklearn.svm import SVC

    return SVC()


def _logreg() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(solver="saga", max_iter=100, tol=1e-3))])


def _hgb() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=81, early_stopping=False, random_state=0)


def _sgd() -> Any:
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", penalty="elasticnet", max_iter=27, tol=None, random_state=0)


PROBLEMS: dict[str, Problem] = {p.name: p for p in (
    Problem("digits-svc", _digits, _svc, (Param("C", 1e-2, 1e3, log=True), Param("gamma", 1e-5, 1e-1, log=True))),
    Problem("cancer-logreg", _breast_cancer, _logreg,
            (Param("clf__C", 1e-3, 1e2, log=True), Param("clf__l1_ratio", 0.0, 1.0)), "clf__max_iter", 100),
    Problem("hgb", _noisy(1500, 20, 6), _hgb,
            (Param("learning_rate", 1e-2, 0.5, log=True), Param("max_depth", 2, 8, integer=True),
             Param("min_samples_leaf", 5, 100, log=True, integer=True)), "max_iter", 81),
    Problem("sgd", _noisy(3000, 30, 10), _sgd,
            (Param("alpha", 1e-6, 1e-1, log=True), Param("l1_ratio", 0.0, 1.0)), "max_iter", 27, partial_fit=True),
)}


@dataclass(frozen=True)
class Run:
    """One search's outcome on one problem and seed."""

    problem: str
    method: str
    seed: int
    candidates: int
    best_cv: float
    test: float
    seconds: float


Search = Callable[[Problem, int, int], Any]  # (problem, seed, candidates) -> an unfitted search


def _random(problem: Problem, seed: int, n: int) -> Any:
    from sklearn.model_selection import RandomizedSearchCV

    space = {p.name: p.scipy() for p in problem.params}
    return RandomizedSearchCV(problem.estimator(), space, n_iter=n, cv=CV, n_jobs=1, random_state=seed)


def _halving(resource: str | None, exhaust: bool) -> Search:
    def make(problem: Problem, seed: int, n: int) -> Any:
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingRandomSearchCV

        space = {p.name: p.scipy() for p in problem.params}
        extra: dict[str, Any] = {} if resource is None else {"resource": resource, "max_resources": problem.iter_max}
        return HalvingRandomSearchCV(problem.estimator(), space, n_candidates=n, factor=FACTOR, cv=CV, n_jobs=1,
                                     random_state=seed, min_resources="exhaust" if exhaust else "smallest",
                                     return_train_score=False, **extra)
    return make


def _optuna(pruning: bool) -> Search:
    def make(problem: Problem, seed: int, n: int) -> Any:
        import optuna
        from optuna_integration import OptunaSearchCV

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        space = {p.name: p.optuna() for p in problem.params}
        extra: dict[str, Any] = {"enable_pruning": True, "max_iter": problem.iter_max} if pruning else {}
        return OptunaSearchCV(problem.estimator(), space, n_trials=n, cv=CV, n_jobs=1, random_state=seed, **extra)
    return make


def _zoom(sampler: str, resource: str | None) -> Search:
    def make(problem: Problem, seed: int, n: int) -> Any:
        import zoomtune as zt
        from zoomtune.integrations.sklearn import ZoomSearchCV

        space = {p.name: p.zoomtune() for p in problem.params}
        chosen = zt.samplers.TPESampler(seed=seed) if sampler == "tpe" else None
        name = {None: None, "n_samples": "n_samples", "iterations": problem.iterations}[resource]
        top = problem.iter_max if resource == "iterations" else None
        return ZoomSearchCV(problem.estimator(), space, n_trials=n, sampler=chosen, cv=CV, n_jobs=1,
                            random_state=seed, resource=name, max_resource=top)
    return make


@dataclass(frozen=True)
class Method:
    """A named search and the problems it applies to."""

    name: str
    make: Search
    applies: Callable[[Problem], bool] = lambda problem: True


def _iterative(problem: Problem) -> bool:
    return problem.iterations is not None


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("sklearn Random", _random),
    Method("sklearn Halving", _halving(None, exhaust=False)),
    Method("sklearn Halving exhaust", _halving(None, exhaust=True)),
    Method("sklearn Halving iters", lambda p, s, n: _halving(p.iterations, exhaust=True)(p, s, n), _iterative),
    Method("Optuna TPE", _optuna(pruning=False)),
    Method("Optuna TPE pruning", _optuna(pruning=True), lambda problem: problem.partial_fit),
    Method("zt Random", _zoom("random", None)),
    Method("zt TPE", _zoom("tpe", None)),
    Method("zt ASHA n_samples", _zoom("random", "n_samples")),
    Method("zt ASHA iters", _zoom("random", "iterations"), _iterative),
)}
BASELINE = "sklearn Random"


def run_one(problem: Problem, method: Method, seed: int, candidates: int) -> Run:
    """Fit `method`'s search on `problem`'s training split for `seed`; its best CV score, test score and time."""
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    X, y = problem.data()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of saga / SGD at small max_iter, Optuna's experimental
        search = method.make(problem, seed, candidates)
        start = time.perf_counter()
        search.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        test = float(search.score(X_test, y_test))
    return Run(problem.name, method.name, seed, candidates, float(search.best_score_), test, seconds)


def rotated(methods: list[str], seed: int) -> list[str]:
    """`methods` starting at position `seed` (mod their number), so each seed runs them in another order."""
    k = seed % len(methods)
    return methods[k:] + methods[:k]


def run_all(problems: list[str], methods: list[str], seeds: int, candidates: int, cache: str | None) -> list[Run]:
    """Every (problem, method, seed) run, read from `cache` when there, else run and appended to it."""
    done = {(r["problem"], r["method"], r["seed"], r["candidates"]): Run(**r) for r in cached_rows(cache)}
    runs = []
    for seed in range(seeds):
        for name in problems:
            problem = PROBLEMS[name]
            for method_name in rotated(methods, seed):
                method = METHODS[method_name]
                if not method.applies(problem):
                    continue
                key = (name, method_name, seed, candidates)
                if key not in done:
                    done[key] = run_one(problem, method, seed, candidates)
                    print(f"  {name:14s} seed {seed} {method_name:24s} test {done[key].test:.4f} "
                          f"{done[key].seconds:6.2f} s", file=sys.stderr, flush=True)
                    if cache:
                        with open(cache, "a", encoding="utf-8") as fh:
                            fh.write(json.dumps(asdict(done[key])) + "\n")
                runs.append(done[key])
    return runs


def _spread(values: Iterable[float], digits: int) -> str:
    """'median [min-max]'."""
    xs = sorted(values)
    return f"{statistics.median(xs):.{digits}f} [{xs[0]:.{digits}f}-{xs[-1]:.{digits}f}]"


@dataclass(frozen=True)
class Summary:
    """One method on one problem over the seeds, against RandomizedSearchCV on the same seeds."""

    problem: str
    method: str
    seeds: int
    best_cv: str
    test: str
    seconds: str
    time_ratio: float | None
    test_diff: float | None


def summarise(runs: list[Run], problems: list[str], methods: list[str]) -> list[Summary]:
    """The per-(problem, method) medians and spreads, and the per-seed ratios vs the baseline."""
    by: dict[tuple[str, str], dict[int, Run]] = {}
    for run in runs:
        by.setdefault((run.problem, run.method), {})[run.seed] = run
    out = []
    for problem in problems:
        base = by.get((problem, BASELINE), {})
        for method in methods:
            mine = by.get((problem, method))
            if not mine:
                continue
            paired = [s for s in mine if s in base]
            ratio = statistics.median(mine[s].seconds / base[s].seconds for s in paired) if paired else None
            diff = statistics.median(mine[s].test - base[s].test for s in paired) if paired else None
            rows = list(mine.values())
            out.append(Summary(problem, method, len(rows), _spread((r.best_cv for r in rows), 3),
                               _spread((r.test for r in rows), 3), _spread((r.seconds for r in rows), 2), ratio, diff))
    return out


def _overall(summaries: list[Summary], methods: list[str]) -> list[list[str]]:
    """Per method over the problems it ran on: geometric mean of the time ratios, mean test difference, and on how
    many problems its median test accuracy was at least the baseline's."""
    rows = []
    for method in methods:
        mine = [s for s in summaries if s.method == method and s.time_ratio is not None and s.test_diff is not None]
        if not mine:
            continue
        ratios = [s.time_ratio for s in mine if s.time_ratio is not None]
        diffs = [s.test_diff for s in mine if s.test_diff is not None]
        geo = float(np.exp(np.mean(np.log(ratios))))
        rows.append([method, str(len(mine)), f"{geo:.2f}x", f"{np.mean(diffs):+.4f}",
                     f"{sum(d >= 0 for d in diffs)}/{len(diffs)}"])
    return rows


def tables(summaries: list[Summary], methods: list[str]) -> str:
    """The per-problem table and the overall table, in markdown."""
    rows = [[s.problem, s.method, str(s.seeds), s.best_cv, s.test, s.seconds,
             "-" if s.time_ratio is None else f"{s.time_ratio:.2f}x",
             "-" if s.test_diff is None else f"{s.test_diff:+.4f}"] for s in summaries]
    per_problem = markdown_table(["problem", "method", "seeds", "best CV [min-max]", "test acc [min-max]",
                                  "wall s [min-max]", "time x", "test diff"], rows, "llrrrrrr")
    overall = markdown_table(["method", "problems", "time x (geo mean)", "test diff (mean)", "test >= Random"],
                             _overall(summaries, methods), "lrrrr")
    return per_problem + "\n\n" + overall


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per method and problem (default 5)")
    parser.add_argument("--problems", default=None, help=f"comma-separated, of: {', '.join(PROBLEMS)} (default all)")
    parser.add_argument("--methods", default=None, help=f"comma-separated, of: {', '.join(METHODS)} (default all)")
    parser.add_argument("--candidates", type=int, default=27, help="candidates per search (default 27)")
    parser.add_argument("--cache", default=None, help="JSON-lines file of finished runs (resume)")
    args = parser.parse_args(argv)
    problems = args.problems.split(",") if args.problems else list(PROBLEMS)
    methods = args.methods.split(",") if args.methods else list(METHODS)
    unknown = [m for m in methods if m not in METHODS] + [p for p in problems if p not in PROBLEMS]
    if unknown:
        parser.error(f"unknown method or problem: {', '.join(unknown)}")
    if BASELINE not in methods:
        methods = [BASELINE, *methods]
    start = time.perf_counter()
    runs = run_all(problems, methods, args.seeds, args.candidates, args.cache)
    text = "\n".join([
        header("scikit-learn searches at the same candidate budget", "zoomtune", "sklearn", "optuna",
               "optuna_integration"),
        f"{args.seeds} seeds, {args.candidates} candidates, cv={CV}, 1 thread, n_jobs=1, "
        f"{time.perf_counter() - start:.0f} s wall", "",
        "Median [min-max] over seeds; time x and test diff are per-seed against sklearn Random, then the median:", "",
        tables(summarise(runs, problems, methods), methods)])
    print(text)
    return text


if __name__ == "__main__":
    main()

