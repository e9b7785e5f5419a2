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
tail (Ament et al. 2023, "Unexpected improvements to expected improvement"); with several objectives,
log expected hypervolume improvement, exact for independent normal objectives: the region no front
point dominates is cut into disjoint boxes (`non_dominated_boxes`), and the expected improvement in
each box is a product of one-dimensional expectations, each a difference of two EI terms; where it is
maximised: `_gp_acquisition`.
"""

from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.linalg.lapack import dpotri
from scipy.optimize import minimize
from scipy.special import erfcx, log_ndtr, ndtr

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


# -- several objectives and constraints --------------------------------------------------------

def non_dominated_boxes(front: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint boxes [lower, upper) whose union is the part of {z < reference} that no row of `front`
    dominates (minimisation); lower bounds may be -inf. Each point cuts every box its dominated orthant
    meets into the at most m pieces outside the orthant (z_i < p_i with z_j >= p_j for j < i)."""
    m = len(reference)
    lower, upper = np.full((1, m), -np.inf), np.asarray(reference, dtype=float).reshape(1, m)
    for p in front[np.lexsort(front.T[::-1])] if len(front) else front:
        hit = (p < upper).all(axis=1)
        if not hit.any():
            continue
        lo, hi = lower[hit].copy(), upper[hit]
        pieces_lo, pieces_hi = [lower[~hit]], [upper[~hit]]
        for i in range(m):
            keep = p[i] > lo[:, i]
            piece_hi = hi[keep].copy()
            piece_hi[:, i] = p[i]
            pieces_lo.append(lo[keep].copy())
            pieces_hi.append(piece_hi)
            lo[:, i] = np.maximum(lo[:, i], p[i])
        lower, upper = np.vstack(pieces_lo), np.vstack(pieces_hi)
    return lower, upper


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x <= 0, accurate at both ends (-inf at 0)."""
    with np.errstate(divide="ignore"):
        return np.asarray(np.where(x > -math.log(2.0), np.log(-np.expm1(np.minimum(x, 0.0))),
                                   np.log1p(-np.exp(np.minimum(x, -math.log(2.0))))))


def log_ehvi(means: np.ndarray, variances: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """log expected hypervolume improvement at each row of `means` / `variances` ((c, m): independent normal
    objectives, minimised) over the disjoint boxes `lower` / `upper` ((k, m), `non_dominated_boxes`).

    In a box the improvement is prod_i (u_i - max(l_i, Y_i))+, and with independent objectives its mean is
    the product of E[(u - max(l, Y))+] = E[(u - Y)+] - E[(l - Y)+] = sigma (h(zu) - h(zl)), h as in `log_h`;
    log h is computed once per distinct bound."""
    sigma = np.sqrt(variances)
    total = np.zeros((len(means), len(lower)))
    for i in range(means.shape[1]):
        bounds, inverse = np.unique(np.concatenate([lower[:, i], upper[:, i]]), return_inverse=True)
        inverse = inverse.reshape(-1)
        finite = np.isfinite(bounds)
        log_hb = np.full((len(means), len(bounds)), -np.inf)
        z = (bounds[None, finite] - means[:, i, None]) / sigma[:, i, None]
        log_hb[:, finite] = log_h(z.reshape(-1))[0].reshape(z.shape)
        log_hu, log_hl = log_hb[:, inverse[len(lower):]], log_hb[:, inverse[:len(lower)]]
        total += np.log(sigma[:, i, None]) + log_hu + _log1mexp(np.minimum(log_hl - log_hu, 0.0))
    top = total.max(axis=1, keepdims=True)
    top[~np.isfinite(top)] = 0.0  # a row of -inf (no box it can improve) stays -inf
    return np.asarray(top[:, 0] + np.log(np.exp(total - top).sum(axis=1)))


def log_feasibility(mean: np.ndarray, var: np.ndarray, threshold: float) -> np.ndarray:
    """log P(f <= threshold) for f ~ N(mean, var): a constraint's chance of being satisfied."""
    return np.asarray(log_ndtr((threshold - mean) / np.sqrt(var)))


__all__ = ["GP", "Params", "fit", "log_ehvi", "log_ei", "log_ei_grad", "log_feasibility", "log_h",
           "log_lengthscale_bounds", "neg_log_posterior", "non_dominated_boxes", "one_blas_thread", "pair_terms",
           "prior_log_lengthscale", "scaled_r2"]
