"""Bayesian optimisation with a Gaussian process in the unit cube (NumPy and SciPy only).

After `n_startup_trials` finished trials (Sobol points until then), every proposal fits a GP to
the finished trials of the (declared or inferred) joint space and returns the point of largest
log expected improvement:

- kernel: Matern-5/2 with one lengthscale per dimension; a categorical dimension adds
  [a != b] / l^2 to the squared distance (its choices are not ordered); an integer sits on its unit
  coordinate (the centre of its cell);
- values standardised, sign-flipped so that lower is better (`history_points`); hyperparameters
  by maximum a posteriori (priors on the log lengthscales, signal and noise; L-BFGS-B with analytic
  gradients, Cholesky with jitter); see `_gp_math` (and `_gp_acquisition` for the acquisition search);
- acquisition: log EI, stable far in the tail, maximised over scrambled Sobol candidates plus
  points near the best trials (integers on their values), the best few polished by L-BFGS-B over the
  continuous dimensions, then every choice of each categorical dimension and the nearby values of
  each integer tried for the winner; a point already evaluated (or pending) is not proposed again;
- pending trials (the study's other RUNNING trials, `context.pending()`) enter the GP with the best
  value seen as a constant liar, so parallel workers do not propose the same point;
- past `max_history` finished trials the GP sees a subset: the best third (by constrained
  non-domination rank) plus a seeded random sample of the rest, so one proposal stays under about a
  second per objective however long the study.

Several objectives (`SampleContext.directions`): one GP per objective (each standardised, each fitted
as above) and log expected hypervolume improvement over the front of the feasible trials, exact for
the independent posteriors (`_gp_math.log_ehvi` over `_gp_math.non_dominated_boxes`), with the reference
point at the front's nadir plus a tenth of its range (`reference_point`); the search
starts near the front's trials of largest hypervolume contribution; pending trials enter every GP at its
mean there and join the front (kriging believer). Constraints (`TrialRecord.constraints`, one or several
objectives): a GP per constraint, and the acquisition adds log P(every constraint <= 0); EI's best value
and the front are the feasible trials'; until one trial is feasible the search is for feasibility alone.
Without constraints, one objective proposes exactly what it did before these modes existed.

The same seed and the same history give the same point: the fit has no randomness and the
acquisition's candidates come from `rng(number)`. Parameters suggested outside the joint space
(define-by-run, conditional) get a seeded uniform draw.

With no declared space the joint space is the union of the parameters every trial asked for
(`joint_space`), so the trials of all branches of a conditional objective are modelled together: a
trial's parameters of branches it did not take sit at fixed inactive values (mid-range; for a
categorical, one mismatch from every choice), and each candidate is scored with the parameters its
own choices switch off set alike (`_gp_acquisition.Conditions`, learnt from which trials asked for what).
A trial keeps only the parameters its objective asked for (`records_asked_only`).

>>> import zoomtune as zt
>>> study = zt.create_study(sampler=GPSampler(seed=0, n_startup_trials=4), space=zt.Space(x=zt.Float(-2.0, 2.0)))
>>> study.optimize(lambda t: (t.params["x"] - 0.5) ** 2, n_trials=12)
>>> abs(study.best_trial.params["x"] - 0.5) < 0.05
True
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from zoomtune.errors import require, require_int
from zoomtune.pareto import hypervolume_contributions, non_dominated_ranks, pareto_front_mask
from zoomtune.records import Direction, TrialRecord, TrialState
from zoomtune.samplers.base import SampleContext, Sampler, history_points, union_space
from zoomtune.samplers.sobol import SobolSampler
from zoomtune.space import Categorical, Distribution, Int, Space

if TYPE_CHECKING:
    from zoomtune.samplers._gp_acquisition import Acquisition, Region
    from zoomtune.samplers._gp_math import GP, Params

_OWNER = "GPSampler"
_N_BEST = 5  # trials whose neighbourhoods seed the acquisition search


@dataclass(frozen=True)
class Observations:
    """The finished trials a GP models: points `x` (n, d; unit cube, NaN where imputed), objective values `y`
    (n, m; sign-flipped so that every objective is minimised) and `constraints` (n, k; a column per constraint
    name, NaN where a trial does not report it)."""

    x: np.ndarray
    y: np.ndarray
    constraints: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, rows: np.ndarray) -> Observations:
        return Observations(self.x[rows], self.y[rows], self.constraints[rows])

    def violations(self) -> np.ndarray:
        """Each row's total violation (a constraint it does not report counts as satisfied)."""
        return np.asarray(np.nansum(np.maximum(self.constraints, 0.0), axis=1))

    def order(self, tie_break: np.ndarray | None = None) -> np.ndarray:
        """The rows best first: by constrained non-domination rank (by value with one objective), then by
        `tie_break` (lower first), then by position."""
        ranks = non_dominated_ranks(self.y, self.violations())
        keys = (ranks,) if tie_break is None else (tie_break, ranks)
        return np.lexsort((np.arange(len(ranks)), *keys))


