"""The sampler interface: propose a point of the unit cube from the history of finished trials.

A sampler never sees a scale: the study maps its point through each distribution's
`from_unit`. Randomness comes from `Sampler.rng(number, key)`, a generator seeded by the
sampler's seed, the trial number and the parameter name, so the same seed gives the same
trials in any process and in any order of `suggest_*` calls.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from zoomtune.records import Direction, Event, EventKind, TrialRecord, TrialState
from zoomtune.seeding import fresh_seed
from zoomtune.space import Distribution, Space


def _no_events(kind: EventKind | None = None) -> list[Event]:
    return []


def _drop_event(event: Event) -> None:
    return None


@dataclass(frozen=True)
class SampleContext:
    """What a sampler may look at when it proposes trial `number`.

    `history()` gives the finished (COMPLETE and STOPPED) trials, loaded once per trial;
    `pending()` the other RUNNING trials (with the parameters they have so far), so parallel
    proposals need not collide; `events(kind)` and `add_event(event)` read and write the
    study's events, so state that must outlive one process (a coarse-to-fine round's box)
    lives in storage.
    """

    number: int
    direction: Direction
    declared_space: Space | None = None
    history: Callable[[], list[TrialRecord]] = field(default=list, repr=False)
    events: Callable[..., list[Event]] = field(default=_no_events, repr=False)
    add_event: Callable[[Event], None] = field(default=_drop_event, repr=False)
    pending: Callable[[], list[TrialRecord]] = field(default=list, repr=False)
    #: every objective's direction in a multi-objective study (`direction` is the first, which a
    #: single-objective rule watches); `(direction,)` otherwise
    directions: tuple[Direction, ...] = ()

    def __post_init__(self) -> None:
        if not self.directions:
            object.__setattr__(self, "directions", (self.direction,))


def inferred_space(history: list[TrialRecord]) -> Space | None:
    """The joint space a history-based sampler models when none was declared: the parameters
    of the latest COMPLETE trial, as the objective last defined them. Older trials whose values
    lie inside it still count (see `history_points`), so narrowing or widening a range in the
    objective keeps the study's past."""
    for trial in reversed(history):
        if trial.state is TrialState.COMPLETE and trial.distributions:
            return Space(trial.distributions)
    return None


def union_space(history: list[TrialRecord]) -> Space | None:
    """The union of the parameters of every COMPLETE trial, the latest trial's first and each parameter as
    last defined: the joint space of a sampler that models every branch of a define-by-run objective at once
    (with `records_asked_only`, so each trial shows which branch it took). On an objective without branches
    it is `inferred_space`'s."""
    union: dict[str, Distribution] = {}
    for trial in reversed(history):
        if trial.state is TrialState.COMPLETE:
            for name, dist in trial.distributions.items():
                union.setdefault(name, dist)
    return Space(union) if union else None


def history_points(space: Space, history: list[TrialRecord], direction: Direction,
                   partial: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Unit-cube points and values of the COMPLETE and STOPPED trials (a stopped trial counts with
    its last value) whose parameters all lie in `space`, values sign-flipped so that lower is
    better whatever the direction. With `partial`, a trial that lacks some of the space's parameters
    (a conditional branch it did not take) counts too, those coordinates NaN."""
    points, values = [], []
    sign = 1.0 if direction is Direction.MINIMIZE else -1.0
    for trial in history:
        if trial.state is TrialState.FAILED or trial.value is None or not np.isfinite(trial.value):
            continue
        present = [name in trial.params for name in space]
        if not (all(present) or (partial and any(present))):
            continue
        if all(dist.contains(trial.params[name]) for name, dist in space.items() if name in trial.params):
            points.append([dist.to_unit(trial.params[name]) if name in trial.params else np.nan
                           for name, dist in space.items()])
            values.append(sign * trial.value)
    return np.array(points, dtype=float).reshape(len(points), len(space)), np.array(values, dtype=float)


@lru_cache(maxsize=4096)
def key_of(name: str) -> int:
    """A stable integer for a parameter name (Python's str hash changes between processes)."""
    return zlib.crc32(name.encode("utf-8"))


_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """SplitMix64's output function (Steele, Lea & Flood 2014): a bijective 64-bit mixer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class Sampler(ABC):
    """Proposes points in [0, 1]^d. Subclasses implement `sample` in a few dozen lines."""

    #: True when `sample` reads `context.history` (the study then infers a joint space for it).
    uses_history: bool = False
    #: True when `joint_space` may span several branches of a define-by-run objective: a trial then keeps
    #: only the parameters its objective asked for, so the sampler can tell which branch each trial took.
    #: False keeps every parameter sampled up front (what `inferred_space` relies on to stay joint).
    records_asked_only: bool = False

    def __init__(self, seed: int | None = None) -> None:
        from zoomtune.errors import require_seed

        seed = require_seed(type(self).__name__, seed)
        self.seed: int = fresh_seed() if seed is None else seed

    def rng(self, number: int, *keys: str) -> np.random.Generator:
        """A generator that depends only on (seed, trial number, keys)."""
        return np.random.default_rng([self.seed, number, *(key_of(k) for k in keys)])

    def uniform(self, number: int, key: str) -> float:
        """One U[0, 1) draw that depends only on (seed, trial number, key): a counter-based hash,
        about ten times cheaper than seeding a generator, for samplers that need one number."""
        mixed = _splitmix64(_splitmix64(_splitmix64(self.seed & _MASK64) ^ number) ^ key_of(key))
        return (mixed >> 11) * 2.0**-53

    def joint_space(self, history: list[TrialRecord]) -> Space | None:
        """The space sampled in one joint draw when none was declared (asked only when `uses_history`):
        by default the latest COMPLETE trial's (`inferred_space`). A sampler that models conditional
        parameters can return more (the union of every branch seen), with `records_asked_only`."""
        return inferred_space(history)

    def sample_one(self, name: str, dist: Distribution, context: SampleContext) -> float:
        """The coordinate of one parameter suggested on the fly (define-by-run)."""
        return float(self.sample(Space({name: dist}), context)[0])

    @abstractmethod
    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        """One point of [0, 1]^len(space), coordinates in the space's order."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"


__all__ = ["SampleContext", "Sampler", "fresh_seed", "history_points", "inferred_space", "key_of", "union_space"]
