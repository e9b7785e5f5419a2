"""The maths of `GPSampler`, NumPy and SciPy only: imported the first time a GP is fitted.

Points live in the unit cube, except categorical coordinates, which hold the choice's index.

Kernel: k(a, b) = s2 * matern52(r), r^2 = sum_numeric (a_j - b_j)^2 / l_j^2
+ sum_categorical [a_j != b_j] / l_j^2. The mismatch term is half the squared distance of the
one-hot codes, so the kernel stays positive definite, and choices are never ordered.

Fit: maximum a posteriori of theta = (log l_1..l_d, log s2, log noise) on standardised values,
by L-BFGS-B with the analytic gradient, from a few fixed starting points (no randomness, so the
fit depends on the data only). Priors, on the log parameters: log l_j ~ N(sqrt 2 + log(d) / 2,
sqrt 3) (the dimension-scaled prior of Hvarfner, Hellsten & Nardi 2024), bounded above at twice its
median (`log_lengthscale_bounds`), s2 ~ Gamma(2, 1),
noise ~ Gamma(1.1, 30) (each with the Jacobian of the log).

Acquisition: log expected improvement for minimisation, computed without underflow far in the
tail (Ament et al. 2023, "Unexpected improvements to expected improvement"), maximised with integer
dimensions on their values (`maximize_log_ei`'s levels) and never at a point the GP already holds.
"""

from __future__ import annotations

import importlib
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.linalg.lapack import dpotri
from scipy.optimize import minimize
from scipy.special import erfcx, ndtr

SQRT5 = math.sqrt(5.0)
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
MIN_NOISE = 1e-6
JITTERS = (1e-9, 1e-7, 1e-5, 1e-3)
MIN_LOG_LS = math.log(1e-3)
LOG_SIGNAL_BOUNDS = (math.log(1e-3), math.log(1e2))
LOG_NOISE_BOUNDS = (math.log(MIN_NOISE), 0.0)


@dataclass(frozen=True)
class Params:
    """Kernel hyperparameters: one lengthscale per dimension, signal variance, noise variance."""

    lengthscales: np.ndarray
    signal: float
    noise: float

    @property
    def theta(self) -> np.ndarray:
        return np.concatenate([np.log(self.lengthscales), [math.log(self.signal), math.log(self.noise)]])

    @classmethod
    def from_theta(cls, theta: np.ndarray) -> Params:
        d = len(theta) - 2
        return cls(np.exp(theta[:d]), float(math.exp(theta[d])), float(math.exp(theta[d + 1])))


