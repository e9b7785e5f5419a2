"""Batch norm and the batch size: running averages at test time, and small training mini-batches.

    python benchmarks/bn_batch_size.py              # full run (~5-8 min on 2 loaded CPU cores)
    python benchmarks/bn_batch_size.py --quick      # smoke run (< 1 min), writes to a temp dir

(a) Test time.  An MLP 784 -> 256 -> 256 -> 10 and a small ConvNet (16, 32 channels), both with
zoomtune's batch norm (default momentum 0.1, i.e. running-average β 0.9), trained normally
(Adam, lr 1e-3, batch 128).  Their test accuracy is then measured at test batch sizes 1, 8, 64
and 1,000 two ways: with the running averages (eval mode: every example is normalised with
the same fixed statistics), and with batch statistics (a copy of the network in train mode,
under torch.no_grad: each test batch is normalised with its own mean and variance; the
original network's running averages are never touched).  Batch-statistics accuracy depends on
which examples share a batch, so it is measured over several shuffles of the test set
(median, min-max).  A batch of one is fed as two copies of itself: the same mean and biased
variance as the single example, because zoomtune (like torch) refuses a training-mode batch
with one value per channel; the refusal itself is recorded in the report.

(b) Training.  The same MLP with and without batch norm (same initial linear weights), trained
with SGD (momentum 0.9) at mini-batch sizes 2, 4, 8, 32, 128 for the same number of epochs
(equal examples seen; a batch of 2 takes 64x the steps of a batch of 128).  Learning rate per
(batch size, network): a 5-point grid, half a decade apart, around the square-root scaling
rule (lr ∝ sqrt(batch size)) and reaching below the linear-scaling rule; the lr with the best
validation accuracy (seed 0) is kept and rerun with the other seeds; train accuracy (eval mode
on the training examples used), train accuracy with batch statistics at the training batch size,
and test accuracy are reported as the median (min-max) over the seeds.

Outputs: docs/bn_batch_size.md and docs/bn_batch_size.png (--quick: a temporary directory).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, os.pardir))
sys.path.insert(0, HERE)  # for _common and bn_learning
sys.path.insert(0, os.path.join(REPO, "src"))

from _common import markdown_table, page_header, write_page  # noqa: E402

if TYPE_CHECKING:
    import torch
    from torch import nn

    from zoomtune.nn.datasets import Dataset

HIDDEN = [256, 256]
CONV_CHANNELS = (16, 32)
TEST_BATCH_SIZES = (1, 8, 64, 1000)
TRAIN_BATCH_SIZES = (2, 4, 8, 32, 128)
LR_FACTORS = (10 ** -1.5, 0.1, 10 ** -0.5, 1.0, 10 ** 0.5)  # times the square-root-scaled centre
LR_AT_128 = 0.1 ** 1.5  # grid centre at batch 128 (0.032); at batch 2 the grid spans the linear rule


class Stats(Enum):
    """Which statistics batch norm normalises a test batch with."""

    RUNNING = "running averages (eval mode)"
    BATCH = "batch statistics (train-mode copy)"


# ---------------------------------------------------------------------------------------------
# Evaluation with running averages or batch statistics
# ---------------------------------------------------------------------------------------------
def batch_stats_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` in train mode: batch norm uses each batch's statistics; the original is untouched."""
    return copy.deepcopy(model).train()


def predict(model: nn.Module, x: torch.Tensor, batch_size: int, stats: Stats) -> torch.Tensor:
    """Logits for `x`, fed in consecutive batches of `batch_size`, normalised with `stats`.

    A batch of one under batch statistics is fed as two copies of itself (same mean and biased
    variance) and the first row kept: a training-mode batch norm refuses one value per channel.
    """
    import torch

    net = batch_stats_copy(model) if stats is Stats.BATCH else model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            chunk = x[i:i + batch_size]
            if stats is Stats.BATCH and len(chunk) == 1:
                out.append(net(torch.cat([chunk, chunk]))[:1])
            else:
                out.append(net(chunk))
    return torch.cat(out)


def accuracy_of(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean())


