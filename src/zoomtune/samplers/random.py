"""Random search: uniform in the unit cube, hence uniform on every parameter's own scale."""

from __future__ import annotations

from collections.abc import Sequence

from zoomtune.samplers.base import SampleContext, Sampler
from zoomtune.space import Distribution, Space


class RandomSampler(Sampler):
    """The default sampler. Each coordinate is drawn from its own (seed, trial, name) stream,
    so adding a parameter does not change the values drawn for the others.

    >>> from zoomtune.space import Float, Space
    >>> from zoomtune.samplers.base import SampleContext
    >>> from zoomtune.records import Direction
    >>> s = RandomSampler(seed=1); ctx = SampleContext(0, Direction.MINIMIZE)
    >>> s.sample(Space(x=Float(0, 1)), ctx) == s.sample(Space(x=Float(0, 1)), ctx)
    True
    """

    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        return [self.uniform(context.number, name) for name in space]

    def sample_one(self, name: str, dist: Distribution, context: SampleContext) -> float:
        return self.uniform(context.number, name)


__all__ = ["RandomSampler"]
