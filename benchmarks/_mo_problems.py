"""The computed problems of `multi_objective.py`: ZDT1, ZDT2 (2 objectives) and DTLZ2 (3 objectives).

Each is defined on the unit cube ``u in [0, 1]^d`` as in the literature (every objective minimised),
but the sampler sees hyperparameter-like parameters: some on a log scale (a learning rate), some on
log1m (a momentum close to 1), the rest linear. Each parameter maps monotonically onto one
coordinate of ``u`` through its scale (`_problems._unit`), so a sampler that samples on the
parameter's scale samples ``u`` uniformly and one that ignores the scale crowds ``u`` towards one end.

Known optima, used by the tests and to print each problem's ceiling:
- ZDT1 / ZDT2: the Pareto set is ``u[1:] = 0`` (here: every parameter but the first at its lower
  bound), where ``f2 = 1 - sqrt(f1)`` (ZDT1, convex) or ``f2 = 1 - f1**2`` (ZDT2, concave), f1 in [0, 1].
- DTLZ2: the Pareto set is ``u[2:] = 0.5``, where the objectives lie on the unit sphere's positive octant.
Hypervolumes are normalised (`zoomtune.pareto.normalized_hypervolume`) with ideal 0 and reference
1.1 x `scale` per objective, where `scale` is the objective's extent: DTLZ2's front spans [0, 1] in
each objective (reference (1.1, 1.1, 1.1)); for ZDT it is the objective's range over the cube, 1 for
f1 and 10 for f2 (reference (1.1, 11)), because with 100-300 trials in 8 dimensions almost no point
has f2 < 1.1 (g is 1 + 9 x the mean of 7 coordinates): against (1.1, 1.1) every run of every method
but one scored 0 in a --quick trial run. The best reachable normalised hypervolume is `ceiling()` (below 1).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _problems import Param, _unit

import zoomtune as zt
from zoomtune import pareto

UnitFunction = Callable[[np.ndarray], np.ndarray]


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


@dataclass
class MOProblem:
    """A multi-objective problem over named parameters, each mapped onto one coordinate of the unit cube."""

    name: str
    params: list[Param]
    function: UnitFunction  # on the unit cube, every objective minimised
    front: Callable[[int], np.ndarray]  # n points of the true Pareto front (for the ceiling)
    scale: tuple[float, ...]  # each objective's extent: the reference point is 1.1 x this
    note: str = ""
    space: zt.Space = field(init=False)

    def __post_init__(self) -> None:
        self.space = zt.Space({p.name: zt.Float(p.low, p.high, scale=p.scale) for p in self.params})

    @property
    def objectives(self) -> int:
        return len(self.scale)

    @property
    def reference(self) -> tuple[float, ...]:
        return tuple(1.1 * s for s in self.scale)

    @property
    def ideal(self) -> tuple[float, ...]:
        return (0.0,) * self.objectives

    def to_unit(self, params: Mapping[str, Any]) -> np.ndarray:
        # Clipped: float rounding at a bound must not step outside the cube (ZDT takes a square root).
        return np.clip([_unit(p, float(params[p.name])) for p in self.params], 0.0, 1.0)

    def params_at(self, u: np.ndarray) -> dict[str, float]:
        return {p.name: from_unit(p, float(x)) for p, x in zip(self.params, u, strict=True)}

    def evaluate(self, params: Mapping[str, Any]) -> tuple[float, ...]:
        return tuple(float(v) for v in self.function(self.to_unit(params)))

    def score(self, values: np.ndarray) -> float:
        """Normalised hypervolume of `values` (n x objectives), 0 for no point."""
        if not len(values):
            return 0.0
        return pareto.normalized_hypervolume(values, self.reference, self.ideal)

    def ceiling(self) -> float:
        """The normalised hypervolume of the true front (dense sample): the most a sampler can reach."""
        return self.score(self.front(2000 if self.objectives == 2 else 60))


def _zdt_front(shape: Callable[[np.ndarray], np.ndarray]) -> Callable[[int], np.ndarray]:
    def front(n: int) -> np.ndarray:
        f1 = np.linspace(0.0, 1.0, n)
        return np.column_stack([f1, shape(f1)])
    return front


def _sphere_front(n: int) -> np.ndarray:
    """n x n points of the unit sphere's positive octant."""
    a, b = np.meshgrid(np.linspace(0, math.pi / 2, n), np.linspace(0, math.pi / 2, n))
    return np.column_stack([(np.cos(a) * np.cos(b)).ravel(), (np.cos(a) * np.sin(b)).ravel(), np.sin(a).ravel()])


# The parameters: a few hyperparameter-like ones first (the ones that shape the front), then linear fillers.
_ZDT_PARAMS = [Param("lr", "float", 1e-5, 1.0, "log"), Param("beta", "float", 0.8, 0.9999, "log1m"),
               Param("weight_decay", "float", 1e-6, 1e-1, "log"), Param("momentum", "float", 0.5, 0.999, "log1m"),
               Param("dropout", "float", 0.0, 0.5), Param("warmup", "float", 0.0, 1.0),
               Param("label_smoothing", "float", 0.0, 0.3), Param("clip", "float", 0.1, 10.0, "log")]
_DTLZ_PARAMS = [Param("lr", "float", 1e-5, 1.0, "log"), Param("beta", "float", 0.8, 0.9999, "log1m"),
                Param("weight_decay", "float", 1e-6, 1e-1, "log"), Param("momentum", "float", 0.5, 0.999, "log1m"),
                Param("dropout", "float", 0.0, 0.5), Param("warmup", "float", 0.0, 1.0),
                Param("clip", "float", 0.1, 10.0, "log")]


def problems() -> dict[str, MOProblem]:
    """The catalogue, by name."""
    scales = "3 log, 2 log1m, 3 linear"
    found = [
        MOProblem("ZDT1 (8-d)", _ZDT_PARAMS, zdt1, _zdt_front(lambda f1: 1 - np.sqrt(f1)), (1.0, 10.0),
                  f"2 objectives, convex front; {scales}"),
        MOProblem("ZDT2 (8-d)", _ZDT_PARAMS, zdt2, _zdt_front(lambda f1: 1 - f1 ** 2), (1.0, 10.0),
                  f"2 objectives, concave front; {scales}"),
        MOProblem("DTLZ2 (7-d)", _DTLZ_PARAMS, dtlz2, _sphere_front, (1.0, 1.0, 1.0),
                  "3 objectives, spherical front, Pareto set in the interior; 3 log, 2 log1m, 2 linear"),
    ]
    return {p.name: p for p in found}
