"""The sampler conformance suite: subclass `SamplerConformance` and provide `make_sampler(seed)`.

It checks what every sampler promises: points inside the space, the same seed giving the same
trials (with a declared space and define-by-run), different seeds giving different trials.
`MultiObjectiveSamplerConformance` checks the same of a sampler in a study with two objectives (one
minimised, one maximised), with constraints, and with trials asked in batches so that some are pending.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

import zoomtune as zt
from zoomtune.samplers.base import Sampler

SPACE = zt.Space(
    lr=zt.Float(1e-4, 1.0, scale="log"),
    beta=zt.Float(0.9, 0.999, scale="log1m"),
    units=zt.Int(32, 512, scale="log"),
    layers=zt.Int(1, 4),
    act=zt.Categorical(("relu", "tanh", "gelu")),
)


def bowl(params: dict[str, Any]) -> float:
    """A cheap objective over SPACE with its optimum inside the box."""
    return float((math.log10(params["lr"]) + 2) ** 2 + (math.log10(1 - params["beta"]) + 2) ** 2
                 + (math.log2(params["units"]) - 7) ** 2 / 4 + (params["layers"] - 2) ** 2 / 4
                 + (0.0 if params["act"] == "relu" else 0.5))


def random_history(space: zt.Space, n: int, objective: Callable[[dict[str, Any]], float],
                   seed: int = 0) -> list[zt.TrialRecord]:
    """`n` COMPLETE trials at seeded uniform points of `space`, valued by `objective`: a history to
    hand a sampler without running a study."""
    rng = np.random.default_rng(seed)
    dists = dict(space.items())
    out = []
    for i in range(n):
        params = space.from_unit(list(rng.random(len(space))))
        out.append(zt.TrialRecord(i, zt.TrialState.COMPLETE, params, dists, value=objective(params)))
    return out


def define_by_run(trial: zt.Trial) -> float:
    params = {name: trial.suggest(name, dist) for name, dist in SPACE.items()}
    return bowl(params)


class SamplerConformance:
    """Behaviour every sampler must show. Override `make_sampler`; `n_trials` may be lowered."""

    n_trials = 30

    def make_sampler(self, seed: int) -> Sampler:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self, seed: int, declared: bool) -> list[dict[str, Any]]:
        study = zt.create_study(sampler=self.make_sampler(seed), space=SPACE if declared else None)
        if declared:
            study.optimize(lambda t: bowl(t.params), n_trials=self.n_trials)
        else:
            study.optimize(define_by_run, n_trials=self.n_trials)
        trials = study.trials
        assert all(t.state is zt.TrialState.COMPLETE for t in trials), [t.error for t in trials]
        return [t.params for t in trials]

    def test_params_lie_in_the_space(self) -> None:
        for declared in (True, False):
            for params in self.run(1, declared):
                for name, dist in SPACE.items():
                    assert dist.contains(params[name]), (name, params[name], dist)

    def test_same_seed_same_trials(self) -> None:
        for declared in (True, False):
            assert self.run(3, declared) == self.run(3, declared)

    def test_different_seeds_different_trials(self) -> None:
        assert self.run(3, True) != self.run(4, True)

    def test_point_is_in_unit_cube(self) -> None:
        sampler = self.make_sampler(0)
        context = zt.samplers.SampleContext(0, zt.Direction.MINIMIZE, SPACE)
        point = list(sampler.sample(SPACE, context))
        assert len(point) == len(SPACE) and all(0.0 <= u <= 1.0 for u in point)


def two_objectives(params: dict[str, Any]) -> tuple[float, float]:
    """Two conflicting objectives over SPACE: the bowl (minimised) and closeness to another optimum (maximised)."""
    other = (math.log10(params["lr"]) + 3.5) ** 2 + (params["layers"] - 4) ** 2 / 4
    return bowl(params), -other


class MultiObjectiveSamplerConformance:
    """Behaviour every sampler must show in a multi-objective study. Override `make_sampler`; `n_trials` and
    `batch` (how many trials are asked before the first of them is told) may be changed."""

    n_trials = 30
    batch = 4

    def make_sampler(self, seed: int) -> Sampler:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self, seed: int, batch: int = 1, constrained: bool = False) -> list[dict[str, Any]]:
        """The parameters of a seeded two-objective study, asked `batch` at a time (the others pending)."""
        study = zt.create_study(sampler=self.make_sampler(seed), space=SPACE, directions=["minimize", "maximize"])
        while len(study.trials) < self.n_trials:
            asked = [study.ask() for _ in range(min(batch, self.n_trials - len(study.trials)))]
            for trial in asked:
                if constrained:
                    trial.set_constraint("lr_at_most_1e-2", math.log10(trial.params["lr"]) + 2)
                study.tell(trial, two_objectives(trial.params))
        trials = study.trials
        assert all(t.state is zt.TrialState.COMPLETE and t.values for t in trials), [t.error for t in trials]
        return [t.params for t in trials]

    def test_params_lie_in_the_space(self) -> None:
        for batch, constrained in ((1, False), (self.batch, False), (1, True)):
            for params in self.run(1, batch, constrained):
                for name, dist in SPACE.items():
                    assert dist.contains(params[name]), (name, params[name], dist)

    def test_same_seed_same_trials(self) -> None:
        for batch, constrained in ((1, False), (self.batch, False), (1, True)):
            assert self.run(3, batch, constrained) == self.run(3, batch, constrained)

    def test_different_seeds_different_trials(self) -> None:
        assert self.run(3) != self.run(4)

    def test_pending_trials_get_distinct_points(self) -> None:
        trials = self.run(5, self.batch)
        for start in range(0, len(trials), self.batch):
            asked_together = [tuple(sorted(p.items())) for p in trials[start:start + self.batch]]
            assert len(set(asked_together)) == len(asked_together), asked_together

    def test_point_is_in_unit_cube(self) -> None:
        sampler = self.make_sampler(0)
        history = random_history(SPACE, 12, bowl)
        records = [dataclasses.replace(t, objective_values=two_objectives(t.params)) for t in history]
        directions = (zt.Direction.MINIMIZE, zt.Direction.MAXIMIZE)
        context = zt.samplers.SampleContext(12, zt.Direction.MINIMIZE, SPACE, history=lambda: records,
                                            directions=directions)
        point = list(sampler.sample(SPACE, context))
        assert len(point) == len(SPACE) and all(0.0 <= u <= 1.0 for u in point)
