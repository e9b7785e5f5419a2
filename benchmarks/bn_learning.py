"""Does batch norm speed learning? The same MLP with and without batch norm, over a log-spaced lr grid.

    python benchmarks/bn_learning.py                     # full run (~3-4 min on 2 CPU cores)
    python benchmarks/bn_learning.py --quick             # smoke run (< 20 s), writes to a temp dir
    python benchmarks/bn_learning.py --epochs 3 --subset 10000 --optimizers sgd

Network: MLP 784 -> [256, 256, 256] -> 10, ReLU.  "BN" is Linear (no bias) -> zoomtune's
BatchNorm -> ReLU in every hidden layer; "no BN" is the same network with biases and no
normalisation.  For each learning rate both variants start from the *same* initial linear
weights (the no-BN net's weights are copied into the BN net) and see the same mini-batches
in the same order (fit's fixed seed), so the only difference is batch norm.

Data: Fashion-MNIST, a fixed subset of the training split (its first --subset examples; the
split itself is a seeded shuffle), accuracy on the standard 10,000-image validation split.
Optimiser: SGD with momentum 0.9 (and Adam as a second panel unless --optimizers sgd),
batch 128, constant learning rate, learning rates log-spaced (uniform in log10 lr).

Outputs: a markdown report on stdout and in docs/bn_learning.md, a plot in docs/bn_learning.png
(--quick writes both to a temporary directory instead, so a smoke run never overwrites them).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, os.pardir))
sys.path.insert(0, HERE)  # for _common
sys.path.insert(0, os.path.join(REPO, "src"))

from _common import first_examples, markdown_table, page_header, write_page  # noqa: E402

VARIANTS = (("no BN", False), ("BN", True))
# Default grids: SGD is the experiment the brief asks for; Adam's useful range sits ~2 decades lower.
DEFAULT_GRID = {"sgd": (1e-4, 3.0), "adam": (1e-5, 0.3), "rmsprop": (1e-5, 0.3)}


@dataclass
class Run:
    optimizer: str
    variant: str
    lr: float
    history: list[float]  # validation accuracy after each epoch run
    diverged: bool
    seconds: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2,000 training examples, 2 learning rates, 1 epoch, SGD only, "
                         "outputs to a temp dir")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per run (default 5; quick 1)")
    ap.add_argument("--subset", type=int, default=None,
                    help="training examples used (default 20000; quick 2000; 0 = all 50,000)")
    ap.add_argument("--n-lrs", type=int, default=None, help="learning rates per optimiser (default 10; quick 2)")
    ap.add_argument("--optimizers", default=None,
                    help="comma-separated, from sgd,adam,rmsprop (default sgd,adam; quick sgd)")
    ap.add_argument("--hidden", default="256,256,256", help="hidden widths (default 256,256,256)")
    ap.add_argument("--target", type=float, default=0.85, help="accuracy target for 'epochs to target'")
    ap.add_argument("--tolerance", type=float, default=0.02,
                    help="a learning rate is 'good' if within this of its variant's best accuracy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--out-dir", default=None, help="where bn_learning.md/.png go (default docs/; quick: a temp dir)")
    args = ap.parse_args(argv)
    args.epochs = args.epochs if args.epochs is not None else (1 if args.quick else 5)
    args.subset = args.subset if args.subset is not None else (2000 if args.quick else 20000)
    args.n_lrs = args.n_lrs if args.n_lrs is not None else (2 if args.quick else 10)
    args.optimizers = [o.strip() for o in (args.optimizers or ("sgd" if args.quick else "sgd,adam")).split(",")
                       if o.strip()]
    for name in args.optimizers:
        if name not in DEFAULT_GRID:
            ap.error(f"unknown optimizer {name!r}; choose from {', '.join(DEFAULT_GRID)}")
    args.hidden = [int(w) for w in args.hidden.split(",") if w.strip()]
    if args.epochs < 1 or args.n_lrs < 1:
        ap.error("--epochs and --n-lrs must be at least 1")
    if args.out_dir is None:
        args.out_dir = tempfile.mkdtemp(prefix="bn_learning_") if args.quick else os.path.join(REPO, "docs")
    return args


def log_grid(lo: float, hi: float, n: int) -> list[float]:
    """n learning rates evenly spaced in log10 between lo and hi (both included)."""
    if n == 1:
        return [math.sqrt(lo * hi)]
    a, b = math.log10(lo), math.log10(hi)
    return [10 ** (a + (b - a) * i / (n - 1)) for i in range(n)]


def make_pair(n_in: int, hidden: list[int], n_out: int, seed: int):
    """(no-BN net, BN net) with identical initial weights in every Linear layer."""
    import torch
    from torch import nn

    from zoomtune.nn.models import MLP

    torch.manual_seed(seed)
    plain = MLP(n_in, hidden, n_out, batchnorm=False, activation="relu")
    torch.manual_seed(seed)
    normed = MLP(n_in, hidden, n_out, batchnorm=True, activation="relu")
    src = [m for m in plain.modules() if isinstance(m, nn.Linear)]
    dst = [m for m in normed.modules() if isinstance(m, nn.Linear)]
    assert len(src) == len(dst)
    with torch.no_grad():
        for s, d in zip(src, dst, strict=False):
            d.weight.copy_(s.weight)
            if d.bias is not None:  # only the output layer keeps its bias in the BN net
                d.bias.copy_(s.bias)
    return plain, normed


def run_all(args: argparse.Namespace, data, grids: dict[str, list[float]]) -> list[Run]:
    from zoomtune.nn.training import fit

    # Warm-up (not recorded): first calls pay for lazy initialisation, which would skew s/epoch.
    warm = replace(data, x_train=data.x_train[:512], y_train=data.y_train[:512])
    for net in make_pair(data.n_features, args.hidden, data.n_classes, args.seed):
        fit(net, warm, optimizer=args.optimizers[0], lr=1e-3, epochs=1, seed=args.seed)

    runs: list[Run] = []
    total = sum(len(g) for g in grids.values()) * len(VARIANTS)
    done = 0
    for opt in args.optimizers:
        for lr in grids[opt]:
            nets = dict(zip((v for v, _ in VARIANTS),
                            make_pair(data.n_features, args.hidden, data.n_classes, args.seed), strict=False))
            for variant, _ in VARIANTS:
                res = fit(nets[variant], data, optimizer=opt, lr=lr, momentum=0.9, batch_size=128,
                          epochs=args.epochs, seed=args.seed)
                runs.append(Run(opt, variant, lr, list(res.history), res.diverged, res.seconds))
                done += 1
                hist = " ".join(f"{a:.3f}" for a in res.history)
                print(f"[{done:>3}/{total}] {opt:<7} {variant:<5} lr={lr:<9.3g} {res.seconds:5.1f}s  "
                      f"val acc per epoch: {hist}{'  DIVERGED' if res.diverged else ''}",
                      file=sys.stderr, flush=True)
    return runs


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------
def final_acc(run: Run) -> float:
    """Accuracy after the last epoch run; a run that diverged counts at its last (~chance) value."""
    return run.history[-1]


def epochs_to(run: Run, target: float) -> int | None:
    for i, acc in enumerate(run.history):
        if acc >= target:
            return i + 1
    return None


def lr_range(runs: list[Run], ok) -> tuple[float, float, int] | None:
    """(lowest lr, highest lr, count) of the runs for which ok(run) holds."""
    good = sorted(r.lr for r in runs if ok(r))
    return (good[0], good[-1], len(good)) if good else None


def fmt_lr(lr: float) -> str:
    return f"{lr:.2g}" if lr >= 1e-3 else f"{lr:.1e}".replace("e-0", "e-")


def fmt_range(rng: tuple[float, float, int] | None, contiguous: bool) -> tuple[str, str]:
    if rng is None:
        return "none", "-"
    lo, hi, n = rng
    text = f"{fmt_lr(lo)} .. {fmt_lr(hi)} ({n} lr{'s' if n != 1 else ''}{'' if contiguous else ', with gaps'})"
    return text, f"{math.log10(hi / lo):.2f}"


def is_contiguous(runs: list[Run], grid: list[float], ok) -> bool:
    flags = [ok(r) for r in sorted(runs, key=lambda r: r.lr)]
    idx = [i for i, f in enumerate(flags) if f]
    return not idx or idx[-1] - idx[0] + 1 == len(idx)


def report(args: argparse.Namespace, runs: list[Run], grids: dict[str, list[float]], n_train: int,
           elapsed: float) -> str:
    import torch

    k = args.epochs
    lines = [
        *page_header("Batch norm and learning speed: validation accuracy vs learning rate",
                     ("zoomtune", "torch", "matplotlib"), torch.get_num_threads(), dated=False),
        f"Setup: MLP 784 -> {' -> '.join(map(str, args.hidden))} -> 10 (ReLU), with and without zoomtune's batch norm, "
        "same initial "
        f"linear weights and same mini-batch order (seed {args.seed}); Fashion-MNIST, {n_train:,} training "
        f"examples (fixed subset), validation accuracy on the 10,000-image validation split; batch 128, "
        f"{k} epoch{'s' if k != 1 else ''}, constant learning rate; {len(next(iter(grids.values())))} "
        f"learning rates log-spaced per optimiser. Total wall time {elapsed:.0f} s.",
        "",
        ("Columns: `ep1` = validation accuracy after epoch 1; " if k == 1 else
         f"Columns: `ep1` / `ep{k}` = validation accuracy after epoch 1 / epoch {k}; ")
        + f"`ep→{args.target:g}` = first epoch reaching validation accuracy {args.target:g} (`-` = never within "
        f"{k} epoch{'s' if k != 1 else ''}); `div` = the loss became NaN/inf and training stopped "
        "(accuracy shown is the "
        f"broken model's, ~chance).",
        "",
    ]
    summary_rows = []
    for opt in args.optimizers:
        opt_runs = [r for r in runs if r.optimizer == opt]
        by = {(r.variant, r.lr): r for r in opt_runs}
        title = {"sgd": "SGD, momentum 0.9", "adam": "Adam (β1 0.9, β2 0.999)", "rmsprop": "RMSprop"}[opt]
        lines += [f"## {title}", ""]
        headers = ["lr"]
        for v, _ in VARIANTS:
            headers += [f"{v} ep1"] + ([f"{v} ep{k}"] if k > 1 else []) + [f"{v} ep→{args.target:g}"]
        rows = []
        for lr in grids[opt]:
            row = [fmt_lr(lr)]
            for v, _ in VARIANTS:
                r = by[(v, lr)]
                mark = " div" if r.diverged else ""
                first = r.history[0]
                row.append(f"{first:.3f}" + (mark if len(r.history) == 1 else ""))
                if k > 1:
                    row.append(f"{final_acc(r):.3f}{mark}")
                e = epochs_to(r, args.target)
                row.append("-" if e is None else str(e))
            rows.append(row)
        lines += [markdown_table(headers, rows), ""]
        for v, _ in VARIANTS:
            vr = [r for r in opt_runs if r.variant == v]
            best = max(vr, key=lambda r: final_acc(r))
            best_acc = final_acc(best)

            def near_best(r, best_acc=best_acc):
                return final_acc(r) >= best_acc - args.tolerance

            def above(r):
                return final_acc(r) >= args.target

            near_text, near_dec = fmt_range(lr_range(vr, near_best), is_contiguous(vr, grids[opt], near_best))
            abs_text, abs_dec = fmt_range(lr_range(vr, above), is_contiguous(vr, grids[opt], above))
            fastest = min((e for e in (epochs_to(r, args.target) for r in vr) if e is not None), default=None)
            summary_rows.append([opt, v, f"{best_acc:.3f} @ {fmt_lr(best.lr)}", near_text, near_dec,
                                 abs_text, abs_dec, "-" if fastest is None else str(fastest)])
    spacing = None
    g = grids[args.optimizers[0]]
    if len(g) > 1:
        spacing = math.log10(g[1] / g[0])
    lines += [
        "## Summary",
        "",
        f"`good lrs` = learning rates whose epoch-{k} accuracy is within {args.tolerance:g} of that variant's best; "
        f"`lrs ≥ {args.target:g}` = learning rates whose epoch-{k} accuracy reaches {args.target:g} (the same bar "
        f"for both variants); `decades` = log10(highest / lowest) of that range"
        + (f" (grid spacing {spacing:.2f} decades, so one grid point is 0.00)" if spacing else "")
        + f"; `fastest ep→{args.target:g}` = fewest epochs any lr needed. (Speed per step is not measured "
          "here; see benchmarks/bn_speed.py.)",
        "",
        markdown_table(["optimiser", "variant", f"best ep{k} acc @ lr", "good lrs", "decades",
                        f"lrs ≥ {args.target:g}", "decades", f"fastest ep→{args.target:g}"],
                       summary_rows, align="llrlrlrr"),
        "",
    ]
    return "\n".join(lines)


def plot(args: argparse.Namespace, runs: list[Run], grids: dict[str, list[float]], n_train: int, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = args.epochs
    n = len(args.optimizers)
    plt.rcParams.update({"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "legend.fontsize": 12,
                         "xtick.labelsize": 12, "ytick.labelsize": 12})
    fig, axes = plt.subplots(1, n, figsize=(5.4 * n if n > 1 else 8, 5.4), squeeze=False, sharey=True)
    colors = {"no BN": "tab:red", "BN": "tab:blue"}
    titles = {"sgd": "SGD + momentum 0.9", "adam": "Adam", "rmsprop": "RMSprop"}
    for ax, opt in zip(axes[0], args.optimizers, strict=False):
        for v, _ in VARIANTS:
            vr = sorted((r for r in runs if r.optimizer == opt and r.variant == v), key=lambda r: r.lr)
            lrs = [r.lr for r in vr]
            c = colors[v]
            ax.plot(lrs, [final_acc(r) for r in vr], "-o", color=c, lw=2, ms=5,
                    label=f"{v}, after epoch {k}" if k > 1 else f"{v}, after epoch 1")
            if k > 1:
                ax.plot(lrs, [r.history[0] for r in vr], "--", color=c, lw=1.3, alpha=0.8,
                        label=f"{v}, after epoch 1")
            div = [r for r in vr if r.diverged]
            if div:
                ax.plot([r.lr for r in div], [final_acc(r) for r in div], "x", color="black", ms=9, mew=2,
                        zorder=5)
        ax.axhline(args.target, color="dimgrey", lw=1.0, ls=":")
        ax.axhline(0.1, color="grey", lw=0.8, ls=":")
        ax.text(grids[opt][0], 0.085, "chance (0.1)", color="dimgrey", fontsize=11, va="top")
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_xlabel("learning rate (log scale)")
        ax.set_title(titles[opt])
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy")
    from matplotlib.lines import Line2D

    handles, labels = axes[0][0].get_legend_handles_labels()
    if any(r.diverged for r in runs):
        handles.append(Line2D([], [], ls="", marker="x", color="black", ms=8, mew=2))
        labels.append("loss diverged (NaN/inf)")
    handles.append(Line2D([], [], ls=":", color="dimgrey", lw=1.0))
    labels.append(f"target accuracy {args.target:g}")
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(f"Validation accuracy vs learning rate, with and without batch norm\n"
                 f"MLP 784→{'→'.join(map(str, args.hidden))}→10, Fashion-MNIST ({n_train:,} training examples, "
                 f"{k} epoch{'s' if k != 1 else ''})", fontsize=14)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    import torch

    from zoomtune.nn import datasets

    torch.set_num_threads(args.threads)
    data = first_examples(datasets.fashion_mnist(), args.subset)
    n_train = len(data.x_train)
    grids = {o: log_grid(*DEFAULT_GRID[o], args.n_lrs) for o in args.optimizers}
    if args.quick:  # two lrs from the middle of the useful range, not the extremes
        grids = {o: log_grid(DEFAULT_GRID[o][0] * 10, DEFAULT_GRID[o][1] / 30, args.n_lrs) for o in args.optimizers}
    runs = run_all(args, data, grids)
    elapsed = time.perf_counter() - started
    text = report(args, runs, grids, n_train, elapsed)
    write_page(args.out_dir, "bn_learning", text, "accuracy vs learning rate",
               lambda path: plot(args, runs, grids, n_train, path), started)


if __name__ == "__main__":
    main()
