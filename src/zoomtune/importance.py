"""Which hyperparameters mattered: PED-ANOVA (Watanabe et al., IJCAI 2023) in the unit cube.

The question asked of each parameter is "were the best trials picky about it?". Take the trials
whose value is in the top ``top`` quantile (γ', say the best 10%) and those in the top ``region``
quantile (γ, by default all of them). If a parameter did not matter, the best trials are spread
over it the way all trials are; if it mattered, they bunch up where its good values lie. PED-ANOVA
measures that difference, for one parameter at a time, as the Pearson divergence

    D(p' ‖ p) = ∫ p (p'/p - 1)² du = ∫ (p' - p)² / p du

between the two marginal densities p' (top γ') and p (top γ), each a 1-D Parzen (kernel density)
estimate in the parameter's unit interval (``Distribution.to_unit``, so a log-scaled learning rate
is measured per decade). The paper shows that γ'² · D is the variance of the "is it in the top γ'"
indicator that the parameter explains within the top-γ region, a local functional ANOVA; the γ'²
is the same for every parameter and cancels when the importances are normalised to sum to 1.

Unlike a rank correlation (|Spearman ρ|, what the dashboard showed before), it sees a parameter
whose best value lies inside its range: a learning rate whose optimum is 3e-3 in [1e-5, 1] has
ρ ≈ 0, because the objective falls and then rises again, yet the best trials all sit near 3e-3.

Only the order of the values is used, so any strictly monotone transform of the objective gives
the same importances; there is no randomness. Estimators:

- a numeric parameter (Float, Int): Gaussian kernels on a grid of the unit interval, each kernel
  normalised on the grid (so truncated at the edges), bandwidth by Scott's rule with a floor; an
  Int with few values uses its own values as the grid;
- a categorical parameter: a categorical kernel, i.e. the frequency of each choice;
- both add one pseudo-trial spread uniformly (a prior), so no density is zero.

In a study of several objectives the question is asked of one objective at a time: `objective=` (an
index, default 0, the first) picks it, and the result names it, so no caller reads the first
objective's importances as the study's.

NumPy only (SciPy's import alone costs seconds). Not imported by ``import zoomtune``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from zoomtune.errors import require, require_number
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.space import Categorical, Distribution, Int

#: fewer usable trials than this (for a parameter) and its importance is not estimated (0)
MIN_TRIALS = 10
#: the top set holds at least this many trials, whatever `top` says
MIN_TOP = 2
#: points of the grid a numeric parameter's densities are evaluated on
GRID = 100
#: the smallest kernel bandwidth, in unit-interval coordinates
MIN_BANDWIDTH = 1.0 / GRID
#: weight of the uniform prior, in trials
PRIOR_WEIGHT = 1.0


@dataclass(frozen=True)
class Importances(Mapping[str, float]):
    """Each parameter's importance (non-negative, summing to 1 unless all are 0), in the order
    of the distributions; read it as a mapping (``result["lr"]``, ``dict(result)``).

    `n_trials` is how many trials were usable (COMPLETE, finite value); `enough` says whether the
    importances were estimated at all (at least `MIN_TRIALS` usable trials and some parameter whose
    top trials differ from the rest). `objective` names the objective they are for in a study of
    several (None in a study of one)."""

    scores: dict[str, float] = field(default_factory=dict)
    n_trials: int = 0
    top: float = 0.1
    region: float = 1.0
    objective: str | None = None

    def __getitem__(self, name: str) -> float:
        return self.scores[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.scores)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def enough(self) -> bool:
        return any(v > 0 for v in self.scores.values())

    def ranked(self) -> list[tuple[str, float]]:
        """(name, importance) pairs, most important first (ties in distribution order)."""
        return sorted(self.scores.items(), key=lambda item: -item[1])


def _distributions(trials: Sequence[TrialRecord]) -> dict[str, Distribution]:
    """Each parameter's latest distribution, in the order parameters first appear."""
    found: dict[str, Distribution] = {}
    order: dict[str, None] = {}
    for trial in trials:
        found.update(trial.distributions)
        for name in trial.params:
            order.setdefault(name, None)
    return {name: found[name] for name in order if name in found}


def _value(trial: TrialRecord, objective: int) -> float | None:
    """The trial's value of objective `objective` when it is a finite number, else None."""
    values = trial.values
    value = values[objective] if values is not None and objective < len(values) else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def usable(trials: Sequence[TrialRecord], objective: int = 0) -> list[TrialRecord]:
    """The COMPLETE trials with a finite value of objective `objective`: the ones importance is computed from."""
    return [t for t in trials if t.state is TrialState.COMPLETE and _value(t, objective) is not None]


def _count(top: float, n: int) -> int:
    """How many of `n` ranked trials the top `top` quantile holds (at least MIN_TOP, at most n)."""
    return min(n, max(MIN_TOP, math.ceil(top * n - 1e-9)))


def _bandwidth(u: np.ndarray) -> float:
    """Scott's rule on the unit interval, with a floor."""
    n = len(u)
    if n < 2:
        return 1.0
    sigma = float(np.std(u, ddof=1))
    q75, q25 = np.percentile(u, [75, 25])
    iqr = float(q75 - q25) / 1.349
    if 0 < iqr < sigma:
        sigma = iqr
    return max(MIN_BANDWIDTH, 1.059 * sigma * math.pow(n, -0.2))