def observations(space: Space, history: list[TrialRecord], directions: Sequence[Direction],
                 partial: bool = False) -> Observations:
    """The finished trials of `history` in `space` (as `history_points` selects them; with several objectives,
    the COMPLETE trials with a finite value of each), with their objective and constraint values."""
    names = sorted({name for trial in history for name in trial.constraints})
    signs = np.array([1.0 if d is Direction.MINIMIZE else -1.0 for d in directions])
    xs, ys, cs = [], [], []
    for trial in history:
        values = trial.values
        if len(signs) > 1 and (trial.state is not TrialState.COMPLETE or values is None or len(values) != len(signs)
                               or not np.isfinite(values).all()):
            continue
        point, value = history_points(space, [trial], directions[0], partial)
        if len(value):
            xs.append(point[0])
            ys.append(signs * np.asarray(values, dtype=float) if len(signs) > 1 else value)
            cs.append([trial.constraints.get(name, np.nan) for name in names])
    return Observations(np.array(xs, dtype=float).reshape(len(xs), len(space)),
                        np.array(ys, dtype=float).reshape(len(ys), len(signs)),
                        np.array(cs, dtype=float).reshape(len(cs), len(names)))


def reference_point(values: np.ndarray) -> np.ndarray:
    """The hypervolume reference point for `values` (n, m; minimised, n >= 1): the nadir of their front plus a
    tenth of each objective's range over the front (at least 1e-3), the usual heuristic (Ishibuchi et al.
    2018). A reference at the worst value of all points instead rewards points far from the front: measured on
    a 3-objective problem, the search then stayed about three times as far from the Pareto set."""
    front = values[pareto_front_mask(values)]
    nadir, best = front.max(axis=0), front.min(axis=0)
    return np.asarray(nadir + 0.1 * np.maximum(nadir - best, 1e-3))


def front_contributions(values: np.ndarray, violations: np.ndarray) -> np.ndarray:
    """Each row's exclusive hypervolume contribution among the feasible rows (`reference_point` of theirs); 0 for
    a dominated or infeasible row."""
    contributions = np.zeros(len(values))
    feasible = np.flatnonzero(violations == 0)
    if len(feasible):
        on_front = feasible[pareto_front_mask(values[feasible])]
        contributions[on_front] = hypervolume_contributions(values[on_front], reference_point(values[feasible]))
    return contributions


def _standardised(y: np.ndarray) -> np.ndarray:
    mean, std = float(np.mean(y)), float(np.std(y))
    return np.asarray((y - mean) / (std if std > 1e-12 else 1.0))


def _space_size(space: Space) -> float:
    """How many distinct points the space has (inf with a Float)."""
    size = 1.0
    for dist in space.values():
        if isinstance(dist, Categorical):
            size *= len(dist.choices)
        elif isinstance(dist, Int):
            size *= dist.high - dist.low + 1
        else:
            return math.inf
    return size


MAX_LEVELS = 4096


@lru_cache(maxsize=64)
def _int_levels(dist: Int) -> np.ndarray:
    """The unit coordinates of an integer parameter's values, in order (read-only: it is shared)."""
    levels = np.array([dist.to_unit(v) for v in range(int(dist.low), int(dist.high) + 1)])
    levels.setflags(write=False)
    return levels


