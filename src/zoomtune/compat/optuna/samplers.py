"""Optuna's samplers, each a thin set of settings mapped argument by argument onto a zoomtune sampler.

Every mapped argument means what it means in Optuna; an argument with no zoomtune equivalent raises
`UnsupportedError` when it is given a value other than Optuna's default, and a sampler zoomtune lacks
(`CmaEsSampler`, `BruteForceSampler`, `PartialFixedSampler`) raises when it is made. Any zoomtune sampler
(``zoomtune.samplers.CoarseToFineSampler()``, say) may be passed to `create_study` as it is.

>>> TPESampler(seed=1, n_startup_trials=5).zoomtune.n_startup_trials
5
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from math import prod
from typing import Any

from zoomtune.compat.optuna.exceptions import UnsupportedError, unsupported_class
from zoomtune.samplers import GPSampler as ZtGPSampler
from zoomtune.samplers import GridSampler as ZtGridSampler
from zoomtune.samplers import NSGA2Sampler, Sampler, SobolSampler
from zoomtune.samplers import RandomSampler as ZtRandomSampler
from zoomtune.samplers import TPESampler as ZtTPESampler
from zoomtune.space import Categorical, ChoiceType, Space


def _refuse(owner: str, given: Mapping[str, Any], instead: Mapping[str, str]) -> None:
    """`UnsupportedError` for the first argument of `given` that is not None, saying what to use instead."""
    for name, value in given.items():
        if value is not None:
            raise UnsupportedError(f"{owner}({name}={value!r})", instead[name])


class BaseSampler:
    """An Optuna sampler's settings and the zoomtune sampler they make (`zoomtune`)."""

    def __init__(self, make: Callable[..., Sampler], seed: int | None, **settings: Any) -> None:
        self._make = partial(make, **settings)
        self.seed = seed
        self.zoomtune: Sampler = self._make(seed=seed)  # made now, so a bad argument fails here

    def for_study(self, stored_seed: int | None) -> Sampler:
        """The zoomtune sampler for a study that was created with `stored_seed`: this one's seed when it was
        given one, else the study's, so every process that opens the study samples alike."""
        if self.seed is not None or stored_seed is None or stored_seed == self.zoomtune.seed:
            return self.zoomtune
        return self._make(seed=stored_seed)

    @property
    def search_space(self) -> Space | None:
        """The space the study must declare for this sampler (a grid's), or None."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.zoomtune!r})"


class RandomSampler(BaseSampler):
    """Independent uniform sampling on each parameter's scale: zoomtune's `RandomSampler`."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(ZtRandomSampler, seed)


class TPESampler(BaseSampler):
    """zoomtune's `TPESampler`: `n_startup_trials`, `n_ei_candidates` (its `n_candidates`), `gamma`,
    `prior_weight`, `multivariate` and `seed` mean what they mean in Optuna. `constant_liar` is accepted
    and has no effect (zoomtune's TPE does not model running trials); `warn_independent_sampling` only
    silences a warning zoomtune never gives."""

    def __init__(self, *, consider_prior: bool | None = None, prior_weight: float | None = None,
                 consider_magic_clip: bool | None = None, consider_endpoints: bool | None = None,
                 n_startup_trials: int = 10, n_ei_candidates: int = 24, gamma: Callable[[int], int] | None = None,
                 weights: Callable[[int], Any] | None = None, seed: int | None = None,
                 multivariate: bool | None = None, group: bool = False,
                 warn_independent_sampling: bool | None = None, constant_liar: bool = True,
                 constraints_func: Callable[..., Sequence[float]] | None = None) -> None:
        _refuse("TPESampler", {
            "consider_prior": None if consider_prior in (None, True) else consider_prior,
            "consider_magic_clip": consider_magic_clip, "consider_endpoints": consider_endpoints,
            "weights": weights, "group": group or None, "constraints_func": constraints_func,
        }, {
            "consider_prior": "zoomtune's TPE always mixes in its prior: lower prior_weight instead",
            "consider_magic_clip": "zoomtune's TPE sets each bandwidth from neighbouring points: drop it",
            "consider_endpoints": "zoomtune's TPE sets each bandwidth from neighbouring points: drop it",
            "weights": "zoomtune's TPE weighs observations equally: drop it",
            "group": "zoomtune's TPE models parameters outside the joint space one by one anyway: drop it",
            "constraints_func": "call trial.set_constraint(name, value) in the objective (value <= 0 is "
                                "satisfied); TPE then models the constraints",
        })
        settings: dict[str, Any] = {"n_startup_trials": n_startup_trials, "n_candidates": n_ei_candidates,
                                    "multivariate": multivariate}
        if gamma is not None:
            settings["gamma"] = gamma
        if prior_weight is not None:
            settings["prior_weight"] = prior_weight
        super().__init__(ZtTPESampler, seed, **settings)