def _grid(dist: Distribution) -> np.ndarray:
    """Where a numeric parameter's densities are evaluated, in unit coordinates."""
    if isinstance(dist, Int) and dist.high - dist.low + 1 <= GRID:
        return np.array([dist.to_unit(k) for k in range(int(dist.low), int(dist.high) + 1)])
    return (np.arange(GRID) + 0.5) / GRID


def _parzen(u: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A Parzen estimate of the density of the points `u` as probabilities on `grid` (summing to 1):
    one Gaussian kernel per point, each normalised on the grid, plus the uniform prior."""
    h = _bandwidth(u)
    kernels = np.exp(-0.5 * ((grid[None, :] - u[:, None]) / h) ** 2)
    kernels /= kernels.sum(axis=1, keepdims=True)
    mass = kernels.sum(axis=0) + PRIOR_WEIGHT / len(grid)
    return np.asarray(mass / mass.sum())


def _categorical(index: np.ndarray, k: int) -> np.ndarray:
    """The categorical-kernel estimate of the choices' probabilities, plus the uniform prior."""
    mass = np.bincount(index, minlength=k).astype(float) + PRIOR_WEIGHT / k
    return np.asarray(mass / mass.sum())


def _pearson(p_top: np.ndarray, p_region: np.ndarray) -> float:
    """Pearson divergence of `p_top` from `p_region` (two probability vectors on one grid)."""
    return float(np.sum((p_top - p_region) ** 2 / p_region))


def _divergence(dist: Distribution, x: np.ndarray, n_top: int) -> float:
    """D(top ‖ region) of one parameter, `x` its unit coordinates (or choice indices) best first."""
    if isinstance(dist, Categorical):
        k = len(dist.choices)
        index = x.astype(int)
        return _pearson(_categorical(index[:n_top], k), _categorical(index, k))
    grid = _grid(dist)
    return _pearson(_parzen(x[:n_top], grid), _parzen(x, grid))


def importance(trials: Sequence[TrialRecord], direction: Direction | str = Direction.MINIMIZE,
               distributions: Mapping[str, Distribution] | None = None, top: float = 0.1, *,
               region: float = 1.0, objective: int = 0, objective_name: str | None = None) -> Importances:
    """How much each parameter mattered for reaching the best `top` fraction of the trials within
    the best `region` fraction (1.0: all), by PED-ANOVA; normalised to sum to 1 (see the module).

    Uses the COMPLETE trials with a finite value; for each parameter, those that set it to a value
    its distribution contains (`distributions`: the trials' own latest ones when None). A parameter
    with fewer than MIN_TRIALS such trials gets 0, and so does every parameter when no parameter's
    top trials differ from the rest (or the values are all equal). In a study of several objectives,
    `objective` is the index of the one asked about, `direction` its direction, and `objective_name`
    (default: its index) how the result names it."""
    top = require_number("importance", "top", top, 0.0, 1.0, low_open=True, high_open=True)
    region = require_number("importance", "region", region, 0.0, 1.0, low_open=True)
    require(top < region, "importance", "top", f"must be less than region ({region})", top)
    require(isinstance(objective, int) and not isinstance(objective, bool) and objective >= 0, "importance",
            "objective", "must be an objective's index, an integer >= 0", objective)
    direction = Direction(direction)
    done = usable(trials, objective)
    several = any(t.objective_values is not None for t in done) or objective > 0
    label = (objective_name if objective_name is not None else str(objective)) if several else objective_name
    dists = dict(distributions) if distributions is not None else _distributions(trials)
    raw: dict[str, float] = dict.fromkeys(dists, 0.0)
    sign = 1.0 if direction is Direction.MINIMIZE else -1.0
    for name, dist in dists.items():
        kept = [t for t in done if name in t.params and dist.contains(t.params[name])]
        values = np.array([sign * float(_value(t, objective)) for t in kept])  # type: ignore[arg-type]
        if len(kept) < MIN_TRIALS or np.ptp(values) == 0:
            continue
        order = np.argsort(values, kind="stable")  # best first; ties keep the trials' order
        n_region = _count(region, len(kept))
        n_top = _count(top, len(kept))
        if n_top >= n_region:
            continue
        code = dist.index if isinstance(dist, Categorical) else dist.to_unit
        x = np.array([float(code(kept[i].params[name])) for i in order[:n_region]])
        d = _divergence(dist, x, n_top)
        raw[name] = d if math.isfinite(d) and d > 0 else 0.0
    total = sum(raw.values())
    scores = {name: (d / total if total > 0 else 0.0) for name, d in raw.items()}
    return Importances(scores=scores, n_trials=len(done), top=top, region=region, objective=label)


def describe(result: Importances, digits: int = 2) -> str:
    """One line of plain text, "what mattered (PED-ANOVA over the top 10% of 200 complete trials): lr 0.71,
    units 0.2, ...", most important first (empty when the importances were not estimated); "what mattered
    for accuracy (...)" when they are for one objective of several."""
    if not result.enough:
        return ""
    where = "" if result.region >= 1 else f" within the top {result.region * 100:g}%"
    parts = ", ".join(f"{name} {round(score, digits):g}" for name, score in result.ranked())
    what = "" if result.objective is None else f" for {result.objective}"
    return (f"what mattered{what} (PED-ANOVA over the top {result.top * 100:g}%{where} of {result.n_trials} "
            f"complete trials): {parts}")


__all__ = ["GRID", "MIN_TRIALS", "Importances", "describe", "importance", "usable"]
