"""Scales: the monotone maps under which a parameter is sampled uniformly.

A scale is an increasing function ``f`` with an inverse. A distribution over [low, high] on a
scale maps a value to the unit interval with ``u = (f(x) - f(low)) / (f(high) - f(low))``, so
"uniform in u" means "uniform on the scale":

- ``linear``: f(x) = x.
- ``log``:    f(x) = log10(x); learning rate 1e-4..1 becomes r in [-4, 0], x = 10**r.
- ``log1m``:  f(x) = -log10(1 - x), for values close to 1 such as a moving-average β:
  β in [0.9, 0.999] becomes 1 - β = 10**r with r in [-3, -1].
"""

from __future__ import annotations

import math
from enum import Enum


class Scale(str, Enum):
    """The scale a numeric parameter is sampled on."""

    LINEAR = "linear"
    LOG = "log"
    LOG1M = "log1m"

    def forward(self, x: float) -> float:
        """Map a value to its scale coordinate (increasing in x)."""
        if self is Scale.LINEAR:
            return x
        if self is Scale.LOG:
            return math.log10(x)
        return -math.log10(1.0 - x)

    def inverse(self, r: float) -> float:
        """Map a scale coordinate back to a value."""
        if self is Scale.LINEAR:
            return r
        if self is Scale.LOG:
            return float(10.0**r)
        return float(1.0 - 10.0 ** (-r))

    def domain_rule(self, low: float, high: float) -> tuple[str, str] | None:
        """The rule [low, high] breaks on this scale, as (rule, got), or None when valid."""
        if self is Scale.LOG and low <= 0:
            return "scale 'log' needs low > 0", f"low={low!r}"
        if self is Scale.LOG1M and high >= 1:
            return "scale 'log1m' needs high < 1 (it samples 1 - x on a log scale)", f"high={high!r}"
        return None


def interpolate(a: float, b: float, u: float) -> float:
    """The point a fraction `u` of the way from `a` to `b`, ``a + u * (b - a)``, finite for any finite
    floats: when ``b - a`` overflows (a range of -1e308..1e308) it is computed on halves, which are
    exact for numbers that large."""
    span = b - a
    if math.isfinite(span):
        return a + u * span
    return 2.0 * (a / 2.0 + u * (b / 2.0 - a / 2.0))


def fraction(x: float, a: float, b: float) -> float:
    """The inverse of `interpolate`: how far `x` lies from `a` towards `b`, finite for any finite floats."""
    span = b - a
    if math.isfinite(span):
        return (x - a) / span
    return (x / 2.0 - a / 2.0) / (b / 2.0 - a / 2.0)


SCALE_NAMES = tuple(s.value for s in Scale)

__all__ = ["SCALE_NAMES", "Scale", "fraction", "interpolate"]
