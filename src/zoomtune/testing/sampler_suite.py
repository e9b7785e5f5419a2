"""The sampler conformance suite: subclass `SamplerConformance` and provide `make_sampler(seed)`.

It checks what every sampler promises: points inside the space, the same seed giving the same
trials (with a declared space and define-by-run), different seeds giving different trials.
"""

from __future__ import annotations

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
    import math

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
