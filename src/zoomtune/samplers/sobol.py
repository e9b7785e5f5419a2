"""Scrambled Sobol sampling: a low-discrepancy sequence that covers the cube more evenly than
random points for the same budget (scipy.stats.qmc). Trial n takes point n of the sequence."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from zoomtune.samplers.base import SampleContext, Sampler, key_of
from zoomtune.space import Space


class SobolSampler(Sampler):
    """Point `number` of a scrambled Sobol sequence seeded by (seed, the space's names)."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self._engines: dict[tuple[str, ...], object] = {}

    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        from scipy.stats import qmc

        names = tuple(space)
        engine = self._engines.get(names)
        if engine is None or engine.num_generated > context.number:  # type: ignore[attr-defined]
            seed = np.random.SeedSequence([self.seed, *(key_of(n) for n in names)])
            engine = qmc.Sobol(len(names), scramble=True, seed=np.random.default_rng(seed))
            self._engines[names] = engine
        skip = context.number - engine.num_generated  # type: ignore[attr-defined]
        if skip:
            engine.fast_forward(skip)  # type: ignore[attr-defined]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # balance warnings: points are used one at a time
            return [float(x) for x in engine.random(1)[0]]  # type: ignore[attr-defined]


__all__ = ["SobolSampler"]
