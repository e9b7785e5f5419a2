"""The sampler interface: propose a point of the unit cube from the history of finished trials.

A sampler never sees a scale: the study maps its point through each distribution's
`from_unit`. Randomness comes from `Sampler.rng(number, key)`, a generator seeded by the
sampler's seed, the trial number and the parameter name, so the same seed gives the same
trials in any process and in any order of `suggest_*` calls.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from zoomtune.records import Direction, TrialRecord
from zoomtune.space import Space


@dataclass(frozen=True)
class SampleContext:
    """What a sampler may look at when it proposes trial `number`."""

    number: int
    direction: Direction
    declared_space: Space | None = None
    history: Callable[[], list[TrialRecord]] = field(default=lambda: [], repr=False)


def key_of(name: str) -> int:
    """A stable integer for a parameter name (Python's str hash changes between processes)."""
    return zlib.crc32(name.encode("utf-8"))


def fresh_seed() -> int:
    """A random 63-bit seed, for samplers created without one (kept, so a run can be repeated)."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


class Sampler(ABC):
    """Proposes points in [0, 1]^d. Subclasses implement `sample` in a few dozen lines."""

    #: True when `sample` reads `context.history` (the study then infers a joint space for it).
    uses_history: bool = False

    def __init__(self, seed: int | None = None) -> None:
        self.seed: int = fresh_seed() if seed is None else int(seed)

    def rng(self, number: int, *keys: str) -> np.random.Generator:
        """A generator that depends only on (seed, trial number, keys)."""
        return np.random.default_rng([self.seed, number, *(key_of(k) for k in keys)])

    @abstractmethod
    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        """One point of [0, 1]^len(space), coordinates in the space's order."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"


__all__ = ["SampleContext", "Sampler", "fresh_seed", "key_of"]