def single_example_refusal(model: nn.Module, x: torch.Tensor) -> str | None:
    """What a train-mode copy of `model` says to a batch of one example (None: it accepts it)."""
    import torch

    try:
        with torch.no_grad():
            batch_stats_copy(model)(x[:1])
    except ValueError as exc:
        return str(exc)
    return None


@dataclass
class TestTimeRow:
    """Test accuracy of one trained network at one test batch size."""

    network: str
    batch_size: int
    running: float
    batch_median: float
    batch_min: float
    batch_max: float
    max_logit_change: float  # running averages: max |logit - logit at the largest batch size|


def test_time_rows(network: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_sizes: Sequence[int],
                   shuffles: int, seed: int = 0) -> list[TestTimeRow]:
    """Running-average vs batch-statistics test accuracy per batch size; batch statistics over `shuffles`
    random orders of the test set (a batch of one does not depend on the order: measured once)."""
    import torch

    reference = predict(model, x, max(batch_sizes), Stats.RUNNING)
    generator = torch.Generator().manual_seed(seed)
    orders = [torch.randperm(len(x), generator=generator) for _ in range(shuffles)]
    rows = []
    for size in batch_sizes:
        running = predict(model, x, size, Stats.RUNNING)
        accs = [accuracy_of(predict(model, x[order], size, Stats.BATCH), y[order])
                for order in (orders[:1] if size == 1 else orders)]
        rows.append(TestTimeRow(network, size, accuracy_of(running, y), statistics.median(accs), min(accs),
                                max(accs), float((running - reference).abs().max())))
    return rows


# ---------------------------------------------------------------------------------------------
# (a) networks trained normally
# ---------------------------------------------------------------------------------------------
@dataclass
class Trained:
    name: str
    model: nn.Module
    images: bool
    n_train: int
    epochs: int
    seconds: float


def train_normally(data: Dataset, n_train: int, epochs: int, convnet: bool, seed: int = 0) -> Trained:
    """The MLP (or ConvNet) with batch norm, Adam lr 1e-3, batch 128, on the first `n_train` examples."""
    import torch

    from zoomtune.nn import MLP, ConvNet, fit

    torch.manual_seed(seed)
    model: nn.Module = (ConvNet(1, data.n_classes, CONV_CHANNELS) if convnet
                        else MLP(data.n_features, HIDDEN, data.n_classes))
    result = fit(model, subset(data, n_train), optimizer="adam", lr=1e-3, batch_size=128, epochs=epochs,
                 images=convnet, seed=seed)
    name = (f"ConvNet {'-'.join(map(str, CONV_CHANNELS))}" if convnet
            else f"MLP {'-'.join(map(str, HIDDEN))}")
    return Trained(name, model, convnet, n_train, epochs, result.seconds)


def subset(data: Dataset, n_train: int, n_val: int = 2000) -> Dataset:
    """The first `n_train` training and `n_val` validation examples (the test split stays whole)."""
    return replace(data, x_train=data.x_train[:n_train], y_train=data.y_train[:n_train],
                   x_val=data.x_val[:n_val], y_val=data.y_val[:n_val])


# ---------------------------------------------------------------------------------------------
# (b) training at small mini-batches
# ---------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One training run of (b)."""

    variant: str  # "BN" or "no BN"
    batch_size: int
    lr: float
    seed: int
    val: float
    train: float  # eval mode (running averages) on the training examples
    train_batch: float | None  # batch statistics at the training batch size (BN only)
    test: float | None  # None: diverged
    steps: int
    seconds: float


def lr_grid(batch_size: int) -> list[float]:
    """The learning rates tried at `batch_size`: LR_AT_128·sqrt(batch_size/128) times each of LR_FACTORS."""
    centre = LR_AT_128 * (batch_size / 128) ** 0.5
    return [centre * f for f in LR_FACTORS]


