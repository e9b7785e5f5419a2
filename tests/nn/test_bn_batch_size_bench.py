"""benchmarks/bn_batch_size.py's measuring functions on the tiny digits dataset, against known answers."""

import os
import sys
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "benchmarks"))

import bn_batch_size as bench  # noqa: E402
from _common import kept_tail  # noqa: E402

from zoomtune.nn import MLP, BatchNorm1d, ConvNet, datasets, fit  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as the benchmark runs: tiny ops on a shared machine crawl with more."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return datasets.digits()


@pytest.fixture(scope="module")
def trained_mlp(digits):
    torch.manual_seed(0)
    model = MLP(digits.n_features, [32, 16], digits.n_classes)
    fit(model, digits, lr=3e-3, epochs=3, batch_size=32)
    return model


def test_running_averages_do_not_depend_on_the_test_batch_size(trained_mlp, digits):
    logits = [bench.predict(trained_mlp, digits.x_test, size, bench.Stats.RUNNING) for size in (1, 7, 359)]
    assert all(torch.allclose(logits[0], other, atol=1e-5) for other in logits[1:])
    rows = bench.test_time_rows("mlp", trained_mlp, digits.x_test, digits.y_test, (1, 8, 64), shuffles=2)
    assert len({row.running for row in rows}) == 1 and rows[0].running > 0.8
    assert all(row.max_logit_change < 1e-4 for row in rows)


def test_batch_statistics_of_one_example_give_beta_and_a_constant_network(trained_mlp, digits):
    first_bn = next(m for m in trained_mlp.modules() if isinstance(m, BatchNorm1d))
    with torch.no_grad():
        first_bn.bias.copy_(torch.linspace(-1, 1, first_bn.num_features))
    seen = []
    copy = bench.batch_stats_copy(trained_mlp)
    handle = next(m for m in copy.modules() if isinstance(m, BatchNorm1d)).register_forward_hook(
        lambda module, inputs, output: seen.append(output))
    with torch.no_grad():
        copy(torch.cat([digits.x_test[:1], digits.x_test[:1]]))
    handle.remove()
    assert torch.equal(seen[0][0], torch.relu(first_bn.bias.detach()))  # fused BN + ReLU: relu(β)
    logits = bench.predict(trained_mlp, digits.x_test, 1, bench.Stats.BATCH)
    assert torch.allclose(logits, logits[:1].expand_as(logits))  # every input gives the same output
    predicted = int(logits[0].argmax())
    share = float((digits.y_test == predicted).float().mean())
    assert bench.accuracy_of(logits, digits.y_test) == pytest.approx(share)


def test_batch_statistics_normalise_each_batch_and_leave_the_running_averages_alone():
    torch.manual_seed(1)
    layer = torch.nn.Sequential(BatchNorm1d(5))
    with torch.no_grad():
        layer[0].running_mean.fill_(3.0)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    x = torch.randn(40, 5) * 2 + 1
    out = bench.predict(layer, x, 20, bench.Stats.BATCH)
    halves = [(h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + 1e-5) for h in (x[:20], x[20:])]
    assert torch.allclose(out, torch.cat(halves), atol=1e-5)
    assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items())


def test_a_batch_of_one_is_refused_by_the_mlp_but_not_the_convnet(digits):
    said = bench.single_example_refusal(MLP(digits.n_features, [8], digits.n_classes), digits.x_test)
    assert said is not None and "more than 1 value per channel" in said
    conv = ConvNet(1, digits.n_classes, (4,), size=8)
    assert bench.single_example_refusal(conv, digits.images(digits.x_test)) is None


def test_lr_grid_is_square_root_scaled_and_reaches_the_linear_rule():
    centre = bench.LR_FACTORS.index(1.0)
    assert bench.lr_grid(128)[centre] == pytest.approx(bench.LR_AT_128)
    assert bench.lr_grid(2)[centre] == pytest.approx(bench.LR_AT_128 / 8)
    assert min(bench.lr_grid(2)) < bench.LR_AT_128 * 2 / 128 < max(bench.lr_grid(2))


def test_sweep_reruns_the_chosen_lr_on_every_seed(digits):
    tiny = replace(bench.subset(digits, 64, n_val=64), x_test=digits.x_test[:64], y_test=digits.y_test[:64])
    runs = bench.sweep(tiny, (2, 32), seeds=2, epochs=1, log=lambda text: None)
    assert len(runs) == 2 * 2 * (len(bench.LR_FACTORS) + 1)
    for size in (2, 32):
        for variant in ("no BN", "BN"):
            picked = bench.chosen(runs, variant, size)
            assert sorted(r.seed for r in picked) == [0, 1] and len({r.lr for r in picked}) == 1
            assert all((r.train_batch is None) == (variant == "no BN" or r.test is None) for r in picked)
    assert {r.steps for r in runs if r.batch_size == 2} == {32}


def test_a_rerun_keeps_the_hand_written_analysis(tmp_path):
    path = tmp_path / "report.md"
    assert kept_tail(str(path), bench.ANALYSIS_HEADING) == ""
    path.write_text("# generated\n| table |\n" + bench.ANALYSIS_HEADING + "\nby hand\n", encoding="utf-8")
    assert kept_tail(str(path), bench.ANALYSIS_HEADING) == "\n" + bench.ANALYSIS_HEADING + "\nby hand\n"
