"""Optuna's three distributions and how each becomes a zoomtune one.

`log=True` is zoomtune's ``scale="log"``. zoomtune's `Float` and `Int` have no step (quantisation), so a
`step` (``suggest_float(..., step=0.1)``, ``suggest_int(..., step=2)``) becomes a `Categorical` of the grid
values ``low, low + step, ..., high``: the trial sees and stores exactly Optuna's values, random sampling
draws them uniformly as Optuna does, but model-based samplers (TPE, GP) treat them as unordered choices, not
as points on a line. A grid of more than `MAX_GRID_VALUES` values is refused rather than made into a huge
list of choices. As in Optuna, a `high` off the grid is lowered to the last grid value.

>>> FloatDistribution(0.0, 1.0, step=0.25).to_zoomtune()
Categorical(choices=(0.0, 0.25, 0.5, 0.75, 1.0))
>>> IntDistribution(1, 1024, log=True).to_zoomtune()
Int(1, 1024, scale='log')
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from zoomtune.space import Categorical, ChoiceType, Distribution, Float, Int

#: the most values a stepped (quantised) parameter may have; beyond it there is no faithful mapping
MAX_GRID_VALUES = 10_000


def _grid(low: Decimal, high: Decimal, step: Decimal, owner: str) -> list[Decimal]:
    """low, low + step, ... up to high (lowered onto the grid), or ValueError naming `owner`."""
    if step <= 0:
        raise ValueError(f"{owner}: step must be > 0; got step={step}")
    count = int((high - low) // step) + 1
    if count > MAX_GRID_VALUES:
        raise ValueError(f"{owner}: step={step} makes {count} values (at most {MAX_GRID_VALUES}); zoomtune has no "
                         f"quantised Float or Int, so a step becomes a list of choices: use a coarser step, or none")
    return [low + k * step for k in range(count)]


@dataclass(frozen=True)
class FloatDistribution:
    """A float in [low, high]: log-uniform with `log`, on a grid of `step` with `step` (not both)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        if self.log and self.step is not None:
            raise ValueError(f"FloatDistribution({self.low}, {self.high}): step={self.step} and log=True cannot be "
                             f"combined (Optuna refuses them too): drop one")

    def to_zoomtune(self, owner: str = "FloatDistribution") -> Distribution:
        """`Float` (``scale="log"`` for `log`), or a `Categorical` of the grid values for `step`."""
        if self.step is None:
            return Float(self.low, self.high, scale="log" if self.log else "linear")
        values = _grid(Decimal(repr(float(self.low))), Decimal(repr(float(self.high))),
                       Decimal(repr(float(self.step))), owner)
        return Categorical(tuple(float(v) for v in values))


@dataclass(frozen=True)
class IntDistribution:
    """An integer in [low, high]: log-uniform with `log`, every `step`-th one with `step` (not both)."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        if self.log and self.step != 1:
            raise ValueError(f"IntDistribution({self.low}, {self.high}): step={self.step} and log=True cannot be "
                             f"combined (Optuna refuses them too): drop one")

    def to_zoomtune(self, owner: str = "IntDistribution") -> Distribution:
        """`Int` (``scale="log"`` for `log`), or a `Categorical` of every `step`-th integer."""
        if self.step == 1:
            return Int(self.low, self.high, scale="log" if self.log else "linear")
        return Categorical(tuple(int(v) for v in _grid(Decimal(self.low), Decimal(self.high),
                                                       Decimal(self.step), owner)))


@dataclass(frozen=True)
class CategoricalDistribution:
    """One of `choices` (None, bool, int, float or str)."""

    choices: tuple[ChoiceType, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))  # Optuna takes a list too

    def to_zoomtune(self, owner: str = "CategoricalDistribution") -> Distribution:
        return Categorical(self.choices)


BaseDistribution = FloatDistribution | IntDistribution | CategoricalDistribution


def from_zoomtune(dist: Distribution) -> BaseDistribution:
    """The Optuna distribution a stored zoomtune one reads as (a stepped one comes back as its choices; a
    ``log1m`` Float, which Optuna lacks, as a linear one)."""
    if isinstance(dist, Float):
        return FloatDistribution(dist.low, dist.high, log=dist.log)
    if isinstance(dist, Int):
        return IntDistribution(int(dist.low), int(dist.high), log=dist.log)
    if isinstance(dist, Categorical):
        return CategoricalDistribution(dist.choices)
    raise TypeError(f"no Optuna distribution for {dist!r}")


__all__ = ["MAX_GRID_VALUES", "BaseDistribution", "CategoricalDistribution", "FloatDistribution",
           "IntDistribution", "from_zoomtune"]