def train_run(data: Dataset, variant: str, batch_size: int, lr: float, seed: int, epochs: int) -> Run:
    """Train the (b) MLP once with SGD, momentum 0.9, and measure it."""
    from bn_learning import make_pair

    from zoomtune.nn import accuracy, fit

    plain, normed = make_pair(data.n_features, HIDDEN, data.n_classes, seed)
    model = normed if variant == "BN" else plain
    result = fit(model, data, optimizer="sgd", lr=lr, momentum=0.9, batch_size=batch_size, epochs=epochs,
                 seed=seed)
    train = accuracy(model, data.x_train, data.y_train)
    train_batch = (accuracy_of(predict(model, data.x_train, batch_size, Stats.BATCH), data.y_train)
                   if variant == "BN" and not result.diverged else None)
    steps = epochs * (len(data.x_train) // batch_size)
    return Run(variant, batch_size, lr, seed, result.val_accuracy, train, train_batch, result.test_accuracy,
               steps, result.seconds)


def sweep(data: Dataset, batch_sizes: Sequence[int], seeds: int, epochs: int,
          log: Callable[[str], None]) -> list[Run]:
    """Per (batch size, variant): the lr grid on seed 0, then the best lr (by validation) on the other seeds."""
    runs = []
    for size in batch_sizes:
        for variant in ("no BN", "BN"):
            tried = [train_run(data, variant, size, lr, 0, epochs) for lr in lr_grid(size)]
            for r in tried:
                log(f"batch {size:>3} {variant:<5} lr={r.lr:<8.3g} val {r.val:.3f} ({r.seconds:.1f} s)")
            best = max(tried, key=lambda r: r.val)
            runs += tried
            for seed in range(1, seeds):
                runs.append(train_run(data, variant, size, best.lr, seed, epochs))
                log(f"batch {size:>3} {variant:<5} lr={best.lr:<8.3g} seed {seed} val {runs[-1].val:.3f}")
    return runs


def chosen(runs: Sequence[Run], variant: str, batch_size: int) -> list[Run]:
    """The runs at the learning rate chosen for (variant, batch size): seed 0's best and its reruns."""
    mine = [r for r in runs if r.variant == variant and r.batch_size == batch_size]
    best = max((r for r in mine if r.seed == 0), key=lambda r: r.val)
    return [r for r in mine if r.lr == best.lr]


@dataclass
class Spread:
    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median:.3f} ({self.low:.3f}-{self.high:.3f})" if self.high > self.low else f"{self.median:.3f}"


def spread(values: Sequence[float | None]) -> Spread | None:
    """Median and range; a diverged run (None) counts as chance, 0.1."""
    got = [0.1 if v is None else v for v in values]
    return Spread(statistics.median(got), min(got), max(got)) if got else None


# ---------------------------------------------------------------------------------------------
# Report and plot
# ---------------------------------------------------------------------------------------------
def fmt_lr(lr: float) -> str:
    return f"{lr:.2g}"


