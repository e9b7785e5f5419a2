"""The batch-norm coupling benchmark's measurements: the smoothness probe on quadratics with known answers, the
coupling probe against a by-hand computation, what a tiny training run records, and its report on random blobs."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "benchmarks"))

import bn_coupling as bench  # noqa: E402

from zoomtune.nn import datasets  # noqa: E402

TINY = bench.Config(steps=12, eval_every=6, record_every=4, probe_every=6, record_size=200, seeds=1)


@pytest.fixture(scope="module")
def data() -> datasets.Dataset:
    """800 random 64-feature points in 10 classes, each class shifted along its own direction: learnable."""
    torch.set_num_threads(1)  # tiny matrices: extra threads only wait for each other on a busy machine
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(10, 64, generator=generator)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=generator)
        return centres[y] + torch.randn(n, 64, generator=generator), y

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = split(600), split(300), split(300)
    return datasets.Dataset("blobs", x_train, y_train, x_val, y_val, x_test, y_test, (1, 8, 8), 10)


def test_smoothness_of_a_diagonal_quadratic_is_its_known_curvature_along_the_gradient() -> None:
    a = torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64)
    w = torch.tensor([0.3, -1.0, 0.2], dtype=torch.float64)
    etas = [0.01, 0.1, 0.3]
    result = bench.measure_smoothness(lambda p: 0.5 * (a * p * p).sum(), w, etas)
    g = a * w  # the gradient; stepping to w - eta g changes it by -eta a g
    assert result.grad_norm == pytest.approx(float(g.norm()))
    expected_losses = [float(0.5 * (a * (w - e * g) ** 2).sum()) for e in etas]
    assert result.losses == pytest.approx(expected_losses)
    assert result.grad_changes == pytest.approx([e * float((a * g).norm()) for e in etas])
    assert result.loss_range == pytest.approx(max(expected_losses) - min(expected_losses))
    assert result.effective_beta == pytest.approx(float((a * g).norm() / g.norm()))


def test_an_isotropic_quadratic_has_effective_beta_equal_to_its_curvature() -> None:
    w = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    result = bench.measure_smoothness(lambda p: 1.5 * (p * p).sum(), w, [0.001, 0.01, 0.1])
    assert result.effective_beta == pytest.approx(3.0)
    assert result.max_grad_change == pytest.approx(0.1 * 3.0 * 3.0 * float(w.norm()))


def test_the_variants_share_initial_weights_and_only_the_noisy_one_has_noise(data: datasets.Dataset) -> None:
    nets = bench.make_nets(data.n_features, data.n_classes, 0, bench.Config())
    assert list(nets) == list(bench.Variant)
    weights = {v: [m.weight for m in net.modules() if isinstance(m, torch.nn.Linear)] for v, net in nets.items()}
    for variant in (bench.Variant.BN, bench.Variant.NOISY):
        assert all(torch.equal(a, b) for a, b in zip(weights[bench.Variant.PLAIN], weights[variant], strict=True))
    noisy = [m for m in nets[bench.Variant.NOISY].modules() if hasattr(m, "resample")]
    assert len(noisy) == 3 and not any(hasattr(m, "resample") for m in nets[bench.Variant.BN].modules())


def test_bn_sigmoid_inputs_are_normalised_at_init_and_recording_leaves_running_stats_alone(
        data: datasets.Dataset) -> None:
    nets = bench.make_nets(data.n_features, data.n_classes, 0, bench.Config())
    net = nets[bench.Variant.BN]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    p = bench.sigmoid_input_percentiles(net, data.x_val[:300])
    assert p.shape == (3, 100)
    assert abs(float(np.median(p[1]))) < 0.15  # γ = 1, β = 0: the median sits near 0 ...
    assert -1.4 < float(np.median(p[0])) < -0.6 and 0.6 < float(np.median(p[2])) < 1.4  # ... the 15/85th near ∓1
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    plain = bench.sigmoid_input_percentiles(nets[bench.Variant.PLAIN], data.x_val[:300])
    assert float(np.median(plain[2] - plain[0])) < 0.5  # without batch norm the band is far narrower at init


def test_coupling_matches_an_in_place_update_and_vanishes_without_a_step(data: datasets.Dataset) -> None:
    net = bench.make_nets(data.n_features, data.n_classes, 1, bench.Config())[bench.Variant.BN]
    x, y = data.x_train[:60], data.y_train[:60]
    still = bench.coupling(net, x, y, 0.0)
    assert still.relative_change == pytest.approx(0.0, abs=1e-6) and still.cosine == pytest.approx(1.0)
    measured = bench.coupling(net, x, y, 0.5)

    by_hand = copy.deepcopy(net)
    torch.nn.functional.cross_entropy(by_hand(x), y).backward()
    later = [i for i, m in enumerate(by_hand) if isinstance(m, torch.nn.Linear)][-2]
    g = by_hand[later].weight.grad.clone()
    with torch.no_grad():
        for layer in list(by_hand)[:later]:
            for param in layer.parameters():
                param -= 0.5 * param.grad
    by_hand.zero_grad()
    torch.nn.functional.cross_entropy(by_hand(x), y).backward()
    expected = float((g - by_hand[later].weight.grad).norm() / g.norm())
    assert measured.relative_change == pytest.approx(expected, rel=1e-4) and measured.relative_change > 0.01


def test_a_tiny_run_records_every_series_on_schedule_and_reports_them(data: datasets.Dataset,
                                                                      tmp_path: Path) -> None:
    results = bench.run_all(data, TINY)
    for variant, runs in results.items():
        (c,) = runs
        assert list(c.eval_steps) == [0, 6, 12] and c.accuracy.shape == (3,)
        assert list(c.record_steps) == [0, 4, 8, 12] and c.percentiles.shape == (4, 3, 100)
        assert list(c.probe_steps) == [0, 6]
        for series in (c.loss_range, c.grad_change, c.beta, c.coupling, c.coupling_cos, c.earlier_step):
            assert series.shape == (2,) and np.isfinite(series).all()
        assert (c.beta > 0).all(), variant
    bn_start = results[bench.Variant.BN][0].percentiles[0]
    assert abs(float(np.median(bn_start[1]))) < 0.15
    text = bench.report(TINY, results, "blobs", len(data.x_train), 1.0)
    for heading in ("## Test accuracy", "## Smoothness along the gradient", "## What it shows / where it disagrees"):
        assert heading in text
    assert text.count("| BN + shift noise |") == 4  # a row in each of the four tables
    path = tmp_path / "figure.png"
    bench.plot(TINY, results, "blobs", str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