def _levels(space: Space) -> dict[int, np.ndarray]:
    """Per integer dimension of at most `MAX_LEVELS` values, the unit coordinates of its values (a wider
    one is searched as a continuous coordinate: rounding it moves a point by under 1/4096)."""
    return {j: _int_levels(dist) for j, dist in enumerate(space.values())
            if isinstance(dist, Int) and dist.high - dist.low < MAX_LEVELS}


class GPSampler(Sampler):
    """Gaussian-process Bayesian optimisation with log expected improvement.

    `n_startup_trials` Sobol points come first (in a space of under 40 points at most a quarter of
    its size; never fewer than 2, the least a GP is fitted on); `n_candidates` Sobol candidates and
    `n_polish` local searches per proposal; at most `max_history` finished trials modelled;
    `deterministic_objective=True` fixes the noise at its minimum (for objectives that return the
    same value for the same parameters).
    """

    uses_history = True
    records_asked_only = True

    def __init__(self, seed: int | None = None, n_startup_trials: int = 10, n_candidates: int = 1024,
                 n_polish: int = 5, max_history: int = 300, deterministic_objective: bool = False) -> None:
        super().__init__(seed)
        self.n_startup_trials: int = require_int(_OWNER, "n_startup_trials", n_startup_trials, 0)
        self.n_candidates: int = require_int(_OWNER, "n_candidates", n_candidates, 1)
        self.n_polish: int = require_int(_OWNER, "n_polish", n_polish, 1)
        self.max_history: int = require_int(_OWNER, "max_history", max_history, 10)
        require(isinstance(deterministic_objective, bool), _OWNER, "deterministic_objective", "must be True or False",
                deterministic_objective)
        self.deterministic_objective = deterministic_objective
        self._startup = SobolSampler(self.seed)
        # fitted hyperparameters by a digest of the data they were fitted on: the fit is a function of the
        # data alone, so this only saves time (parallel asks on the same history, pending fantasies)
        self._fits: OrderedDict[bytes, Params] = OrderedDict()

    def n_startup(self, space: Space) -> int:
        """Finished trials needed before the GP is used, for this space."""
        size = _space_size(space)
        n = self.n_startup_trials if size >= 40 else min(self.n_startup_trials, max(2, math.ceil(size / 4)))
        return max(n, 2)

    def sample_one(self, name: str, dist: Distribution, context: SampleContext) -> float:
        return self.uniform(context.number, "gp:" + name)

    def joint_space(self, history: list[TrialRecord]) -> Space | None:
        """The union of the parameters of every COMPLETE trial (`union_space`), so that a define-by-run
        objective with branches is modelled as one space: a trial's parameters of branches it did not take
        are imputed (`_points`)."""
        return union_space(history)

    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        observed = self._points(space, context)
        if len(observed) < self.n_startup(space):
            return self._startup.sample(space, context)
        return self._propose(space, context, observed, None)

    def propose_in(self, space: Space, context: SampleContext, region: Region | None) -> list[float]:
        """The GP's proposal (unit cube) with the acquisition maximised inside `region` (the whole cube
        when None), from however many finished trials there are (at least two): what a sampler that
        chooses regions itself (model-guided coarse-to-fine) asks for. The trials modelled are those with
        all of `space`'s parameters (no imputation: the space is the caller's)."""
        observed = observations(space, context.history(), context.directions)  # the caller's space, as it models it
        require(len(observed) >= 2, _OWNER, "history", "needs at least 2 finished trials in the space to fit a GP",
                len(observed))
        return self._propose(space, context, observed, region)

    @staticmethod
    def _points(space: Space, context: SampleContext) -> Observations:
        """The finished trials the GP models (unit cube, NaN where imputed). With no declared space the
        space is `joint_space`'s union, and a trial counts even without the parameters of branches it did
        not take; a declared space models, as always, the trials that have all of its parameters."""
        return observations(space, context.history(), context.directions, partial=context.declared_space is None)

    def _propose(self, space: Space, context: SampleContext, observed: Observations,
                 region: Region | None) -> list[float]:
        from zoomtune.samplers import _gp_math as gpm

        with gpm.one_blas_thread():
            return self._propose_unlocked(space, context, observed, region)

    def _propose_unlocked(self, space: Space, context: SampleContext, observed: Observations,
                          region: Region | None) -> list[float]:
        from zoomtune.samplers import _gp_acquisition as acq

        rng = self.rng(context.number, "gp")
        n_choices = np.array([len(d.choices) if isinstance(d, Categorical) else 0 for d in space.values()])
        is_cat = n_choices > 0
        if len(observed) > self.max_history:
            observed = observed.subset(self._subset(observed.order(), self.rng(context.number, "gp:subset")))
        x = acq.snap(observed.x, n_choices)
        conditions = acq.Conditions.learn(x, n_choices) if np.isnan(x).any() else None
        x = acq.impute(x, n_choices)
        fantasies = self._pending_points(space, context, n_choices)
        if observed.y.shape[1] == 1:
            objective, lengthscales, best_rows = self._single(x, observed, is_cat, fantasies)
        else:
            objective, lengthscales, best_rows = self._several(x, observed, is_cat, fantasies)
        acquisition = self._constrained(objective, x, observed, is_cat)
        starts = self._local_starts(x[best_rows], n_choices, lengthscales, rng)
        point = acq.maximize(acquisition, n_choices, starts, rng, self.n_candidates, self.n_polish, region,
                             conditions, _levels(space))
        unit = np.array([(u + 0.5) / k if k else min(1.0, max(0.0, u)) for u, k in zip(point, n_choices, strict=True)])
        # a coordinate the point's choices switch off is what the objective should not ask for; if it does
        # (a branch never seen with this choice), it gets a seeded uniform draw, not the inactive value
        off = (point < 0) | (conditions.apply(point[None, :])[1][0] if conditions is not None else False)
        unit[off] = rng.random(int(off.sum()))
        return [float(u) for u in unit]

    def _single(self, x: np.ndarray, observed: Observations, is_cat: np.ndarray,
                fantasies: np.ndarray) -> tuple[Acquisition | GP, np.ndarray, np.ndarray]:
        """One objective: log EI over the best feasible value (the GP alone while no trial is feasible, for
        `_constrained`), the lengthscales and the rows best first. Pending points enter with the best value seen
        as a constant liar, so parallel workers do not propose the same point."""
        from zoomtune.samplers import _gp_acquisition as acq, _gp_math as gpm

        ys = _standardised(observed.y[:, 0])
        params = self._fit(x, ys, is_cat)
        feasible = observed.violations() == 0
        best = float(np.min(ys[feasible] if feasible.any() else ys))
        if len(fantasies):
            gp = gpm.GP(np.vstack([x, fantasies]), np.append(ys, np.full(len(fantasies), best)), is_cat, params)
        else:
            gp = gpm.GP(x, ys, is_cat, params)
        return (acq.LogEI(gp, best) if feasible.any() else gp), params.lengthscales, observed.order()[:_N_BEST]

    def _several(self, x: np.ndarray, observed: Observations, is_cat: np.ndarray,
                 fantasies: np.ndarray) -> tuple[Acquisition | GP, np.ndarray, np.ndarray]:
        """Several objectives: a GP per (standardised) objective and log expected hypervolume improvement over
        the feasible trials' front, reference point `reference_point` (the GP of the first objective alone
        while no trial is feasible); the shortest lengthscale of
        each dimension; the rows by constrained rank, the front by hypervolume contribution. Pending points
        enter every GP with its mean there (kriging believer) and join the front, so parallel workers spread."""
        from zoomtune.samplers import _gp_acquisition as acq, _gp_math as gpm

        ys = np.column_stack([_standardised(column) for column in observed.y.T])
        fits = [self._fit(x, column, is_cat) for column in ys.T]
        gps = [gpm.GP(x, column, is_cat, params) for column, params in zip(ys.T, fits, strict=True)]
        feasible = observed.violations() == 0
        front = ys[feasible]
        if len(fantasies):
            believed = np.column_stack([gp.posterior(fantasies)[0] for gp in gps])
            gps = [gpm.GP(np.vstack([x, fantasies]), np.append(column, guess), is_cat, params)
                   for column, guess, params in zip(ys.T, believed.T, fits, strict=True)]
            front = np.vstack([front, believed])
        lengthscales = np.min([params.lengthscales for params in fits], axis=0)
        if not feasible.any():
            return gps[0], lengthscales, observed.order()[:_N_BEST]
        lower, upper = gpm.non_dominated_boxes(front[pareto_front_mask(front)], reference_point(ys[feasible]))
        contributions = front_contributions(ys, observed.violations())
        return acq.LogEHVI(tuple(gps), lower, upper), lengthscales, observed.order(-contributions)[:_N_BEST]

    def _constrained(self, objective: Acquisition | GP, x: np.ndarray, observed: Observations,
                     is_cat: np.ndarray) -> Acquisition:
        """`objective` times the probability that every constraint is satisfied, a GP per constraint (fitted on
        the trials that report it); `objective` as it is in a study without constraints. A bare GP (no trial
        feasible yet) makes the search one for feasibility alone."""
        from zoomtune.samplers import _gp_acquisition as acq, _gp_math as gpm

        models = []
        for column in observed.constraints.T:
            rows = ~np.isnan(column)
            if rows.sum() < 2:
                continue
            mean, std = float(np.mean(column[rows])), float(np.std(column[rows]))
            scale = std if std > 1e-12 else 1.0
            cs = (column[rows] - mean) / scale
            models.append((gpm.GP(x[rows], cs, is_cat, self._fit(x[rows], cs, is_cat)), -mean / scale))
        if isinstance(objective, acq.Acquisition) and not models:
            return objective
        gp = objective.gp if isinstance(objective, acq.Acquisition) else objective
        return acq.Constrained(gp, objective if isinstance(objective, acq.Acquisition) else None, tuple(models))

    def _subset(self, order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The rows kept past `max_history`: the best third (of `order`, best first) plus a random sample of the
        rest, in their original order."""
        n_best = self.max_history // 3
        rest = rng.choice(order[n_best:], size=self.max_history - n_best, replace=False)
        return np.sort(np.concatenate([order[:n_best], rest]))

    def _fit(self, x: np.ndarray, ys: np.ndarray, is_cat: np.ndarray) -> Params:
        from zoomtune.samplers import _gp_math as gpm

        digest = hashlib.blake2b(x.tobytes() + ys.tobytes() + is_cat.tobytes() + bytes([self.deterministic_objective]),
                                 digest_size=16).digest()
        params = self._fits.get(digest)
        if params is None:
            params = gpm.fit(x, ys, is_cat, fixed_noise=self.deterministic_objective)
            self._fits[digest] = params
            while len(self._fits) > 16:  # no lock (a sampler must pickle): each step is atomic
                try:
                    self._fits.popitem(last=False)
                except KeyError:
                    break
        return params

    @staticmethod
    def _pending_points(space: Space, context: SampleContext, n_choices: np.ndarray) -> np.ndarray:
        """The pending trials whose parameters all lie in `space`, in internal form."""
        from zoomtune.samplers import _gp_acquisition as acq

        points = [space.to_unit(t.params) for t in context.pending()
                  if all(name in t.params and dist.contains(t.params[name]) for name, dist in space.items())]
        return acq.snap(np.array(points, dtype=float).reshape(len(points), len(space)), n_choices)

    @staticmethod
    def _local_starts(best: np.ndarray, n_choices: np.ndarray, lengthscales: np.ndarray, rng: np.random.Generator,
                      per_point: int = 16) -> np.ndarray:
        """Candidates near the best trials `best`: numeric coordinates moved by a fraction of their lengthscale
        (half close, half farther), each categorical coordinate redrawn with probability 1 / d."""
        out = np.repeat(best, per_point, axis=0)
        d = best.shape[1]
        num = n_choices == 0
        scale = np.minimum(lengthscales[num], 1.0) * np.where(np.arange(len(out)) % 2, 0.05, 0.2)[:, None]
        out[:, num] = np.clip(out[:, num] + scale * rng.standard_normal((len(out), int(num.sum()))), 0.0, 1.0)
        for j in np.flatnonzero(n_choices):
            redraw = rng.random(len(out)) < 1.0 / d
            out[redraw, j] = rng.integers(0, n_choices[j], int(redraw.sum()))
        return np.vstack([best, out])

    def __repr__(self) -> str:
        return (f"GPSampler(seed={self.seed}, n_startup_trials={self.n_startup_trials}, "
                f"n_candidates={self.n_candidates}, max_history={self.max_history})")


__all__ = ["GPSampler", "Observations", "front_contributions", "observations", "reference_point"]