def report(args: argparse.Namespace, trained: Sequence[Trained], rows: Sequence[TestTimeRow],
           refusals: dict[str, str | None], runs: Sequence[Run], n_train_b: int, elapsed: float) -> str:
    import torch

    lines = [
        *page_header("Batch norm and the batch size: running averages at test time, small training batches",
                     ("zoomtune", "torch", "matplotlib"), torch.get_num_threads()),
        f"Total wall time {elapsed:.0f} s. Data: Fashion-MNIST (bundled), standardised with training statistics; "
        "test accuracy on the 10,000-image test split.",
        "",
        "## (a) Test time: running averages vs batch statistics",
        "",
        "Networks trained normally (Adam, lr 1e-3, batch 128, zoomtune's batch norm with momentum 0.1):",
        "",
    ]
    for t in trained:
        lines.append(f"- {t.name}: first {t.n_train:,} training examples, {t.epochs} epoch"
                     f"{'s' if t.epochs != 1 else ''} ({t.seconds:.0f} s).")
    lines += [
        "",
        "`running` = eval mode (the running averages); `batch stats` = a train-mode copy under no_grad, each "
        f"test batch normalised with its own statistics, median (min-max) over {args.shuffles} shuffles of the "
        "test set (a batch of one: one measurement, order does not matter); `max |Δlogit|` = the largest change "
        f"of any running-average logit against batch size {max(TEST_BATCH_SIZES):,}.",
        "",
        markdown_table(["network", "test batch", "running", "batch stats", "max |Δlogit|"],
                       [[r.network, f"{r.batch_size:,}", f"{r.running:.4f}",
                         str(Spread(r.batch_median, r.batch_min, r.batch_max)), f"{r.max_logit_change:.1e}"]
                        for r in rows], align="lrrrr"),
        "",
        "A batch of one under batch statistics, measured:",
        "",
    ]
    for t in trained:
        said = refusals[t.name]
        lines.append(f"- {t.name}: a train-mode batch of one is "
                     + (f"refused: `ValueError: {said}`." if said else "accepted (more than one value per "
                        "channel: the statistics are over the image's positions)."))
    lines += ["", "## (b) Training at small mini-batches: BN vs no BN", "",
              f"MLP 784 -> {' -> '.join(map(str, HIDDEN))} -> 10, SGD momentum 0.9, constant lr; first "
              f"{n_train_b:,} training examples, {args.epochs} epochs at every batch size (equal examples seen, "
              f"so batch 2 takes {128 // 2}x the steps of batch 128); validation on 2,000 validation examples. "
              f"lr grid per batch size: {LR_AT_128:.2g}·sqrt(b/128) × ({', '.join(f'{f:.2g}' for f in LR_FACTORS)}) "
              f"(square-root scaling; its lowest point at batch 2, {lr_grid(2)[0]:.2g}, is below the "
              f"linear-scaling value {LR_AT_128 * 2 / 128:.2g}); the best by validation "
              f"accuracy on seed 0, rerun on seeds 1..{args.seeds - 1}. Accuracies: median (min-max) over "
              f"{args.seeds} seeds; `train` = eval mode on the training examples used, `train, batch stats` = "
              "the BN network normalising each training batch (of the training batch size) with its own "
              "statistics, what it saw while training; `edge` marks a chosen lr at the end of its grid.",
              ""]
    table = []
    for size in sorted({r.batch_size for r in runs}):
        for variant in ("no BN", "BN"):
            picked = chosen(runs, variant, size)
            grid = lr_grid(size)
            edge = " edge" if picked[0].lr in (grid[0], grid[-1]) else ""
            batch_train = spread([r.train_batch for r in picked]) if variant == "BN" else None
            table.append([f"{size}", variant, f"{fmt_lr(picked[0].lr)}{edge}", f"{picked[0].steps:,}",
                          str(spread([r.train for r in picked])), "-" if batch_train is None else str(batch_train),
                          str(spread([r.test for r in picked])),
                          str(sum(r.test is None for r in picked))])
    lines += [markdown_table(["batch", "network", "lr", "steps", "train", "train, batch stats", "test",
                              "diverged"], table, align="llrrrrrr"), ""]
    return "\n".join(lines)


def plot(rows: Sequence[TestTimeRow], runs: Sequence[Run], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 12, "axes.titlesize": 13, "legend.fontsize": 10})
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    for i, network in enumerate(dict.fromkeys(r.network for r in rows)):
        mine = [r for r in rows if r.network == network]
        sizes = [r.batch_size for r in mine]
        style = "-" if i == 0 else "--"
        left.plot(sizes, [r.running for r in mine], style + "o", color="tab:blue",
                  label=f"{network}: running averages")
        left.errorbar(sizes, [r.batch_median for r in mine],
                      yerr=[[r.batch_median - r.batch_min for r in mine], [r.batch_max - r.batch_median for r in mine]],
                      fmt=style + "s", color="tab:red", capsize=3, label=f"{network}: batch statistics")
    left.axhline(0.1, color="grey", lw=0.8, ls=":")
    left.text(1.1, 0.115, "chance (0.1)", color="dimgrey", fontsize=10)
    left.set(xscale="log", ylim=(0, 1), xlabel="test batch size (log scale)", ylabel="test accuracy",
             title="(a) Test time: running averages vs batch statistics")
    left.grid(True, alpha=0.3)
    left.legend(loc="lower right")
    sizes = sorted({r.batch_size for r in runs})
    colours = {"no BN": "tab:red", "BN": "tab:blue"}
    for variant in ("no BN", "BN"):
        for field, style, what in (("train", "-o", "train"), ("test", "--s", "test")):
            spreads = [spread([getattr(r, field) for r in chosen(runs, variant, s)]) for s in sizes]
            med = [sp.median for sp in spreads if sp]
            right.errorbar(sizes, med, yerr=[[sp.median - sp.low for sp in spreads if sp],
                                             [sp.high - sp.median for sp in spreads if sp]],
                           fmt=style, color=colours[variant], capsize=3, label=f"{variant}: {what} (eval mode)")
    bn_batch = [spread([r.train_batch for r in chosen(runs, "BN", s)]) for s in sizes]
    right.plot(sizes, [sp.median for sp in bn_batch if sp], ":^", color="tab:purple",
               label="BN: train, batch statistics")
    right.axhline(0.1, color="grey", lw=0.8, ls=":")
    right.text(2.1, 0.115, "chance (0.1)", color="dimgrey", fontsize=10)
    right.set(xscale="log", ylim=(0, 1), xlabel="training mini-batch size (log scale), equal epochs",
              ylabel="accuracy", title="(b) Training: BN vs no BN per mini-batch size")
    right.set_xticks(sizes, [str(s) for s in sizes])
    left.set_xticks(list(TEST_BATCH_SIZES), [f"{s:,}" for s in TEST_BATCH_SIZES])
    right.grid(True, alpha=0.3)
    right.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
