"""Grid search, kept as a baseline to compare against (random is the recommendation).

The grid is a lattice in the unit cube: `points` evenly spaced positions per numeric
dimension (so a `log` parameter's grid is evenly spaced in log10), every choice of a
categorical one. Trial n takes lattice point (a·n + b) mod size, a seeded permutation, so a
budget smaller than the grid still spreads over all dimensions; after `size` trials it repeats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from zoomtune.errors import SearchSpaceError, require, require_int
from zoomtune.samplers.base import SampleContext, Sampler
from zoomtune.space import Categorical, Distribution, Space


def _axis(dist: Distribution, points: int) -> list[float]:
    """Distinct unit coordinates of one dimension's grid."""
    if isinstance(dist, Categorical):
        return [dist.to_unit(c) for c in dist.choices]
    return sorted({dist.to_unit(dist.from_unit(u)) for u in np.linspace(0.0, 1.0, points)})


class GridSampler(Sampler):
    """A full factorial grid over `space` (or the study's declared space when omitted)."""

    def __init__(self, space: Space | None = None, points: int = 5, seed: int | None = None) -> None:
        super().__init__(seed)
        require(space is None or isinstance(space, Mapping), "GridSampler", "space",
                "must be a Space (or a mapping of names to distributions) or None", space)
        if space is not None and not isinstance(space, Space):
            space = Space(space)  # checks each distribution (SearchSpaceError naming the parameter)
        self.space: Space | None = space
        self.points: int = require_int("GridSampler", "points", points, 2)

    def axes(self, space: Space) -> dict[str, list[float]]:
        return {name: _axis(dist, self.points) for name, dist in space.items()}

    def size(self, space: Space | None = None) -> int:
        """Number of lattice points."""
        grid_space = self._grid_space(space)
        return math.prod(len(axis) for axis in self.axes(grid_space).values())

    def _grid_space(self, fallback: Space | None) -> Space:
        space = self.space or fallback
        if space is None:
            raise SearchSpaceError("GridSampler needs a declared space: GridSampler(space) or "
                                   "create_study(space=...)", "no space", where="GridSampler")
        return space

    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        grid_space = self._grid_space(context.declared_space)
        axes = self.axes(grid_space)
        size = math.prod(len(a) for a in axes.values())
        rng = np.random.default_rng([self.seed, 0x6121D])
        step = int(rng.integers(1, size + 1))
        while math.gcd(step, size) != 1:
            step += 1
        index = (step * context.number + int(rng.integers(0, size))) % size
        point: dict[str, float] = {}
        for name, axis in axes.items():
            index, digit = divmod(index, len(axis))
            point[name] = axis[digit]
        missing = [name for name in space if name not in point]
        if missing:
            raise SearchSpaceError("GridSampler has no grid for it; add it to the grid's space", "an undeclared "
                                   "parameter", param=missing[0])
        return [point[name] for name in space]


__all__ = ["GridSampler"]
