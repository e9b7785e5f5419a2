"""What `GPSampler` maximises (`Acquisition`) and where: candidates, polish, discrete search.

Points are in the internal form of `_gp_math` (unit cube; categorical coordinates hold the choice's
index). Sobol candidates and points near the best trials are scored, the best few polished by
L-BFGS-B over the continuous dimensions, integer dimensions searched on their values (`levels`) and
categorical ones at every allowed choice; a point the GP already holds is never returned while any
other is left. `Region` confines the search to a box (model-guided coarse-to-fine); `Conditions`
and `impute` handle the parameters a define-by-run branch switches off.

Acquisitions: `LogEI` (one objective, with its analytic gradient), `LogEHVI` (several objectives, one GP
each), either plus the log probability that every constraint is satisfied (`Constrained`, a GP per
constraint); only log EI has an analytic gradient, the others take forward differences in the polish.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from zoomtune.samplers._gp_math import GP, log_ehvi, log_ei, log_ei_grad, log_feasibility, scaled_r2


_STEP = 1e-6  # of a forward difference, in the unit cube


class Acquisition(ABC):
    """A log acquisition value per point (internal form), larger is better; `gp` holds the evaluated points."""

    gp: GP

    @abstractmethod
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The value at each row of `x`."""

    def with_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The value at each row of `x` and its gradient over the GP's numeric dimensions; here by forward
        differences, all of a row's shifted points scored in one call."""
        num = self.gp.num
        shifted = np.repeat(x, len(num) + 1, axis=0).reshape(len(x), len(num) + 1, x.shape[1])
        shifted[:, np.arange(1, len(num) + 1), num] += _STEP
        values = self(shifted.reshape(-1, x.shape[1])).reshape(len(x), len(num) + 1)
        return values[:, 0], (values[:, 1:] - values[:, :1]) / _STEP


@dataclass(frozen=True)
class LogEI(Acquisition):
    """log expected improvement over `best` (lower values are better)."""

    gp: GP
    best: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return log_ei(*self.gp.posterior(x), self.best)

    def with_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return log_ei_grad(self.gp, x, self.best)


