"""benchmarks/bn_gamma_beta.py's measuring functions on tiny problems, against known answers."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "benchmarks"))

import bn_gamma_beta as bench  # noqa: E402
from _common import kept_tail  # noqa: E402

from zoomtune.nn import BatchNorm1d  # noqa: E402
from zoomtune.nn.datasets import Dataset  # noqa: E402


def test_gaussian_fraction() -> None:
    assert bench.gaussian_fraction(2.0) == pytest.approx(0.04550, abs=1e-5)
    assert bench.gaussian_fraction(1.0) == pytest.approx(0.31731, abs=1e-5)
    assert bench.gaussian_fraction(0.0) == 1.0


@pytest.mark.parametrize(("gamma", "beta", "expected"), [
    (1.0, 0.0, math.erfc(2 / math.sqrt(2))),          # x̂ itself: the N(0, 1) fraction
    (3.0, 0.0, math.erfc(2 / 3 / math.sqrt(2))),      # |3Z| > 2  <=>  |Z| > 2/3
    (1.0, 2.0, 0.5 + 0.5 * math.erfc(4 / math.sqrt(2))),  # Z + 2 > 2 or Z + 2 < -2
])
def test_layer_stats_on_gaussian_inputs(gamma: float, beta: float, expected: float) -> None:
    torch.manual_seed(0)
    bn = BatchNorm1d(4)
    with torch.no_grad():
        bn.weight.fill_(gamma)
        bn.bias.fill_(beta)
    z = torch.randn(50_000, 4) * 3.0 - 5.0  # any mean and scale: batch norm removes them
    stats = bench.layer_stats(z, bn(z), bn.weight, bn.bias, bn.eps, threshold=2.0)
    assert stats.nonlinear == pytest.approx(expected, abs=0.005)
    assert stats.nonlinear_identity == pytest.approx(math.erfc(2 / math.sqrt(2)), abs=0.005)
    assert stats.gamma == bench.Spread(gamma, gamma, gamma)
    assert stats.beta == bench.Spread(beta, beta, beta)


def test_spread_percentiles() -> None:
    spread = bench.Spread.of(torch.arange(101, dtype=torch.float32))
    assert (spread.p10, spread.median, spread.p90) == pytest.approx((10.0, 50.0, 90.0))


def test_snapshot_steps() -> None:
    assert bench.snapshot_steps(10, 5) == [0, 2, 4, 6, 8, 10]
    assert bench.snapshot_steps(3, 6) == [0, 1, 2, 3]  # never more points than steps


def _gaussian_data(n: int, features: int) -> Dataset:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3 * n, features, generator=generator)
    y = (x[:, 0] > 0).long()
    return Dataset("gaussian", x[:n], y[:n], x[n:2 * n], y[n:2 * n], x[2 * n:], y[2 * n:], (1, 1, features), 2)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return _gaussian_data(1024, 20)


@pytest.fixture(scope="module")
def runs(data: Dataset) -> dict[str, bench.Run]:
    """Both variants of a tanh MLP trained for one epoch (16 steps) on Gaussian inputs."""
    nets = bench.make_pair(data.n_features, [16, 16], data.n_classes, "tanh", seed=0)
    return {variant: bench.train(nets[variant], data, activation="tanh", variant=variant, seed=0, epochs=1,
                                 batch_size=64, lr=1e-2, probe=data.x_train[:512], snapshots=4)
            for variant in bench.VARIANTS}


def test_frozen_gamma_beta_give_the_gaussian_fraction_on_gaussian_inputs(runs: dict[str, bench.Run]) -> None:
    """Linear maps of Gaussian inputs are Gaussian: with γ = 1, β = 0 frozen, layer 1's fraction beyond 1 is the
    N(0, 1) one, throughout training, and y = x̂ everywhere."""
    run = runs["frozen"]
    assert run.steps == [0, 4, 8, 12, 16]
    for layers in run.snapshots:
        assert layers[0].nonlinear == pytest.approx(bench.gaussian_fraction(1.0), abs=0.02)
        for stats in layers:
            assert stats.gamma == bench.Spread(1.0, 1.0, 1.0) and stats.beta == bench.Spread(0.0, 0.0, 0.0)
            assert stats.nonlinear == stats.nonlinear_identity


def test_learned_and_frozen_start_alike_and_only_learned_moves(runs: dict[str, bench.Run]) -> None:
    learned, frozen = runs["learned"], runs["frozen"]
    assert learned.snapshots[0] == frozen.snapshots[0]  # same initial weights, same probe
    assert learned.steps == frozen.steps and len(learned.val_accuracy) == 1
    final = learned.snapshots[-1]
    assert all(s.gamma != bench.Spread(1.0, 1.0, 1.0) and s.beta != bench.Spread(0.0, 0.0, 0.0) for s in final)
    assert any(s.nonlinear != s.nonlinear_identity for s in final)
    assert min(learned.val_accuracy[0], frozen.val_accuracy[0]) > 0.75  # the sign of x[0]: chance is 0.5


def test_snapshot_leaves_the_net_as_it_was(data: Dataset) -> None:
    net = bench.make_pair(data.n_features, [8], data.n_classes, "sigmoid", seed=0)["learned"].eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    stats = bench.snapshot(net, data.x_train[:256], threshold=2.0)
    assert len(stats) == 1 and not net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_kept_analysis(tmp_path: Path) -> None:
    """Rewriting the report keeps the hand-written text from the marker on, and nothing before it."""
    path = tmp_path / "report.md"
    assert kept_tail(str(path), bench.ANALYSIS_MARK) == ""
    path.write_text("old table\n" + bench.ANALYSIS_MARK + "\nwhat it shows\n", encoding="utf-8")
    assert kept_tail(str(path), bench.ANALYSIS_MARK) == "\n" + bench.ANALYSIS_MARK + "\nwhat it shows\n"
    path.write_text("old table only\n", encoding="utf-8")
    assert kept_tail(str(path), bench.ANALYSIS_MARK) == ""