class GridSampler(BaseSampler):
    """Every combination of `search_space`'s values once, in a seeded order; `optimize` stops when all have run
    (as in Optuna). Each name becomes a Categorical of its values in the study's declared space, so the
    objective's ``suggest_*`` calls return the grid's values (give a `seed` when several processes share
    one grid: it fixes the order)."""

    def __init__(self, search_space: Mapping[str, Sequence[ChoiceType]], seed: int | None = None) -> None:
        if not isinstance(search_space, Mapping) or not search_space:
            raise ValueError(f"GridSampler: search_space must be a non-empty dict of name -> list of values; "
                             f"got {search_space!r}")
        self._space = Space({name: Categorical(tuple(values)) for name, values in search_space.items()})
        super().__init__(ZtGridSampler, seed, space=self._space)

    @property
    def search_space(self) -> Space:
        return self._space

    @property
    def size(self) -> int:
        """How many grid points there are."""
        return prod(len(dist.choices) for dist in self._space.values() if isinstance(dist, Categorical))


class QMCSampler(BaseSampler):
    """zoomtune's `SobolSampler` (``qmc_type="sobol"``, the default). zoomtune's Sobol sequence is always
    scrambled; `scramble=False` is accepted but its first point is not the corner of the space as Optuna's is."""

    def __init__(self, *, qmc_type: str = "sobol", scramble: bool = False, seed: int | None = None,
                 independent_sampler: BaseSampler | None = None, warn_asynchronous_seeding: bool = True,
                 warn_independent_sampling: bool = True) -> None:
        _refuse("QMCSampler", {"qmc_type": None if qmc_type == "sobol" else qmc_type,
                               "independent_sampler": independent_sampler},
                {"qmc_type": "zoomtune has a Sobol sequence only: use qmc_type='sobol'",
                 "independent_sampler": "zoomtune's Sobol sampler draws define-by-run parameters itself: drop it"})
        super().__init__(SobolSampler, seed)


class NSGAIISampler(BaseSampler):
    """zoomtune's `NSGA2Sampler`: `population_size`, `crossover_prob`, `swapping_prob` (its `swap_prob`),
    `mutation_prob` and `seed` map one to one. zoomtune breeds numeric parameters by SBX and polynomial
    mutation; custom `mutation` / `crossover` operators and strategies are refused."""

    def __init__(self, *, population_size: int = 50, mutation: Any = None, mutation_prob: float | None = None,
                 crossover: Any = None, crossover_prob: float = 0.9, swapping_prob: float = 0.5,
                 seed: int | None = None, constraints_func: Callable[..., Sequence[float]] | None = None,
                 elite_population_selection_strategy: Callable[..., Any] | None = None,
                 child_generation_strategy: Callable[..., Any] | None = None,
                 after_trial_strategy: Callable[..., Any] | None = None) -> None:
        strategy = "zoomtune's NSGA-II has its own selection and breeding: drop it"
        _refuse("NSGAIISampler", {
            "mutation": mutation, "crossover": crossover, "constraints_func": constraints_func,
            "elite_population_selection_strategy": elite_population_selection_strategy,
            "child_generation_strategy": child_generation_strategy, "after_trial_strategy": after_trial_strategy,
        }, {
            "mutation": "zoomtune's NSGA-II mutates by polynomial mutation: drop it",
            "crossover": "zoomtune's NSGA-II crosses numeric parameters by SBX: drop it",
            "constraints_func": "call trial.set_constraint(name, value) in the objective (value <= 0 is satisfied)",
            "elite_population_selection_strategy": strategy, "child_generation_strategy": strategy,
            "after_trial_strategy": strategy,
        })
        super().__init__(NSGA2Sampler, seed, population_size=population_size, crossover_prob=crossover_prob,
                         swap_prob=swapping_prob, mutation_prob=mutation_prob)


class GPSampler(BaseSampler):
    """zoomtune's `GPSampler`: `n_startup_trials`, `deterministic_objective` and `seed` map one to one."""

    def __init__(self, *, seed: int | None = None, independent_sampler: BaseSampler | None = None,
                 n_startup_trials: int = 10, deterministic_objective: bool = False,
                 constraints_func: Callable[..., Sequence[float]] | None = None,
                 warn_independent_sampling: bool = True) -> None:
        _refuse("GPSampler", {"independent_sampler": independent_sampler, "constraints_func": constraints_func},
                {"independent_sampler": "zoomtune's GP samples define-by-run parameters itself: drop it",
                 "constraints_func": "call trial.set_constraint(name, value) in the objective (value <= 0 is "
                                     "satisfied)"})
        super().__init__(ZtGPSampler, seed, n_startup_trials=n_startup_trials,
                         deterministic_objective=deterministic_objective)


CmaEsSampler = unsupported_class("CmaEsSampler", "zoomtune has no CMA-ES; use TPESampler, GPSampler (a few "
                                                "continuous parameters) or zoomtune.samplers.CoarseToFineSampler()")
BruteForceSampler = unsupported_class("BruteForceSampler", "use GridSampler({name: [every value], ...})")
PartialFixedSampler = unsupported_class("PartialFixedSampler", "fix the value in the objective, or "
                                                              "study.enqueue_trial({name: value}) for each trial "
                                                              "that needs it")


__all__ = ["BaseSampler", "BruteForceSampler", "CmaEsSampler", "GPSampler", "GridSampler", "NSGAIISampler",
           "PartialFixedSampler", "QMCSampler", "RandomSampler", "TPESampler"]
