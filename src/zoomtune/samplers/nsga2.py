"""NSGA-II (Deb et al. 2002) in the unit cube, for one or several objectives, with Deb's constraint rule.

Trials are grouped into generations by number: generation g is trials [g P, (g + 1) P) for a
population of P. Generation 0 is uniform. A trial of a later generation breeds one child from the
*elite*: the best P of the finished trials of earlier generations, by constrained non-domination
rank and then crowding distance. Two parents are picked by binary tournaments on (rank, crowding);
numeric coordinates are crossed by bounded SBX and categorical ones swapped (a choice's cell is
never blended with another's), then every coordinate may mutate (polynomial mutation for numeric
ones, a fresh choice for categorical ones).

With no declared space the joint space is the union of the parameters of every COMPLETE trial
(`union_space`), so the trials of every branch of a define-by-run objective breed together, and a trial
keeps only the parameters its objective asked for (`records_asked_only`). A parent that lacks a
coordinate (a branch it did not take) takes it from a donor, a tournament winner among the members that
have it; a trial counts as a repeat of a member when it matches every coordinate the member has.

The elite is computed from the history each time, not kept in memory, so any process proposes the
same child for the same trial number, and every draw comes from `Sampler.rng(number, ...)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zoomtune.errors import require_int, require_number
from zoomtune.pareto import crowding_distance, non_dominated_ranks
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.samplers.base import SampleContext, Sampler, union_space
from zoomtune.space import Categorical, Distribution, Space

_OWNER = "NSGA2Sampler"


@dataclass(frozen=True)
class _Elite:
    """The surviving population: unit-cube points with each one's rank and crowding distance."""

    points: np.ndarray  # (n, d)
    ranks: np.ndarray  # (n,)
    crowding: np.ndarray  # (n,)

    def tournament(self, rng: np.random.Generator, among: np.ndarray | None = None) -> np.ndarray:
        """Binary tournament (among these members, default all): the lower rank wins, then the larger crowding
        distance, then the first drawn."""
        a, b = (int(i) for i in rng.integers(len(self.points), size=2)) if among is None else rng.choice(among, 2)
        if (self.ranks[b], -self.crowding[b]) < (self.ranks[a], -self.crowding[a]):
            a = b
        return np.asarray(self.points[a])

    def completed(self, parent: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The parent with each coordinate it lacks (a branch it did not take) taken from a donor: the winner of
        a tournament among the members that have it (a fresh uniform draw when none has). So each conditional
        coordinate evolves over the trials that have it, as if the parent had carried the donor's."""
        parent = parent.copy()
        for j in np.flatnonzero(np.isnan(parent)):
            among = np.flatnonzero(~np.isnan(self.points[:, j]))
            parent[j] = self.tournament(rng, among)[j] if len(among) else rng.random()
        return parent


def _minimised(trial: TrialRecord, signs: np.ndarray) -> np.ndarray | None:
    """A finished trial's values, sign-flipped so that every objective is minimised; None when unusable."""
    values = trial.values
    if trial.state is not TrialState.COMPLETE or values is None or len(values) != len(signs):
        return None
    vector = signs * np.asarray(values, dtype=float)
    return vector if np.isfinite(vector).all() else None


def _in_space(trial: TrialRecord, space: Space, partial: bool) -> bool:
    """Whether the trial has every parameter of `space` (`partial`: at least one), each inside its distribution."""
    present = [name for name in space if name in trial.params]
    if len(present) < (1 if partial else len(space)):
        return False
    return all(space[name].contains(trial.params[name]) for name in present)


def _unit(trial: TrialRecord, space: Space) -> list[float]:
    """The trial's point in the unit cube, NaN for a parameter it lacks."""
    return [dist.to_unit(trial.params[name]) if name in trial.params else math.nan for name, dist in space.items()]


def select_elite(values: np.ndarray, violations: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NSGA-II's survivor selection: indices of the best `size` rows of `values` (minimised) by constrained rank,
    the last front cut by crowding distance (largest first, ties by position), with every survivor's rank and
    crowding distance within its front."""
    ranks = non_dominated_ranks(values, violations)
    crowding = np.zeros(len(values))
    for rank in np.unique(ranks):
        front = np.flatnonzero(ranks == rank)
        crowding[front] = crowding_distance(values[front])
    order = np.lexsort((np.arange(len(values)), -crowding, ranks))[:size]
    return order, ranks[order], crowding[order]


def sbx_pair(x1: float, x2: float, u: float, eta: float) -> tuple[float, float]:
    """Bounded simulated binary crossover on [0, 1] (Deb & Agrawal 1995, with Deb's bounds correction): two
    children spread around the parents as a distribution whose sharpness grows with `eta`, never outside [0, 1]."""
    low, high = min(x1, x2), max(x1, x2)
    gap = high - low
    if gap < 1e-14:
        return x1, x2
    exponent = 1.0 / (eta + 1.0)

    def spread(beta: float) -> float:
        alpha = 2.0 - beta ** -(eta + 1.0)
        if u <= 1.0 / alpha:
            return float((u * alpha) ** exponent)
        return float((1.0 / (2.0 - u * alpha)) ** exponent)

    first = 0.5 * (low + high - spread(1.0 + 2.0 * low / gap) * gap)
    second = 0.5 * (low + high + spread(1.0 + 2.0 * (1.0 - high) / gap) * gap)
    return min(max(first, 0.0), 1.0), min(max(second, 0.0), 1.0)


def polynomial_mutation(x: float, u: float, eta: float) -> float:
    """Bounded polynomial mutation on [0, 1] (Deb & Goyal 1996): a step towards either face, mostly small for a
    large `eta`, that never leaves the interval."""
    exponent = 1.0 / (eta + 1.0)
    if u < 0.5:
        value = 2.0 * u + (1.0 - 2.0 * u) * (1.0 - x) ** (eta + 1.0)
        step = value ** exponent - 1.0
    else:
        value = 2.0 * (1.0 - u) + 2.0 * (u - 0.5) * x ** (eta + 1.0)
        step = 1.0 - value ** exponent
    return min(max(x + float(step), 0.0), 1.0)


#: how many forced mutations a child that repeats a member of the population gets before it is kept anyway
_MAX_RETRIES = 16


def _snapped(point: np.ndarray, n_choices: list[int]) -> list[float]:
    """The point with each categorical coordinate moved to the middle of its choice's cell (NaN stays NaN)."""
    return [(min(int(u * k), k - 1) + 0.5) / k if k and not math.isnan(u) else float(u)
            for u, k in zip(point, n_choices, strict=True)]


class _Taken:
    """The values of the population's members, to tell whether a child repeats one: a member that lacks a
    coordinate matches whatever the child has there (the child's objective would not ask for it either)."""

    def __init__(self, space: Space, points: np.ndarray, n_choices: list[int]) -> None:
        self.space = space
        self.whole: set[tuple[object, ...]] = set()
        self.partial: list[tuple[object, ...]] = []
        for point in points:
            values = self._values(_snapped(point, n_choices))
            if any(v is None for v in values):
                self.partial.append(values)
            else:
                self.whole.add(values)

    def _values(self, point: Sequence[float]) -> tuple[object, ...]:
        return tuple(None if math.isnan(u) else dist.from_unit(u) for u, dist in zip(point, self.space.values(),
                                                                                      strict=True))

    def __contains__(self, point: Sequence[float]) -> bool:
        values = self._values(point)
        return values in self.whole or any(all(m is None or m == v for m, v in zip(member, values, strict=True))
                                           for member in self.partial)


class NSGA2Sampler(Sampler):
    """NSGA-II over the (declared or inferred) joint space; see the module's docstring.

    `population_size` P trials make a generation; `crossover_prob` is the chance a child is bred by
    crossover rather than copied from its first parent; `swap_prob` the chance a categorical coordinate
    comes from the second parent in a crossover; `mutation_prob` each coordinate's chance to mutate (None:
    1 / d; a child that repeats a member of the population is mutated until it is new, unless this is 0);
    `eta_c` and `eta_m` the distribution indices of SBX and polynomial mutation (larger: children
    nearer their parents). A single-objective study ranks by value, so this is a plain genetic algorithm.
    """

    uses_history = True
    records_asked_only = True

    def __init__(self, population_size: int = 50, crossover_prob: float = 0.9, swap_prob: float = 0.5,
                 mutation_prob: float | None = None, eta_c: float = 20.0, eta_m: float = 20.0,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.population_size: int = require_int(_OWNER, "population_size", population_size, 2)
        self.crossover_prob = require_number(_OWNER, "crossover_prob", crossover_prob, 0.0, 1.0)
        self.swap_prob = require_number(_OWNER, "swap_prob", swap_prob, 0.0, 1.0)
        self.mutation_prob = (None if mutation_prob is None
                              else require_number(_OWNER, "mutation_prob", mutation_prob, 0.0, 1.0))
        self.eta_c = require_number(_OWNER, "eta_c", eta_c, 0.0)
        self.eta_m = require_number(_OWNER, "eta_m", eta_m, 0.0)

    def joint_space(self, history: list[TrialRecord]) -> Space | None:
        return union_space(history)

    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        return self._propose(space, context, "nsga2", partial=context.declared_space is None)

    def sample_one(self, name: str, dist: Distribution, context: SampleContext) -> float:
        return self._propose(Space({name: dist}), context, "nsga2:" + name, partial=False)[0]

    def _elite(self, space: Space, context: SampleContext, partial: bool) -> _Elite | None:
        """The best P COMPLETE trials of the generations before this trial's, or None when fewer than two; with
        `partial`, trials lacking some of the space's parameters count (NaN there)."""
        first_of_generation = context.number // self.population_size * self.population_size
        signs = np.array([1.0 if d is Direction.MINIMIZE else -1.0 for d in context.directions])
        points, values, violations = [], [], []
        for trial in sorted(context.history(), key=lambda t: t.number):
            vector = _minimised(trial, signs)
            if trial.number >= first_of_generation or vector is None or not _in_space(trial, space, partial):
                continue
            points.append(_unit(trial, space))
            values.append(vector)
            violations.append(trial.violation)
        if len(points) < 2:
            return None
        chosen, ranks, crowding = select_elite(np.array(values), np.array(violations), self.population_size)
        return _Elite(np.array(points, dtype=float)[chosen], ranks, crowding)

    def _propose(self, space: Space, context: SampleContext, key: str, partial: bool) -> list[float]:
        rng = self.rng(context.number, key)
        n_choices = [len(dist.choices) if isinstance(dist, Categorical) else 0 for dist in space.values()]
        elite = self._elite(space, context, partial) if context.number >= self.population_size else None
        if elite is None:
            return _snapped(rng.random(len(space)), n_choices)
        child = _snapped(self._child(elite, n_choices, context.number, rng), n_choices)
        # A child equal to a member of the population (no crossover and no mutation, or integer and categorical
        # coordinates that round back) would spend a trial on a known result: mutate it until it is new
        # (unless mutation is off).
        if self.mutation_prob == 0.0:
            return child
        taken = _Taken(space, elite.points, n_choices)
        for _ in range(_MAX_RETRIES):
            if child not in taken:
                break
            j = int(rng.integers(len(child)))
            fresh = rng.random()
            child[j] = fresh if n_choices[j] else polynomial_mutation(child[j], rng.random(), self.eta_m)
            child = _snapped(np.array(child), n_choices)
        return child

    def _child(self, elite: _Elite, n_choices: list[int], number: int, rng: np.random.Generator) -> np.ndarray:
        """One child of two tournament winners: crossover (maybe), then mutation, in the unit cube."""
        parents = self.rng(number, "nsga2-parents")  # shared by every parameter of the trial
        first, second = elite.tournament(parents), elite.tournament(parents)
        if np.isnan(first).any() or np.isnan(second).any():
            donors = self.rng(number, "nsga2-donors")
            first, second = elite.completed(first, donors), elite.completed(second, donors)
        child = first.copy()
        d = len(n_choices)
        if rng.random() < self.crossover_prob:
            for j, k in enumerate(n_choices):
                u, pick = rng.random(), rng.random()
                if k:
                    child[j] = second[j] if pick < self.swap_prob else first[j]
                else:
                    child[j] = sbx_pair(float(first[j]), float(second[j]), u, self.eta_c)[int(pick < 0.5)]
        mutation_prob = 1.0 / d if self.mutation_prob is None else self.mutation_prob
        for j, k in enumerate(n_choices):
            u, fresh = rng.random(), rng.random()
            if u < mutation_prob:
                child[j] = fresh if k else polynomial_mutation(float(child[j]), rng.random(), self.eta_m)
        return np.asarray(child, dtype=float)

    def __repr__(self) -> str:
        mutation = "1/d" if self.mutation_prob is None else f"{self.mutation_prob:g}"
        return (f"NSGA2Sampler(population_size={self.population_size}, crossover_prob={self.crossover_prob:g}, "
                f"swap_prob={self.swap_prob:g}, mutation_prob={mutation}, eta_c={self.eta_c:g}, "
                f"eta_m={self.eta_m:g}, seed={self.seed})")


__all__ = ["NSGA2Sampler", "polynomial_mutation", "sbx_pair", "select_elite"]
