"""Tree-structured Parzen Estimator (Bergstra et al. 2011), multivariate, in the unit cube.

After `n_startup_trials` usable trials, the finished trials are split into a good group (the
best `gamma(n)`) and a bad group (the rest). Each group gets a Parzen density over [0, 1]^d: a
mixture with one component per trial plus one wide prior component. A component is a product
of truncated Gaussians on [0, 1] for numeric dimensions (a width per trial and dimension, from
its neighbours) and an Aitchison-Aitken kernel for categorical ones, so the dimensions are
modelled jointly (a component is drawn once per point). `n_candidates` points are drawn from the
good density l and the one with the largest log l(x) - log g(x) is returned.

Components against Watanabe (2023, arXiv:2304.11127, "TPE: understanding its algorithm
components") and Optuna 5.0's TPESampler; "was" is this module before the NAS-Bench-201 work:

| component      | ours                              | paper studies             | Optuna 5.0           |
|:---------------|:----------------------------------|:--------------------------|:---------------------|
| joint model    | multivariate                      | multivariate helps        | multivariate         |
| gamma          | ceil(0.1 n), at most 25           | linear (exploits) or sqrt | as ours              |
| weights        | uniform; bad: newest, capped      | uniform, old-decay, EI    | bad: old ones decay  |
| prior          | weight 1, centre 0.5, width 1     | weight 1                  | as ours              |
| numeric width  | farther neighbour, >= 1/(n+2)     | hyperopt, Optuna, Scott;  | as ours, but the     |
|                | (was Scott's rule, >= 1/(n+1))    | the minimum matters       | outermost ignore 0, 1|
| categorical    | Aitchison-Aitken, b ~ 1/n         | Aitchison-Aitken, b fixed | pseudo-counts, the   |
|                | (was fixed: 1 - b = 0.6, k = 5)   | (0.1) or Optuna's         | same b as ours       |
| EI candidates  | 24                                | 24                        | 24                   |

Measured on the dev problems (benchmarks/search_quality.py, 5 seeds, median regret over
Optuna's at 60 trials): the fixed categorical kernel left the bad group's density as smooth as
the good group's (NB201 cifar10 8.6x -> 3.4x, imagenet 1.8x -> 0.95x); a fixed sharp b = 0.1
exploits too early (cifar10 21x). Scott's width lost on HPOBench vehicle (1.3x -> 0.7x) and
noisy Hartmann-6 (3.1x -> 2.5x). Decaying the weights of old bad trials did not help; Optuna's
rule for the outermost points was mixed (HPOBench car better, vehicle and Hartmann-6 worse).

Several objectives and constraints (issue 13): the split follows `zoomtune.samplers.ranking`. Trials are
ordered by constrained non-domination rank (feasible trials first, infeasible ones by total violation,
Deb's rule); the good group is filled rank by rank and the rank that does not fit whole is cut by greedy
hypervolume subset selection, with each objective normalised to that rank's extent and the reference point
at 1.1 (Ozaki et al. 2020/2022, "Multiobjective TPE"). With several objectives the good components are
weighted by their hypervolume contribution within the good group (`weigh_by_hypervolume`; dominated good
trials weigh 1e-3), and the dimensions are modelled one by one (`multivariate=None`): a candidate then mixes
coordinates of different good trials, which spreads points along the front. Measured on the
multi-objective dev problems (benchmarks/multi_objective.py, 3-4 seeds): the joint model reached normalised
hypervolume 0.30 on DTLZ2 at 100 trials against 0.36 one by one; without the weights ZDT2 fell from 0.90 to
0.85 at 300 trials. With both (10 seeds, median at 100 / 300 trials, Optuna 5's TPE in brackets): ZDT1
0.877 / 0.944 (0.882 / 0.929), ZDT2 0.799 / 0.868 (0.781 / 0.840), DTLZ2 0.377 / 0.530 (0.329 / 0.525);
held out, 5 seeds: ZDT3 0.831 / 0.900 (0.804 / 0.865), ZDT1 with a constraint 0.876 / 0.943 (0.877 / 0.920).
Constraints also enter the acquisition (`model_constraints`, after c-TPE, Watanabe & Hutter 2023): a
candidate's log l(x) - log g(x) gains, per constraint, the log ratio of the densities of the recent trials
that satisfy it and of those that break it, so proposals keep off the infeasible side of a boundary that the
good group sits on. Without constraints nothing changes.

History cap: at most `max_observations` trials are modelled, the good group (ranked over the
whole history) plus the most recent bad trials, which keeps one proposal well under 20 ms with
thousands of finished trials.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from zoomtune.errors import require, require_int, require_number
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.samplers.base import SampleContext, Sampler, union_space
from zoomtune.samplers.ranking import hypervolume_weights, preference_order
from zoomtune.space import Categorical, Distribution, Space

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: the weight of a good trial off the good group's front (multi-objective, `weigh_by_hypervolume`)
_WEIGHT_FLOOR = 1e-3


def default_gamma(n: int) -> int:
    """Size of the good group among n trials: 10 %, rounded up, at most 25."""
    return min(math.ceil(0.1 * n), 25)


def _neighbour_bandwidths(points: np.ndarray) -> np.ndarray:
    """Per observation and dimension, the distance to the farther of its two neighbours in sorted
    order (the cube's faces count as neighbours), clipped to [max(1 / (n + 2), 0.01), 1]. A dimension
    with missing (NaN) coordinates is measured among the n observations that have it (NaN stays NaN).

    An isolated point gets a wide kernel and one in a cluster a narrow one; of a value repeated
    three or more times (integer and tabulated parameters) the inner copies get the floor, so the
    density peaks where the evidence piles up. A width from the group's spread (Scott's rule, what
    we had) gives every point the same width, and lost on the numeric dev problems (see above)."""
    missing = np.isnan(points)
    if missing.any():
        sigma = np.full(points.shape, np.nan)
        for j, column in enumerate(points.T):
            present = ~missing[:, j]
            if present.any():
                sigma[present, j] = _neighbour_bandwidths(column[present, None])[:, 0]
        return sigma
    n, d = points.shape
    order = np.argsort(points, axis=0, kind="stable")  # stable: ties in trial order, deterministic
    padded = np.vstack([np.zeros((1, d)), np.take_along_axis(points, order, axis=0), np.ones((1, d))])
    gaps = np.diff(padded, axis=0)  # (n + 1, d)
    sigma = np.empty((n, d))
    np.put_along_axis(sigma, order, np.maximum(gaps[:-1], gaps[1:]), axis=0)
    return np.clip(sigma, max(1.0 / (n + 2), 0.01), 1.0)


def _aitchison_aitken(idx: np.ndarray, k: int, prior_weight: float) -> np.ndarray:
    """Kernel probabilities (n + 1, k) for one categorical dimension: observation i puts 1 - b on
    its choice idx[i] (-1: missing, uniform like the prior) and b / (k - 1) on each other one; the last
    row (the prior) is uniform. n counts the observations that have a choice.

    b = (1 - 1/k) m / (n + 1 + m) with m = k * prior_weight: the prior's pseudo-counts spread over
    the n + 1 components, so b is near uniform for a group of one or two and shrinks like 1/n. A
    fixed b keeps the bad group's density as smooth as the good group's; with many bad trials it
    then cannot say which choices were tried and failed, which is what lost on NAS-Bench-201."""
    present = np.flatnonzero(idx >= 0)
    m = k * prior_weight
    b = (1.0 - 1.0 / k) * m / (len(present) + 1 + m)
    probs = np.full((len(idx) + 1, k), b / (k - 1) if k > 1 else 0.0)
    probs[present, idx[present]] = 1.0 - b
    probs[np.flatnonzero(idx < 0)] = 1.0 / k
    probs[len(idx)] = 1.0 / k
    return probs


class _Parzen:
    """A mixture over [0, 1]^d: one component per observation plus a prior component.

    An observation may miss coordinates (NaN: a conditional parameter of a branch its trial did not
    take); the density is then marginalised over them. Jointly, the component is uniform in a missing
    dimension (its factor is 1, a categorical's 1 / k), so it weighs a candidate by the coordinates it
    has; one by one (`independent`), a dimension mixes only the components that have it (and the prior).
    """

    def __init__(self, points: np.ndarray, n_choices: list[int], prior_weight: float,
                 weights: np.ndarray | None = None, independent: bool = False) -> None:
        n, d = points.shape
        self.independent = independent
        self.numeric = np.array([k == 0 for k in n_choices], dtype=bool)
        self.n_choices = n_choices
        weights = np.append(np.ones(n) if weights is None else weights, prior_weight)
        self.log_w = np.log(weights / weights.sum())
        missing = np.isnan(points)
        #: (n + 1, d), where a component lacks a coordinate; None when none does
        self.missing = np.vstack([missing, np.zeros((1, d), dtype=bool)]) if missing.any() else None
        #: per dimension, the log weights of the components that have it (one by one); None: `log_w` for all
        self.log_w_dim: np.ndarray | None = None
        if self.missing is not None and independent:
            w = np.where(self.missing, 0.0, weights[:, None])
            with np.errstate(divide="ignore"):
                self.log_w_dim = np.log(w / w.sum(axis=0))
        # (n + 1, d); the last row is the prior
        self.mu = np.vstack([np.where(missing, 0.5, points), np.full((1, d), 0.5)])
        sigma = _neighbour_bandwidths(points)
        self.sigma = np.vstack([np.where(missing, 1.0, sigma), np.ones((1, d))])  # the prior is wide
        lo = -self.mu / self.sigma
        hi = (1.0 - self.mu) / self.sigma
        from scipy.special import ndtr  # SciPy loads when TPE first fits, not on `import zoomtune`

        self.cdf_lo, self.cdf_hi = ndtr(lo), ndtr(hi)
        # log of the truncation mass; the interval always contains mu, so no cancellation
        self.log_mass = np.log(np.maximum(self.cdf_hi - self.cdf_lo, 1e-300))
        self.log_cat: dict[int, np.ndarray] = {}
        for j, k in enumerate(n_choices):
            if k:
                column = points[:, j]
                idx = np.where(np.isnan(column), -1, np.minimum((np.nan_to_num(column) * k).astype(int), k - 1))
                self.log_cat[j] = np.log(_aitchison_aitken(idx, k, prior_weight))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` draws; each takes one component for all its coordinates, or (`independent`) one per coordinate."""
        d = self.mu.shape[1]
        if self.log_w_dim is not None:
            comp = np.stack([rng.choice(len(self.log_w), size=size, p=np.exp(column)) for column in self.log_w_dim.T],
                            axis=1)
        else:
            comp = rng.choice(len(self.log_w), size=(size, d) if self.independent else size, p=np.exp(self.log_w))
        rows, cols = (comp, np.arange(d)) if self.independent else (comp[:, None], np.arange(d))
        u = rng.random((size, d))
        lo, hi = self.cdf_lo[rows, cols], self.cdf_hi[rows, cols]
        from scipy.special import ndtri

        z = ndtri(np.clip(lo + u * (hi - lo), 1e-300, 1.0 - 1e-16))
        out = np.clip(self.mu[rows, cols] + self.sigma[rows, cols] * z, 0.0, 1.0)
        if self.missing is not None:  # a component without the coordinate draws it uniformly
            out = np.where(self.missing[rows, cols], u, out)
        for j, log_p in self.log_cat.items():
            cum = np.cumsum(np.exp(log_p[comp[:, j] if self.independent else comp]), axis=1)
            choice = np.minimum((u[:, j:j + 1] > cum).sum(axis=1), self.n_choices[j] - 1)
            out[:, j] = (choice + 0.5) / self.n_choices[j]
        return np.asarray(out)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density at each row of x (m, d): summed over dims and mixed over components, or (`independent`)
        mixed over components in each dimension and then summed."""
        kernels = np.zeros((len(x), len(self.log_w), x.shape[1]))  # (m, components, d): log kernel values
        num = self.numeric
        if num.any():
            z = (x[:, None, num] - self.mu[None, :, num]) / self.sigma[None, :, num]
            kernels[:, :, num] = -0.5 * z * z - _LOG_SQRT_2PI - np.log(self.sigma[:, num]) - self.log_mass[:, num]
            if self.missing is not None:  # uniform on [0, 1]: log density 0
                kernels[:, :, num] = np.where(self.missing[None, :, num], 0.0, kernels[:, :, num])
        for j, log_p in self.log_cat.items():
            k = self.n_choices[j]
            kernels[:, :, j] = log_p[:, np.minimum((x[:, j] * k).astype(int), k - 1)].T
        from scipy.special import logsumexp

        if self.independent:
            log_w = self.log_w[:, None] if self.log_w_dim is None else self.log_w_dim
            return np.asarray(logsumexp(kernels + log_w[None], axis=1).sum(axis=1))
        total = self.log_w + kernels[:, :, num].sum(axis=2)
        for j in self.log_cat:
            total = total + kernels[:, :, j]
        return np.asarray(logsumexp(total, axis=1))


@dataclass(frozen=True)
class TPEGroups:
    """The trials a proposal models: the good group (with its components' weights, None for uniform) and the bad."""

    good: list[TrialRecord]
    bad: list[TrialRecord]
    good_weights: np.ndarray | None
    #: per constraint, the trials that satisfy it and those that break it (c-TPE's density ratio)
    constraint_splits: tuple[tuple[list[TrialRecord], list[TrialRecord]], ...] = ()


class TPESampler(Sampler):
    """Multivariate TPE over the (declared or inferred) joint space.

    With no declared space the joint space is the union of the parameters of every COMPLETE trial
    (`union_space`), so every branch of a define-by-run objective is modelled at once: the good / bad split is
    by value over all trials, and each trial counts in the density of the dimensions it has (the others are
    marginalised, see `_Parzen`). A trial keeps only the parameters its objective asked for
    (`records_asked_only`). Parameters suggested outside the joint space (a branch no finished trial took)
    get a 1-D TPE on the trials that have them. Only COMPLETE trials with a finite value (every objective's)
    are modelled, with every parameter of a declared space (of the union: at least one), each with the same
    distribution as the space's. `multivariate`: model the
    dimensions jointly (True) or one by one (False); None (the default) is jointly for one objective and one
    by one for several. `weigh_by_hypervolume`: with several objectives, weight the good trials by their
    hypervolume contribution (see the module). `model_constraints`: score each candidate by, besides
    l(x) / g(x), each constraint's ratio of the densities of the trials that satisfy and that break it.
    """

    uses_history = True
    records_asked_only = True

    def __init__(self, seed: int | None = None, n_startup_trials: int = 10, n_candidates: int = 24,
                 gamma: Callable[[int], int] = default_gamma, prior_weight: float = 1.0,
                 max_observations: int = 300, weigh_by_hypervolume: bool = True,
                 multivariate: bool | None = None, model_constraints: bool = True) -> None:
        super().__init__(seed)
        self.n_startup_trials: int = require_int("TPESampler", "n_startup_trials", n_startup_trials, 0)
        self.n_candidates: int = require_int("TPESampler", "n_candidates", n_candidates, 1)
        require(callable(gamma), "TPESampler", "gamma", "must be a function (number of trials -> size of the good "
                "group)", gamma)
        self.gamma = gamma
        self.prior_weight = require_number("TPESampler", "prior_weight", prior_weight, 0, low_open=True)
        self.max_observations: int = require_int("TPESampler", "max_observations", max_observations, 1)
        require(isinstance(weigh_by_hypervolume, bool), "TPESampler", "weigh_by_hypervolume", "must be True or False",
                weigh_by_hypervolume)
        self.weigh_by_hypervolume = weigh_by_hypervolume
        require(multivariate is None or isinstance(multivariate, bool), "TPESampler", "multivariate",
                "must be True, False or None", multivariate)
        self.multivariate = multivariate
        require(isinstance(model_constraints, bool), "TPESampler", "model_constraints", "must be True or False",
                model_constraints)
        self.model_constraints = model_constraints

    def joint_space(self, history: list[TrialRecord]) -> Space | None:
        return union_space(history)

    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        return self._propose(space, context, "tpe", partial=context.declared_space is None)

    def sample_one(self, name: str, dist: Distribution, context: SampleContext) -> float:
        return self._propose(Space({name: dist}), context, "tpe:" + name, partial=False)[0]

    def groups(self, space: Space, history: list[TrialRecord], directions: tuple[Direction, ...],
               partial: bool = False) -> TPEGroups:
        """The trials a proposal models: the usable ones split into good and bad by `preference_order`, bad capped to
        the most recent ones. With `partial`, a trial that lacks some of the space's parameters (a branch it did not
        take) is usable too. Public so that wrappers and tests can see what TPE learns from a history."""
        items = list(space.items())
        same: dict[int, bool] = {}  # id(distribution) -> equal to the space's; objects live in history
        usable: list[TrialRecord] = []
        for t in history:
            values = t.values
            if (t.state is not TrialState.COMPLETE or values is None or len(values) != len(directions)
                    or not all(math.isfinite(v) for v in values)):
                continue
            dists, params = t.distributions, t.params
            has = 0
            for name, dist in items:
                d = dists.get(name)
                if d is None or name not in params:
                    if partial:
                        continue
                    break
                ok = same.get(id(d))
                if ok is None:
                    ok = same[id(d)] = d is dist or d == dist
                if not ok:
                    break
                has += 1
            else:
                if has or not partial:
                    usable.append(t)
        usable.sort(key=lambda t: t.number)
        signs = np.array([1.0 if d is Direction.MINIMIZE else -1.0 for d in directions])
        values = signs * np.array([t.values for t in usable], dtype=float).reshape(-1, len(directions))
        violations = np.array([t.violation for t in usable]) if any(t.constraints for t in usable) else None
        n_good = max(1, min(int(self.gamma(len(usable))), len(usable))) if usable else 0
        order = preference_order(values, violations, n_good)
        good, bad = [usable[i] for i in order[:n_good]], [usable[i] for i in order[n_good:]]
        weights = None
        if len(directions) > 1 and self.weigh_by_hypervolume and n_good:
            weights = hypervolume_weights(values[order[:n_good]], None if violations is None
                                          else violations[order[:n_good]], _WEIGHT_FLOOR)
        cap = max(self.max_observations - n_good, 1)
        if len(bad) > cap:
            bad = sorted(bad, key=lambda t: t.number)[-cap:]
        splits: list[tuple[list[TrialRecord], list[TrialRecord]]] = []
        if violations is not None and self.model_constraints:
            recent = usable[-self.max_observations:]
            for name in sorted({name for t in recent for name in t.constraints}):
                met = [t for t in recent if name in t.constraints and t.constraints[name] <= 0]
                broken = [t for t in recent if name in t.constraints and t.constraints[name] > 0]
                if met and broken:  # one side alone says nothing about where the constraint holds
                    splits.append((met, broken))
        return TPEGroups(good, bad, weights, tuple(splits))

    def _propose(self, space: Space, context: SampleContext, key: str, partial: bool) -> list[float]:
        rng = self.rng(context.number, key)
        d = len(space)
        groups = self.groups(space, context.history(), context.directions, partial)
        good, bad = groups.good, groups.bad
        n_choices = [len(dist.choices) if isinstance(dist, Categorical) else 0 for dist in space.values()]
        if len(good) + len(bad) < max(self.n_startup_trials, 1):
            point = rng.random(d)
        else:
            def unit(trials: list[TrialRecord]) -> np.ndarray:
                """The trials' points, NaN for a parameter a trial lacks (`partial`)."""
                if not partial:
                    return np.array([space.to_unit(t.params) for t in trials], dtype=float).reshape(-1, d)
                return np.array([[dist.to_unit(t.params[name]) if name in t.params else np.nan
                                  for name, dist in space.items()] for t in trials], dtype=float).reshape(-1, d)

            independent = not (len(context.directions) == 1 if self.multivariate is None else self.multivariate)
            below = _Parzen(unit(good), n_choices, self.prior_weight, groups.good_weights, independent)
            above = _Parzen(unit(bad), n_choices, self.prior_weight, independent=independent)
            candidates = below.sample(rng, self.n_candidates)
            score = below.log_pdf(candidates) - above.log_pdf(candidates)
            for met, broken in groups.constraint_splits:
                score += (_Parzen(unit(met), n_choices, self.prior_weight, independent=independent).log_pdf(candidates)
                          - _Parzen(unit(broken), n_choices, self.prior_weight, independent=independent)
                          .log_pdf(candidates))
            point = candidates[int(np.argmax(score))]
        out = []
        for u, k in zip(point, n_choices, strict=True):
            u = min(1.0, max(0.0, float(u)))
            out.append((min(int(u * k), k - 1) + 0.5) / k if k else u)  # categorical: cell centre
        return out


__all__ = ["TPEGroups", "TPESampler", "default_gamma"]
