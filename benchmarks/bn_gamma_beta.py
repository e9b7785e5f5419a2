"""Do batch norm's learned γ and β take sigmoid / tanh units out of their linear regime?  And what does
pinning γ = 1, β = 0 cost?

    python benchmarks/bn_gamma_beta.py             # full run (~5-6 min on a loaded 2-core machine, 1 thread)
    python benchmarks/bn_gamma_beta.py --quick     # smoke run (< 30 s), writes to a temp dir
    python benchmarks/bn_gamma_beta.py --seeds 1 --epochs 2 --activations sigmoid

Network: zoomtune.nn.MLP 784 -> [128, 128, 128] -> 10 with batch norm: every hidden layer is Linear
(no bias) -> zoomtune.nn.BatchNorm1d -> sigmoid (or tanh).  Two variants per seed, from the *same*
initial weights and seeing the same mini-batches in the same order: "learned" trains γ (BatchNorm1d's
`weight`) and β (its `bias`); "frozen" sets requires_grad=False on both, so they stay 1 and 0 and every
activation input is the normalised x̂ itself (mean 0, variance 1 per unit over the batch).

What is recorded, at evenly spaced steps, on a fixed probe batch of training images run in training mode
(batch statistics, on a copy of the net so the running averages are untouched): per batch-norm layer,
the distribution over units of β and of γ, and the fraction of (example, unit) activation inputs
y = γ·x̂ + β that land where the activation is far from linear (|y| > 2 for sigmoid, |y| > 1 for tanh),
next to the fraction for x̂ itself (what γ = 1, β = 0 would give on the same inputs) and for N(0, 1).

Data: Fashion-MNIST, the 50,000-image (seeded) training split (or its first --subset examples); validation
accuracy on the 10,000-image validation split.  Adam (lr 1e-3), batch 128.

Outputs: a markdown report on stdout and in docs/bn_gamma_beta.md, a plot in docs/bn_gamma_beta.png
(--quick writes both to a temporary directory instead).  Hand-written text after the line ANALYSIS_MARK in
an existing docs/bn_gamma_beta.md is kept when the report is rewritten.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, os.pardir))
sys.path.insert(0, HERE)  # for _common
sys.path.insert(0, os.path.join(REPO, "src"))

from _common import first_examples, markdown_table, page_header, write_page  # noqa: E402

if TYPE_CHECKING:
    import torch
    from torch import nn

    from zoomtune.nn import BatchNorm1d
    from zoomtune.nn.datasets import Dataset

# |y| beyond which the activation is "far from linear": sigmoid' there is < 0.105 (0.25 at 0), tanh' < 0.42 (1 at 0)
THRESHOLDS = {"sigmoid": 2.0, "tanh": 1.0}
VARIANTS = ("learned", "frozen")
ANALYSIS_MARK = "<!-- analysis: kept when the benchmark rewrites this file -->"


def gaussian_fraction(threshold: float) -> float:
    """P(|Z| > threshold) for Z ~ N(0, 1): the nonlinear fraction of an input with mean 0 and variance 1."""
    return math.erfc(threshold / math.sqrt(2.0))


@dataclass(frozen=True)
class Spread:
    """Median and 10th / 90th percentiles of a set of values."""

    p10: float
    median: float
    p90: float

    @classmethod
    def of(cls, values: torch.Tensor) -> Spread:
        import torch

        q = torch.quantile(values.detach().double(), torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
        return cls(float(q[0]), float(q[1]), float(q[2]))


@dataclass(frozen=True)
class LayerStats:
    """One batch-norm layer on the probe batch: γ and β over units, and how much of the activation input
    y = γ·x̂ + β lies beyond the threshold (`nonlinear`), against x̂ alone (`nonlinear_identity`)."""

    gamma: Spread
    beta: Spread
    nonlinear: float
    nonlinear_identity: float


def layer_stats(z: torch.Tensor, y: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float,
                threshold: float) -> LayerStats:
    """Statistics of one layer from its batch-norm input `z` and output `y` (both (N, C), training mode)."""
    import torch

    var, mean = torch.var_mean(z.double(), dim=0, unbiased=False)
    xhat = (z.double() - mean) / torch.sqrt(var + eps)
    return LayerStats(Spread.of(gamma), Spread.of(beta), float((y.abs() > threshold).double().mean()),
                      float((xhat.abs() > threshold).double().mean()))


def batch_norms(net: nn.Module) -> list[BatchNorm1d]:
    """The zoomtune batch-norm layers of `net`, in order."""
    from zoomtune.nn import BatchNorm1d

    return [m for m in net.modules() if isinstance(m, BatchNorm1d)]


def gamma_beta(bn: BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """(γ, β) of an affine batch-norm layer (MLP's always are)."""
    if bn.weight is None or bn.bias is None:
        raise ValueError("batch norm without γ and β (affine=False)")
    return bn.weight, bn.bias


def snapshot(net: nn.Module, probe: torch.Tensor, threshold: float) -> list[LayerStats]:
    """Per-layer statistics of `net` on `probe`, in training mode on a copy (the net's running averages and
    mode are left as they were)."""
    import torch

    twin = copy.deepcopy(net).train()
    stats: list[LayerStats] = []

    def recorder(bn: BatchNorm1d) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def record(_: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            stats.append(layer_stats(inputs[0], output, *gamma_beta(bn), bn.eps, threshold))
        return record

    handles = [bn.register_forward_hook(recorder(bn)) for bn in batch_norms(twin)]
    with torch.no_grad():
        twin(probe)
    for handle in handles:
        handle.remove()
    return stats


def make_pair(n_in: int, hidden: Sequence[int], n_out: int, activation: str, seed: int) -> dict[str, nn.Module]:
    """{"learned": net, "frozen": an identical copy whose γ and β do not train}."""
    import torch

    from zoomtune.nn import MLP

    torch.manual_seed(seed)
    learned = MLP(n_in, list(hidden), n_out, batchnorm=True, activation=activation)
    frozen = copy.deepcopy(learned)
    for bn in batch_norms(frozen):
        for param in gamma_beta(bn):
            param.requires_grad_(False)
    return {"learned": learned, "frozen": frozen}


@dataclass
class Run:
    activation: str
    variant: str
    seed: int
    steps: list[int] = field(default_factory=list)  # when each snapshot was taken
    snapshots: list[list[LayerStats]] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)  # after each epoch
    seconds: float = 0.0


def snapshot_steps(total: int, count: int) -> list[int]:
    """`count` + 1 steps evenly spaced from 0 (before training) to `total` (after the last step)."""
    return sorted({round(total * i / count) for i in range(count + 1)})


def train(net: nn.Module, data: Dataset, *, activation: str, variant: str, seed: int, epochs: int,
          batch_size: int, lr: float, probe: torch.Tensor, snapshots: int) -> Run:
    """Adam on the parameters that train; batch order from `seed` (the same for both variants)."""
    import torch
    from torch import nn

    from zoomtune.nn import accuracy

    started = time.perf_counter()
    threshold = THRESHOLDS[activation]
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    per_epoch = len(data.x_train) // batch_size  # full batches only: every step sees the same batch size
    when = snapshot_steps(per_epoch * epochs, snapshots)
    run = Run(activation, variant, seed)
    step = 0

    def maybe_snapshot() -> None:
        if step in when:
            run.steps.append(step)
            run.snapshots.append(snapshot(net, probe, threshold))

    maybe_snapshot()
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(data.x_train), generator=generator)
        for i in range(per_epoch):
            index = order[i * batch_size:(i + 1) * batch_size]
            loss = loss_fn(net(data.x_train[index]), data.y_train[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            maybe_snapshot()
        run.val_accuracy.append(accuracy(net, data.x_val, data.y_val))
    run.seconds = time.perf_counter() - started
    return run


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2,000 examples, 1 epoch, 1 seed, hidden 32,32, outputs to a temp dir")
    ap.add_argument("--activations", default="sigmoid,tanh", help="comma-separated, from sigmoid,tanh")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per variant (default 3; quick 1)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per run (default 5; quick 1)")
    ap.add_argument("--subset", type=int, default=None, help="training examples (default 0 = all 50,000; quick 2000)")
    ap.add_argument("--hidden", default=None, help="hidden widths (default 128,128,128; quick 32,32)")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--probe", type=int, default=1024, help="probe batch size for the statistics (default 1024)")
    ap.add_argument("--snapshots", type=int, default=None, help="statistics points per run (default 12; quick 3)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--out-dir", default=None, help="where bn_gamma_beta.md/.png go (default docs/; quick: a temp dir)")
    args = ap.parse_args(argv)
    quick = args.quick
    args.seeds = args.seeds if args.seeds is not None else (1 if quick else 3)
    args.epochs = args.epochs if args.epochs is not None else (1 if quick else 5)
    args.subset = args.subset if args.subset is not None else (2000 if quick else 0)
    args.hidden = [int(w) for w in (args.hidden or ("32,32" if quick else "128,128,128")).split(",") if w.strip()]
    args.snapshots = args.snapshots if args.snapshots is not None else (3 if quick else 12)
    args.activations = [a.strip() for a in args.activations.split(",") if a.strip()]
    for name in args.activations:
        if name not in THRESHOLDS:
            ap.error(f"unknown activation {name!r}; choose from {', '.join(THRESHOLDS)}")
    if min(args.seeds, args.epochs, args.snapshots) < 1:
        ap.error("--seeds, --epochs and --snapshots must be at least 1")
    if args.out_dir is None:
        args.out_dir = tempfile.mkdtemp(prefix="bn_gamma_beta_") if quick else os.path.join(REPO, "docs")
    return args


def run_all(args: argparse.Namespace, data: Dataset, probe: torch.Tensor) -> list[Run]:
    runs: list[Run] = []
    total = len(args.activations) * args.seeds * len(VARIANTS)
    for activation in args.activations:
        for seed in range(args.seeds):
            nets = make_pair(data.n_features, args.hidden, data.n_classes, activation, seed)
            for variant in VARIANTS:
                run = train(nets[variant], data, activation=activation, variant=variant, seed=seed,
                            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, probe=probe,
                            snapshots=args.snapshots)
                runs.append(run)
                last = run.snapshots[-1]
                print(f"[{len(runs):>2}/{total}] {activation:<7} {variant:<7} seed {seed}  {run.seconds:5.1f}s  "
                      f"val acc {run.val_accuracy[-1]:.4f}  nonlinear per layer "
                      + " ".join(f"{s.nonlinear:.3f}" for s in last), file=sys.stderr, flush=True)
    return runs


def median_spread(values: Sequence[float], digits: int = 3) -> str:
    """'median [min, max]' over seeds (just the value for one seed)."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def spread_text(spreads: Sequence[Spread]) -> str:
    """'p10 / median / p90' over units, each the median over seeds."""
    return " / ".join(f"{statistics.median(getattr(s, k) for s in spreads):.2f}" for k in ("p10", "median", "p90"))


def report(args: argparse.Namespace, runs: list[Run], n_train: int, elapsed: float) -> str:
    import torch

    steps = runs[0].steps[-1]
    seeds = f"{args.seeds} seed{'s' if args.seeds != 1 else ''}"
    over = "median [min, max] over seeds" if args.seeds > 1 else "one seed"
    lines = [
        *page_header("Batch norm's γ and β: do they take sigmoid / tanh units out of the linear regime?",
                     ("zoomtune", "torch", "matplotlib"), torch.get_num_threads()),
        f"Setup: zoomtune.nn.MLP 784 -> {' -> '.join(map(str, args.hidden))} -> 10 with zoomtune.nn.BatchNorm1d "
        f"(Linear without bias -> BN -> activation in each hidden layer); Fashion-MNIST, {n_train:,} training "
        f"examples ({'the whole training split' if args.subset <= 0 else 'a fixed subset'}), validation accuracy "
        f"on the 10,000-image validation split; Adam lr {args.lr:g}, "
        f"batch {args.batch_size}, {args.epochs} epoch{'s' if args.epochs != 1 else ''} = {steps} steps per run; "
        f"{seeds}. Per seed, `learned` and `frozen` (γ, β requires_grad=False, so γ = 1, β = 0 throughout) start "
        f"from the same weights and see the same batches in the same order. Statistics on a probe batch of "
        f"{args.probe} training images in training mode (batch statistics). Total wall time {elapsed:.0f} s.",
        "",
        "Columns: `γ` / `β` = 10th percentile / median / 90th percentile over a layer's units at the end of "
        "training (each the median over seeds); "
        "`beyond t` = fraction of the layer's (example, unit) activation inputs y = γ·x̂ + β with |y| > t "
        "(t = 2 for sigmoid, where σ' < 0.105 against 0.25 at 0; t = 1 for tanh, where tanh' < 0.42 against 1); "
        f"`x̂ beyond t` = the same for x̂, i.e. what γ = 1, β = 0 gives on those inputs; both are the {over}.",
        "",
    ]
    for activation in args.activations:
        t = THRESHOLDS[activation]
        act_runs = [r for r in runs if r.activation == activation]
        by_variant = {v: [r for r in act_runs if r.variant == v] for v in VARIANTS}
        lines += [f"## {activation} (t = {t:g}; N(0, 1) gives {gaussian_fraction(t):.3f} beyond t)", ""]
        rows = []
        n_layers = len(act_runs[0].snapshots[-1])
        for variant in VARIANTS:
            for layer in range(n_layers):
                finals = [r.snapshots[-1][layer] for r in by_variant[variant]]
                rows.append([variant, layer + 1, spread_text([s.gamma for s in finals]),
                             spread_text([s.beta for s in finals]), median_spread([s.nonlinear for s in finals]),
                             median_spread([s.nonlinear_identity for s in finals])])
        lines += [markdown_table(["variant", "layer", "γ p10 / median / p90", "β p10 / median / p90",
                                  f"beyond {t:g}", f"x̂ beyond {t:g}"], rows, align="lrrrrr"), ""]
        acc_rows = []
        for variant in VARIANTS:
            accs = [[r.val_accuracy[e] for r in by_variant[variant]] for e in range(args.epochs)]
            acc_rows.append([variant, *(median_spread(a, 4) for a in accs)])
        gaps = [a.val_accuracy[-1] - b.val_accuracy[-1] for a, b in zip(by_variant["learned"], by_variant["frozen"],
                                                                       strict=True)]
        lines += [f"Validation accuracy after each epoch ({over}):", "",
                  markdown_table(["variant", *(f"epoch {e + 1}" for e in range(args.epochs))], acc_rows),
                  "", f"learned − frozen, final epoch, per seed: {', '.join(f'{g:+.4f}' for g in gaps)}.", ""]
    return "\n".join(lines)


def plot(args: argparse.Namespace, runs: list[Run], path: str) -> None:
    """Per activation (rows): nonlinear fraction, β and γ over training (first seed), and accuracy per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plt.rcParams.update({"font.size": 11, "axes.titlesize": 12})
    fig, axes = plt.subplots(len(args.activations), 4, figsize=(18, 4.8 * len(args.activations)), squeeze=False,
                             gridspec_kw={"width_ratios": (1.2, 1.2, 1.2, 0.7)})
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(args.hidden)))
    for row, activation in zip(axes, args.activations, strict=True):
        t = THRESHOLDS[activation]
        first = {v: next(r for r in runs if r.activation == activation and r.variant == v and r.seed == 0)
                 for v in VARIANTS}
        ax_frac, ax_beta, ax_gamma, ax_acc = row
        for layer, color in enumerate(colors):
            for variant, style in (("learned", "-"), ("frozen", "--")):
                r = first[variant]
                ax_frac.plot(r.steps, [s[layer].nonlinear for s in r.snapshots], style, color=color,
                             label=f"layer {layer + 1}, {variant}")
            r = first["learned"]
            for ax, pick in ((ax_beta, lambda s: s.beta), (ax_gamma, lambda s: s.gamma)):
                spreads = [pick(s[layer]) for s in r.snapshots]
                ax.plot(r.steps, [p.median for p in spreads], color=color, label=f"layer {layer + 1} median")
                ax.fill_between(r.steps, [p.p10 for p in spreads], [p.p90 for p in spreads], color=color, alpha=0.18)
        ax_frac.axhline(gaussian_fraction(t), color="black", ls=":", lw=1.2, label="N(0, 1)")
        ax_frac.set_title(f"{activation}: fraction of activation inputs\nwith |y| > {t:g} (y = γ·x̂ + β)")
        ax_frac.set_ylim(bottom=0)
        ax_frac.legend(fontsize=8, ncol=2)
        ax_beta.axhline(0.0, color="black", ls=":", lw=1.2)
        ax_beta.set_title(f"{activation}: learned β over units\n(median, 10–90% band)")
        ax_gamma.axhline(1.0, color="black", ls=":", lw=1.2)
        ax_gamma.set_title(f"{activation}: learned γ over units\n(median, 10–90% band)")
        ax_beta.legend(fontsize=8)
        for ax in (ax_frac, ax_beta, ax_gamma):
            ax.set_xlabel("training step (seed 0)")
            ax.grid(alpha=0.3)
        for x, variant in enumerate(VARIANTS):
            accs = [r.val_accuracy[-1] for r in runs if r.activation == activation and r.variant == variant]
            ax_acc.plot([x] * len(accs), accs, "o", color="tab:blue" if variant == "learned" else "tab:red")
            ax_acc.hlines(statistics.median(accs), x - 0.25, x + 0.25, color="black")
        ax_acc.set_xticks(range(len(VARIANTS)), [f"{v} γ, β" for v in VARIANTS])
        ax_acc.set_xlim(-0.6, len(VARIANTS) - 0.4)
        ax_acc.set_title(f"{activation}: final val. accuracy\n(dots: seeds, bar: median)")
        ax_acc.grid(alpha=0.3, axis="y")
    fig.suptitle(f"Batch norm's γ and β with sigmoid / tanh: MLP 784→{'→'.join(map(str, args.hidden))}→10, "
                 f"Fashion-MNIST, Adam lr {args.lr:g}", fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    import torch

    from zoomtune.nn import datasets

    torch.set_num_threads(args.threads)
    data = first_examples(datasets.fashion_mnist(), args.subset)
    n_train = len(data.x_train)
    probe = data.x_train[:args.probe]
    runs = run_all(args, data, probe)
    text = report(args, runs, n_train, time.perf_counter() - started)
    write_page(args.out_dir, "bn_gamma_beta", text, "γ, β and the nonlinear fraction over training",
               lambda path: plot(args, runs, path), started, keep_from=ANALYSIS_MARK)


if __name__ == "__main__":
    main()