ANALYSIS_HEADING = "## What it shows"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny subsets, 1 seed, MLP only, temp dir")
    ap.add_argument("--train-a", type=int, default=None, help="(a) MLP training examples (default 50000)")
    ap.add_argument("--epochs-a", type=int, default=None, help="(a) MLP epochs (default 3)")
    ap.add_argument("--conv-train", type=int, default=None, help="(a) ConvNet training examples (default 10000; "
                    "0 = no ConvNet)")
    ap.add_argument("--shuffles", type=int, default=None, help="(a) test-set shuffles for batch statistics (3)")
    ap.add_argument("--train-b", type=int, default=None, help="(b) training examples (default 3000)")
    ap.add_argument("--epochs", type=int, default=None, help="(b) epochs at every batch size (default 2)")
    ap.add_argument("--seeds", type=int, default=None, help="(b) seeds (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--out-dir", default=None, help="where bn_batch_size.md/.png go (default docs/)")
    args = ap.parse_args(argv)
    defaults = {"train_a": (2000, 50000), "epochs_a": (1, 3), "conv_train": (0, 10000), "shuffles": (2, 3),
                "train_b": (400, 3000), "epochs": (1, 2), "seeds": (1, 3)}
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if min(args.train_a, args.epochs_a, args.shuffles, args.train_b, args.epochs, args.seeds) < 1:
        ap.error("sizes, epochs, shuffles and seeds must be at least 1")
    if args.out_dir is None:
        args.out_dir = tempfile.mkdtemp(prefix="bn_batch_size_") if args.quick else os.path.join(REPO, "docs")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    import torch

    from zoomtune.nn import datasets

    torch.set_num_threads(args.threads)

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:5.0f} s] {text}", file=sys.stderr, flush=True)

    data = datasets.fashion_mnist()
    trained = [train_normally(data, args.train_a, args.epochs_a, convnet=False)]
    if args.conv_train:
        trained.append(train_normally(data, args.conv_train, 1, convnet=True))
    rows: list[TestTimeRow] = []
    refusals: dict[str, str | None] = {}
    for t in trained:
        x = data.images(data.x_test) if t.images else data.x_test
        log(f"(a) trained {t.name} in {t.seconds:.0f} s; evaluating")
        refusals[t.name] = single_example_refusal(t.model, x)
        rows += test_time_rows(t.name, t.model, x, data.y_test, TEST_BATCH_SIZES, args.shuffles)
    data_b = subset(data, args.train_b)
    runs = sweep(data_b, TRAIN_BATCH_SIZES, args.seeds, args.epochs, log)
    text = report(args, trained, rows, refusals, runs, len(data_b.x_train), time.perf_counter() - started)
    if write_page(args.out_dir, "bn_batch_size", text, "test-time statistics and training batch size",
                  lambda path: plot(rows, runs, path), started, keep_from=ANALYSIS_HEADING):
        log(f"kept the hand-written section from {ANALYSIS_HEADING!r} on: check its numbers against the new tables")


if __name__ == "__main__":
    main()