@dataclass(frozen=True)
class LogEHVI(Acquisition):
    """log expected hypervolume improvement, one GP per objective, over the boxes no front point dominates
    (`_gp_math.non_dominated_boxes`)."""

    gps: tuple[GP, ...]
    lower: np.ndarray
    upper: np.ndarray

    @property
    def gp(self) -> GP:  # type: ignore[override]
        return self.gps[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        posteriors = [gp.posterior(x) for gp in self.gps]
        means = np.column_stack([mean for mean, _ in posteriors])
        variances = np.column_stack([var for _, var in posteriors])
        return log_ehvi(means, variances, self.lower, self.upper)


@dataclass(frozen=True)
class Constrained(Acquisition):
    """`base` (None: feasibility alone, while no trial is feasible) plus log P(every constraint <= its
    threshold), one GP per constraint on its standardised values."""

    gp: GP
    base: Acquisition | None
    constraints: tuple[tuple[GP, float], ...]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        total = self.base(x) if self.base is not None else np.zeros(len(x))
        for gp, threshold in self.constraints:
            total = total + log_feasibility(*gp.posterior(x), threshold)
        return np.asarray(total)


def snap(u: np.ndarray, n_choices: np.ndarray) -> np.ndarray:
    """Unit coordinates to the internal form: categorical columns become choice indices."""
    out = np.array(u, dtype=float)
    for j in np.flatnonzero(n_choices):
        out[:, j] = np.minimum(np.floor(out[:, j] * n_choices[j]), n_choices[j] - 1)
    return out


INACTIVE_CHOICE = -1.0


def inactive_values(n_choices: np.ndarray) -> np.ndarray:
    """The fixed coordinate of an inactive parameter (of a branch not taken), per dimension: the middle
    of a numeric range; for a categorical one an index no choice has, one mismatch from every choice."""
    return np.where(n_choices > 0, INACTIVE_CHOICE, 0.5)


def impute(x: np.ndarray, n_choices: np.ndarray) -> np.ndarray:
    """Internal-form points with their missing (NaN) coordinates set to `inactive_values`."""
    out = np.array(x, dtype=float)
    missing = np.isnan(out)
    out[missing] = np.broadcast_to(inactive_values(n_choices), out.shape)[missing]
    return out


@dataclass(frozen=True)
class Conditions:
    """Which dimensions a point's own categorical choices switch off: dimension `child` is active
    only where dimension `parent` holds one of `choices` (internal form)."""

    child: np.ndarray
    parent: np.ndarray
    choices: tuple[np.ndarray, ...]
    values: np.ndarray  # the inactive coordinate of every dimension

    @classmethod
    def learn(cls, x: np.ndarray, n_choices: np.ndarray) -> Conditions:
        """The conditions the history shows (`x` internal form, NaN where a trial lacks a parameter):
        a sometimes-missing dimension is conditional on the first categorical dimension whose choice
        decides, in every trial that has one, whether the dimension is present."""
        missing = np.isnan(x)
        child, parent, choices = [], [], []
        for j in np.flatnonzero(missing.any(axis=0)):
            for c in np.flatnonzero(n_choices):
                has = ~missing[:, c] if c != j else np.zeros(len(x), dtype=bool)
                if not has.any():
                    continue
                seen = [(k, missing[has & (x[:, c] == k), j]) for k in range(int(n_choices[c]))]
                if all(m.all() or not m.any() for _, m in seen):
                    child.append(j)
                    parent.append(c)
                    choices.append(np.array([k for k, m in seen if len(m) and not m.any()], dtype=float))
                    break
        return cls(np.array(child, dtype=int), np.array(parent, dtype=int), tuple(choices),
                   inactive_values(n_choices))

    def apply(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points (internal form) with the coordinates their choices switch off set to the inactive
        value, and the mask of those coordinates. A parent switched off itself switches its children off."""
        out = np.array(x, dtype=float)
        off = np.zeros(out.shape, dtype=bool)
        for _ in range(2 if len(self.child) else 0):  # the second pass settles children of switched-off parents
            for j, c, allowed in zip(self.child, self.parent, self.choices, strict=True):
                off[:, j] = ~np.isin(out[:, c], allowed)
            out[off] = np.broadcast_to(self.values, out.shape)[off]
        return out, off


@dataclass(frozen=True)
class Region:
    """A box the acquisition is maximised in: `low` / `high` per dimension in the unit cube (numeric
    dimensions; a categorical one's entries are ignored) and, per categorical dimension, the choice
    indices allowed (all when absent)."""

    low: np.ndarray
    high: np.ndarray
    allowed: dict[int, np.ndarray]

    @classmethod
    def whole(cls, n_choices: np.ndarray) -> Region:
        d = len(n_choices)
        return cls(np.zeros(d), np.ones(d), {})

    def choices(self, j: int, n_choices: int) -> np.ndarray:
        """The choice indices allowed in categorical dimension `j`."""
        return self.allowed.get(j, np.arange(n_choices))

    def place(self, u: np.ndarray, n_choices: np.ndarray) -> np.ndarray:
        """Points of [0, 1]^d mapped into the region, internal form (categorical columns: indices)."""
        out = self.low + np.asarray(u, dtype=float) * (self.high - self.low)
        for j in np.flatnonzero(n_choices):
            allowed = self.choices(int(j), int(n_choices[j]))
            out[:, j] = allowed[np.minimum((u[:, j] * len(allowed)).astype(int), len(allowed) - 1)]
        return np.asarray(out)

    def clip(self, x: np.ndarray, n_choices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Points (internal form) moved into the region: numeric coordinates clipped, a categorical
        choice that is not allowed redrawn among the allowed ones."""
        out = np.array(x, dtype=float)
        num = n_choices == 0
        out[:, num] = np.clip(out[:, num], self.low[num], self.high[num])
        for j in np.flatnonzero(n_choices):
            allowed = self.choices(int(j), int(n_choices[j]))
            bad = ~np.isin(out[:, j], allowed)
            out[bad, j] = rng.choice(allowed, int(bad.sum()))
        return out


NEAR_LEVELS = 16


def to_levels(x: np.ndarray, levels: dict[int, np.ndarray]) -> np.ndarray:
    """Points with each coordinate that has `levels` (sorted unit coordinates of the values it can take)
    moved to the nearest of them."""
    out = np.array(x, dtype=float)
    for j, lv in levels.items():
        out[:, j] = lv[np.argmin(np.abs(out[:, j, None] - lv[None, :]), axis=1)]
    return out


def maximize(acquisition: Acquisition, n_choices: np.ndarray, starts: np.ndarray, rng: np.random.Generator,
             n_candidates: int, n_polish: int, region: Region | None = None,
             conditions: Conditions | None = None, levels: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """The point (internal form) with the largest `acquisition` found in `region` (default the whole cube):
    scrambled Sobol candidates plus `starts` (points near the best trials), the best `n_polish`
    polished by L-BFGS-B over the numeric dimensions, then each categorical dimension of the winner
    tried at every allowed choice. With `conditions`, every point is scored with the dimensions its
    choices switch off at their inactive value (as the trials of that branch are modelled).

    A numeric dimension with `levels` (an integer parameter) is discrete: every candidate sits on one
    of its levels, L-BFGS-B leaves it alone, and the coordinate search tries its levels in the region
    (the `NEAR_LEVELS` either side of the winner's), so the acquisition is compared at values the
    objective can be given. A point the GP already holds (a trial or a pending one) is never returned
    while another is left: a noise-free model's EI there is not zero but its noise floor, and with long
    lengthscales that can exceed EI everywhere else (the model sure of a trend towards a bound whose
    corner it has evaluated), which made the search propose the same point again and again."""
    from scipy.stats import qmc

    d = len(n_choices)
    region = region or Region.whole(n_choices)
    levels = levels or {}
    gp = acquisition.gp

    def score(x: np.ndarray) -> np.ndarray:
        """The acquisition, minus infinity at the points the GP holds."""
        held = scaled_r2(x, gp.x, gp.is_cat, np.ones(d)).min(axis=1) < 1e-18
        return np.where(held, -np.inf, acquisition(x))

    def active(x: np.ndarray) -> np.ndarray:
        return x if conditions is None else conditions.apply(x)[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol balance warning when n_candidates is not a power of 2
        sobol = qmc.Sobol(d, scramble=True, seed=rng).random(n_candidates)
    candidates = active(to_levels(np.vstack([region.place(sobol, n_choices), region.clip(starts, n_choices, rng)]),
                                  levels))
    scores = score(candidates)
    order = np.argsort(-scores, kind="stable")
    picked: list[int] = []
    for i in order:
        if len(picked) == n_polish:
            break
        if all(np.max(np.abs(candidates[i] - candidates[j])) > 1e-9 for j in picked):
            picked.append(int(i))
    cont = np.array([i for i, j in enumerate(gp.num) if int(j) not in levels], dtype=int)  # into gp.num
    num = gp.num[cont]
    results = [(float(scores[i]), candidates[i]) for i in picked]
    if len(num):
        polished = []
        for best, point in results:
            def objective(u: np.ndarray, point: np.ndarray = point) -> tuple[float, np.ndarray]:
                x = point.copy()
                x[num] = u
                value, grad = acquisition.with_grad(x[None, :])  # switched-off coordinates stay inactive
                return -float(value[0]), -grad[0, cont]

            if conditions is not None:  # a branch's inactive dimensions are not searched
                off = conditions.apply(point[None, :])[1][0, num]
                low, high = np.where(off, point[num], region.low[num]), np.where(off, point[num], region.high[num])
            else:
                low, high = region.low[num], region.high[num]

            bounds = list(zip(low, high, strict=True))
            result = minimize(objective, point[num], jac=True, method="L-BFGS-B", bounds=bounds,
                              options={"maxiter": 50})
            moved = point.copy()
            moved[num] = np.clip(result.x, low, high)
            moved_score = float(score(moved[None, :])[0])
            polished.append((moved_score, moved) if moved_score > best else (best, point))
        results = polished
    best, point = max(results, key=lambda item: item[0])
    options = {int(j): region.choices(int(j), int(n_choices[j])) for j in np.flatnonzero(n_choices)}
    for j, lv in levels.items():
        inside = lv[(lv >= region.low[j] - 1e-12) & (lv <= region.high[j] + 1e-12)]
        options[j] = inside if len(inside) else lv[[np.argmin(np.abs(lv - 0.5 * (region.low[j] + region.high[j])))]]
    for _ in range(2):  # coordinate search over the categorical and discrete dimensions of the winner
        changed = False
        for j, allowed in options.items():
            if j in levels:  # the levels nearest the winner's
                at = int(np.argmin(np.abs(allowed - point[j])))
                allowed = allowed[max(0, at - NEAR_LEVELS):at + NEAR_LEVELS + 1]
            trial = np.repeat(point[None, :], len(allowed), axis=0)
            trial[:, j] = allowed
            trial = active(trial)
            values = score(trial)
            k = int(np.argmax(values))
            if values[k] > best + 1e-12:
                point, best, changed = trial[k], float(values[k]), True
        if not changed:
            break
    return np.asarray(point)


__all__ = ["Acquisition", "Conditions", "Constrained", "LogEHVI", "LogEI", "Region", "impute", "inactive_values",
           "maximize", "snap", "to_levels"]
