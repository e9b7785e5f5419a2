"""Where `GPSampler` maximises log expected improvement: candidates, polish, discrete search.

Points are in the internal form of `_gp_math` (unit cube; categorical coordinates hold the choice's
index). Sobol candidates and points near the best trials are scored, the best few polished by
L-BFGS-B over the continuous dimensions, integer dimensions searched on their values (`levels`) and
categorical ones at every allowed choice; a point the GP already holds is never returned while any
other is left. `Region` confines the search to a box (model-guided coarse-to-fine); `Conditions`
and `impute` handle the parameters a define-by-run branch switches off.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from zoomtune.samplers._gp_math import GP, log_ei, log_ei_grad, scaled_r2


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


def maximize_log_ei(gp: GP, best: float, n_choices: np.ndarray, starts: np.ndarray, rng: np.random.Generator,
                    n_candidates: int, n_polish: int, region: Region | None = None,
                    conditions: Conditions | None = None, levels: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """The point (internal form) with the largest log EI found in `region` (default the whole cube):
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

    def acquisition(x: np.ndarray) -> np.ndarray:
        """log EI, minus infinity at the points the GP holds."""
        held = scaled_r2(x, gp.x, gp.is_cat, np.ones(d)).min(axis=1) < 1e-18
        return np.where(held, -np.inf, log_ei(*gp.posterior(x), best))

    def active(x: np.ndarray) -> np.ndarray:
        return x if conditions is None else conditions.apply(x)[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol balance warning when n_candidates is not a power of 2
        sobol = qmc.Sobol(d, scramble=True, seed=rng).random(n_candidates)
    candidates = active(to_levels(np.vstack([region.place(sobol, n_choices), region.clip(starts, n_choices, rng)]),
                                  levels))
    scores = acquisition(candidates)
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
        for score, point in results:
            def objective(u: np.ndarray, point: np.ndarray = point) -> tuple[float, np.ndarray]:
                x = point.copy()
                x[num] = u
                value, grad = log_ei_grad(gp, x[None, :], best)  # switched-off coordinates stay inactive
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
            moved_score = float(acquisition(moved[None, :])[0])
            polished.append((moved_score, moved) if moved_score > score else (score, point))
        results = polished
    score, point = max(results, key=lambda item: item[0])
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
            values = acquisition(trial)
            k = int(np.argmax(values))
            if values[k] > score + 1e-12:
                point, score, changed = trial[k], float(values[k]), True
        if not changed:
            break
    return np.asarray(point)


__all__ = ["Conditions", "Region", "impute", "inactive_values", "maximize_log_ei", "snap", "to_levels"]