def matern52(r2: np.ndarray) -> np.ndarray:
    r = np.sqrt(r2)
    return np.asarray((1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * np.exp(-SQRT5 * r))


def _dmatern52_dr2(r2: np.ndarray) -> np.ndarray:
    """d matern52 / d(r^2) = -(5/6) (1 + sqrt5 r) exp(-sqrt5 r): finite at r = 0."""
    r = np.sqrt(r2)
    return np.asarray(-(5.0 / 6.0) * (1.0 + SQRT5 * r) * np.exp(-SQRT5 * r))


def pair_terms(a: np.ndarray, b: np.ndarray, is_cat: np.ndarray) -> np.ndarray:
    """(len(a), len(b), d): squared differences, or mismatches for categorical dimensions."""
    diff = a[:, None, :] - b[None, :, :]
    return np.asarray(np.where(is_cat, (diff != 0.0).astype(float), diff * diff))


def scaled_r2(a: np.ndarray, b: np.ndarray, is_cat: np.ndarray, lengthscales: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared scaled distances, without a (len(a), len(b), d) temporary."""
    w = lengthscales ** -2.0
    num = ~is_cat
    an, bn = a[:, num] * np.sqrt(w[num]), b[:, num] * np.sqrt(w[num])
    r2 = (an * an).sum(1)[:, None] + (bn * bn).sum(1)[None, :] - 2.0 * an @ bn.T
    for j in np.flatnonzero(is_cat):
        r2 += w[j] * (a[:, j, None] != b[None, :, j])
    return np.asarray(np.maximum(r2, 0.0))


def _cholesky(k: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor, adding jitter to the diagonal (relative to its mean) until it works."""
    scale = float(np.mean(np.diag(k)))
    for jitter in (0.0, *JITTERS):
        try:
            return np.asarray(cholesky(k + (jitter * scale) * np.eye(len(k)), lower=True, check_finite=False))
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("kernel matrix is not positive definite even with jitter")


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter: Any = None
_blas_controller: Any = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread when threadpoolctl is installed (a no-op otherwise).

    The matrices here are small (at most a few hundred rows), and OpenBLAS's threads only wait on
    each other, worst on a machine whose cores are busy training: measured on 2 busy cores, a fit
    took 10-30 times longer with 2 BLAS threads than with 1. The first thread in sets the limit and
    the last one out restores it, so concurrent proposals in one process cannot leave it changed."""
    global _blas_users, _blas_limiter, _blas_controller
    with _blas_lock:
        if _blas_users == 0:
            try:
                if _blas_controller is None:
                    _blas_controller = importlib.import_module("threadpoolctl").ThreadpoolController()
                _blas_limiter = _blas_controller.limit(limits=1, user_api="blas")
            except Exception:  # noqa: BLE001 - threadpoolctl missing or unable: run as is
                _blas_limiter = None
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limiter is not None:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


# -- the fit -----------------------------------------------------------------------------------

def prior_log_lengthscale(d: int) -> float:
    """The prior median of the log lengthscales in `d` dimensions (Hvarfner et al.: sqrt 2 + log(d) / 2)."""
    return math.sqrt(2.0) + 0.5 * math.log(max(d, 1))


def log_lengthscale_bounds(d: int) -> tuple[float, float]:
    """Bounds of the log lengthscales in the fit: at most twice the prior median.

    Past that a dimension hardly moves the kernel over its whole unit range (correlation 0.99 in one
    dimension, 0.999 in six), so a
    longer lengthscale says nothing new about the mean, only that the model is sure the dimension does
    not matter. Once the trials near the best one all share its weakly relevant coordinates (often a
    bound, where the variance of a flat dimension is largest), the data cannot refute that certainty and
    expected improvement never moves them again: the search stalls a small, fixed amount above the
    optimum. Bounded, a weak dimension keeps enough prior variance to be refined once the strong ones are
    resolved."""
    return MIN_LOG_LS, prior_log_lengthscale(d) + math.log(2.0)


def log_prior(theta: np.ndarray, d: int) -> tuple[float, np.ndarray]:
    """Log prior density of theta (up to a constant) and its gradient."""
    mu, sd = prior_log_lengthscale(d), math.sqrt(3.0)
    log_ls, u, v = theta[:d], theta[d], theta[d + 1]
    grad = np.empty_like(theta)
    value = -0.5 * float(np.sum(((log_ls - mu) / sd) ** 2))
    grad[:d] = -(log_ls - mu) / sd ** 2
    value += 2.0 * u - math.exp(u)  # Gamma(2, 1) on s2, in log s2
    grad[d] = 2.0 - math.exp(u)
    value += 1.1 * v - 30.0 * math.exp(v)  # Gamma(1.1, 30) on the noise, in log noise
    grad[d + 1] = 1.1 - 30.0 * math.exp(v)
    return value, grad


def neg_log_posterior(theta: np.ndarray, terms: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """-(log marginal likelihood + log prior) and its gradient; `terms` is pair_terms reshaped (n*n, d)."""
    n, d = len(y), terms.shape[1]
    w = np.exp(-2.0 * theta[:d])
    s2, noise = math.exp(theta[d]), math.exp(theta[d + 1])
    r2 = (terms @ w).reshape(n, n)
    r = np.sqrt(r2)
    e = np.exp(-SQRT5 * r)
    a = (1.0 + SQRT5 * r) * e
    m = a + (5.0 / 3.0) * r2 * e  # matern52(r)
    k = s2 * m
    k[np.diag_indices(n)] += noise
    try:
        chol = _cholesky(k)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    alpha = cho_solve((chol, True), y, check_finite=False)
    low, info = dpotri(chol, lower=1)  # K^-1 from the factor, lower triangle (the upper one is zero)
    if info:
        return 1e25, np.zeros_like(theta)
    k_inv = low + low.T
    k_inv[np.diag_indices(n)] *= 0.5
    log_lik = -0.5 * float(y @ alpha) - float(np.sum(np.log(np.diag(chol)))) - n * LOG_SQRT_2PI
    big_w = np.outer(alpha, alpha) - k_inv  # d log_lik = 0.5 tr(big_w dK)
    grad = np.empty_like(theta)
    # dK / d log l_j = s2 (5/3)(1 + sqrt5 r) e^(-sqrt5 r) * terms_j / l_j^2
    grad[:d] = (0.5 * s2 * 5.0 / 3.0) * ((big_w * a).reshape(-1) @ terms) * w
    grad[d] = 0.5 * s2 * float(np.vdot(big_w, m))
    grad[d + 1] = 0.5 * float(np.trace(big_w)) * noise
    prior, prior_grad = log_prior(theta, d)
    return -(log_lik + prior), -(grad + prior_grad)


def _minimize(theta: np.ndarray, terms: np.ndarray, y: np.ndarray, fixed_noise: bool,
              maxiter: int) -> tuple[np.ndarray, float]:
    """L-BFGS-B from `theta`; with `fixed_noise` the last coordinate stays where it is."""
    d = terms.shape[1]
    bounds = [log_lengthscale_bounds(d)] * d + [LOG_SIGNAL_BOUNDS, LOG_NOISE_BOUNDS]
    if fixed_noise:
        def objective(t: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = neg_log_posterior(np.append(t, theta[-1]), terms, y)
            return value, grad[:-1]

        result = minimize(objective, theta[:-1], jac=True, method="L-BFGS-B", bounds=bounds[:-1],
                          options={"maxiter": maxiter})
        return np.append(result.x, theta[-1]), float(result.fun)
    result = minimize(neg_log_posterior, theta, args=(terms, y), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": maxiter})
    return np.asarray(result.x, dtype=float), float(result.fun)


def fit(x: np.ndarray, y: np.ndarray, is_cat: np.ndarray, fixed_noise: bool = False, maxiter: int = 200,
        coarse: int = 100) -> Params:
    """MAP hyperparameters for standardised values `y` at points `x`.

    Two fixed starts (long lengthscales and some noise; short lengthscales and little noise), the
    better result kept. With more than `coarse` points the starts run on an evenly spaced subset of
    `coarse` of them, and the winner is refined on all of them (a warm start that depends on the data
    only)."""
    n, d = x.shape
    prior_ls = prior_log_lengthscale(d)
    noise = math.log(MIN_NOISE)
    starts = [np.concatenate([np.full(d, prior_ls), [0.0, noise if fixed_noise else math.log(1e-2)]]),
              np.concatenate([np.full(d, math.log(0.3)), [0.0, noise if fixed_noise else math.log(1e-4)]])]
    sub = np.unique(np.linspace(0, n - 1, coarse).round().astype(int)) if n > coarse else np.arange(n)
    terms = np.ascontiguousarray(pair_terms(x[sub], x[sub], is_cat).reshape(len(sub) ** 2, d))
    best_theta, best_value = starts[0], math.inf
    for start in starts:
        theta, value = _minimize(start, terms, y[sub], fixed_noise, maxiter)
        if np.isfinite(value) and value < best_value:
            best_theta, best_value = theta, value
    if len(sub) < n:
        terms = np.ascontiguousarray(pair_terms(x, x, is_cat).reshape(n * n, d))
        theta, value = _minimize(best_theta, terms, y, fixed_noise, maxiter)
        if np.isfinite(value) and value < 1e25:
            best_theta = theta
    return Params.from_theta(np.asarray(best_theta, dtype=float))


# -- the posterior -----------------------------------------------------------------------------

class GP:
    """The posterior of a zero-mean GP given points `x`, values `y` and hyperparameters `params`."""

    def __init__(self, x: np.ndarray, y: np.ndarray, is_cat: np.ndarray, params: Params) -> None:
        self.x, self.y, self.is_cat, self.params = x, y, is_cat, params
        self.num = np.flatnonzero(~is_cat)
        k = self.kernel(x, x)
        k[np.diag_indices(len(x))] += params.noise
        self.chol = _cholesky(k)
        self.alpha = cho_solve((self.chol, True), y, check_finite=False)

    def kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.params.signal * matern52(scaled_r2(a, b, self.is_cat, self.params.lengthscales))

    def posterior(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the latent function at each row of `xs`."""
        ks = self.kernel(xs, self.x)
        mean = ks @ self.alpha
        v = solve_triangular(self.chol, ks.T, lower=True, check_finite=False)
        var = self.params.signal - np.sum(v * v, axis=0)
        return mean, np.maximum(var, 1e-12 * self.params.signal)

    def posterior_grad(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients (m, number of numeric dimensions) at each row of `xs`."""
        ls = self.params.lengthscales
        r2 = scaled_r2(xs, self.x, self.is_cat, ls)
        ks = self.params.signal * matern52(r2)
        # dk/dx_j = s2 m'(r2) * 2 (x_j - x_ij) / l_j^2, numeric j only
        dk = (self.params.signal * 2.0 * _dmatern52_dr2(r2))[:, :, None] * (
            (xs[:, None, self.num] - self.x[None, :, self.num]) / ls[self.num] ** 2)
        mean = ks @ self.alpha
        v = solve_triangular(self.chol, ks.T, lower=True, check_finite=False)
        k_inv_ks = solve_triangular(self.chol.T, v, lower=False, check_finite=False).T  # (m, n)
        var = self.params.signal - np.sum(v * v, axis=0)
        dmean = np.einsum("mnj,n->mj", dk, self.alpha)
        dvar = -2.0 * np.einsum("mnj,mn->mj", dk, k_inv_ks)
        floor = 1e-12 * self.params.signal
        dvar[var <= floor] = 0.0
        return mean, np.maximum(var, floor), dmean, dvar


# -- log expected improvement ------------------------------------------------------------------

_TAIL = 30.0  # beyond |z| = 30 the asymptotic series is exact to double precision


def log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log h(z), h(z) = z Phi(z) + phi(z) (expected improvement of a unit normal over -z), and
    d log h / dz = Phi(z) / h(z); finite and accurate for very negative z."""
    z = np.asarray(z, dtype=float)
    value, slope = np.empty_like(z), np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    h = zu * ndtr(zu) + np.exp(-0.5 * zu * zu) / math.sqrt(2.0 * math.pi)
    value[upper], slope[upper] = np.log(h), ndtr(zu) / h
    mid = (z <= -1.0) & (z >= -_TAIL)
    x = -z[mid]
    mills = SQRT_HALF_PI * erfcx(x / math.sqrt(2.0))  # Phi(-x) / phi(x)
    c = -np.expm1(np.log(x * mills))  # h / phi = 1 - x * mills, written as Ament et al. do
    value[mid] = -0.5 * x * x - LOG_SQRT_2PI + np.log(c)
    slope[mid] = mills / c
    far = z < -_TAIL
    x = -z[far]
    inv2 = 1.0 / (x * x)
    # h / phi = (1 / x^2) (1 - 3/x^2 + 15/x^4 - 105/x^6 + ...): the asymptotic series of 1 - x * mills
    series, term = np.zeros_like(x), np.ones_like(x)
    for k in range(1, 9):
        term = -term * (2 * k + 1) * inv2
        series += term
    with np.errstate(over="ignore"):
        value[far] = -0.5 * x * x - LOG_SQRT_2PI - 2.0 * np.log(x) + np.log1p(series)
    s = inv2 * (1.0 + series)  # h / phi
    slope[far] = x * (1.0 - s) / (1.0 + series)  # (Phi / phi) / (h / phi), Phi / phi = (1 - s) / x
    return value, slope


def log_ei(mean: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """log E[max(best - f, 0)] for f ~ N(mean, var): lower values are better."""
    sigma = np.sqrt(var)
    return np.asarray(np.log(sigma) + log_h((best - mean) / sigma)[0])


def log_ei_grad(gp: GP, xs: np.ndarray, best: float) -> tuple[np.ndarray, np.ndarray]:
    """log EI at each row of `xs` and its gradient over the numeric dimensions."""
    mean, var, dmean, dvar = gp.posterior_grad(xs)
    sigma = np.sqrt(var)
    z = (best - mean) / sigma
    value, slope = log_h(z)
    d_mean = -slope / sigma
    d_sigma = (1.0 - slope * z) / sigma
    grad = d_mean[:, None] * dmean + (d_sigma / (2.0 * sigma))[:, None] * dvar
    return np.log(sigma) + value, grad


# -- acquisition optimisation ------------------------------------------------------------------

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


__all__ = ["GP", "Conditions", "Params", "Region", "fit", "impute", "inactive_values", "log_ei", "log_ei_grad", "log_h",
           "log_lengthscale_bounds", "maximize_log_ei", "neg_log_posterior", "one_blas_thread", "pair_terms",
           "prior_log_lengthscale", "scaled_r2", "snap", "to_levels"]
