"""Does batch norm work by weakening the coupling between layers? Ioffe & Szegedy's figure 1, and the later
loss-landscape counter-measurement of Santurkar et al. (2018), on the same sigmoid MLPs.

    python benchmarks/bn_coupling.py                  # full run (~1.5 min on 2 idle cores, ~6 min on busy ones)
    python benchmarks/bn_coupling.py --quick          # smoke run (~15 s), writes to a temp dir
    python benchmarks/bn_coupling.py --steps 3000 --seeds 1

Network: MLP 784 -> 100 -> 100 -> 100 -> 10 with sigmoid units (zoomtune.nn.MLP), three variants:
  - "no BN": Linear (with bias) -> sigmoid;
  - "BN": Linear (no bias) -> zoomtune's BatchNorm1d -> sigmoid;
  - "BN + shift noise": the BN net with Santurkar et al.'s "noisy BatchNorm": after every batch norm a random
    per-unit scale (log-uniform in [1/2, 2]) and shift (uniform in [-1, 1]), redrawn every training step, so the
    sigmoids' inputs shift *more* than without batch norm (off at test time).
All start from the same linear weights (copied from the no-BN net) and see the same mini-batches in the same
order (per seed). Plain SGD (no momentum), batch 60 as in the paper, constant learning rate.

Recorded along training, per variant and seed:
  (1) test accuracy (10,000 Fashion-MNIST test images, eval mode);
  (2) the 15th / 50th / 85th percentiles of every last-hidden-layer sigmoid's input (what the sigmoid sees:
      after batch norm, or after the linear layer without it) over a fixed batch of 1,000 validation images,
      computed in training mode (batch statistics, as during training) without touching the running averages;
  (3) the loss landscape along the gradient, at the mini-batch about to be trained on: with g = grad L(w) and
      eta in lr x {1/4, 1/2, 1, 2, 4}, the range of L(w - eta g), the largest ||grad L(w - eta g) - grad L(w)||,
      and the "effective beta-smoothness" max_eta ||grad L(w - eta g) - grad L(w)|| / ||eta g||.

Outputs: docs/bn_coupling.md and docs/bn_coupling.png (--quick writes both to a temporary directory instead).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, os.pardir))
sys.path.insert(0, HERE)  # for _common
sys.path.insert(0, os.path.join(REPO, "src"))

from _common import first_examples, markdown_table, page_header, write_page  # noqa: E402

if TYPE_CHECKING:
    from torch import Tensor, nn

    from zoomtune.nn.datasets import Dataset

PERCENTILES = (15, 50, 85)
ETA_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)  # probe step sizes, as multiples of the learning rate
HIDDEN = (100, 100, 100)
UNIT = 0  # the "typical sigmoid" drawn in the figure (the table summarises all 100 units too)
TARGETS = (0.80, 0.85)


class Resampling(Protocol):
    """A layer whose randomness is redrawn once per training step (the noisy net's `ShiftNoise`)."""

    def resample(self) -> None: ...


class Variant(str, Enum):
    """The three networks compared."""

    PLAIN = "no BN"
    BN = "BN"
    NOISY = "BN + shift noise"

    def __str__(self) -> str:
        return self.value


COLORS = {Variant.PLAIN: "tab:red", Variant.BN: "tab:blue", Variant.NOISY: "tab:green"}


@dataclass(frozen=True)
class Config:
    """One run's settings."""

    steps: int = 6000
    lr: float = 0.5
    batch: int = 60
    seeds: int = 3
    eval_every: int = 200
    record_every: int = 50
    probe_every: int = 250
    record_size: int = 1000
    noise_shift: float = 1.0  # shift ~ U[-noise_shift, noise_shift]
    noise_scale: float = 2.0  # scale log-uniform in [1/noise_scale, noise_scale]
    variants: tuple[Variant, ...] = tuple(Variant)

    @property
    def etas(self) -> list[float]:
        return [self.lr * f for f in ETA_FACTORS]


@dataclass(frozen=True)
class Smoothness:
    """The loss and its gradient along the gradient direction: L(w - eta g) and grad L(w - eta g), per eta."""

    etas: np.ndarray
    losses: np.ndarray
    grad_changes: np.ndarray  # ||grad L(w - eta g) - grad L(w)||
    grad_norm: float  # ||g||

    @property
    def loss_range(self) -> float:
        return float(self.losses.max() - self.losses.min())

    @property
    def max_grad_change(self) -> float:
        return float(self.grad_changes.max())

    @property
    def effective_beta(self) -> float:
        """max over eta of the gradient's change per unit distance moved (a local Lipschitz constant of grad L)."""
        if self.grad_norm == 0.0:
            return 0.0
        return float((self.grad_changes / (self.etas * self.grad_norm)).max())


@dataclass
class Curves:
    """What one training run recorded; step s means "after s SGD updates"."""

    eval_steps: np.ndarray
    accuracy: np.ndarray  # test accuracy at eval_steps
    record_steps: np.ndarray
    percentiles: np.ndarray  # (len(record_steps), len(PERCENTILES), units): the last sigmoid layer's input
    probe_steps: np.ndarray
    loss_range: np.ndarray
    grad_change: np.ndarray
    beta: np.ndarray
    coupling: np.ndarray  # ||G - G'|| / ||G|| of the last hidden layer's weights (see `coupling`), at probe_steps
    coupling_cos: np.ndarray  # cos(G, G')
    earlier_step: np.ndarray  # length of the earlier layers' step at each probe
    seconds: float

    def accuracy_at(self, step: int) -> float:
        """Test accuracy at the last evaluation at or before `step`."""
        return float(self.accuracy[np.searchsorted(self.eval_steps, step, side="right") - 1])

    def steps_to(self, target: float) -> int | None:
        hits = np.nonzero(self.accuracy >= target)[0]
        return int(self.eval_steps[hits[0]]) if len(hits) else None


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
def _shift_noise_class() -> type[nn.Module]:
    import torch
    from torch import nn

    class ShiftNoise(nn.Module):
        """Santurkar et al.'s distributional noise after batch norm: x * scale + shift per unit, both random and
        redrawn by `resample()` (once per training step, so a step's forward passes all see the same noise);
        the identity in eval mode."""

        scale: Tensor
        offset: Tensor

        def __init__(self, width: int, shift: float, scale: float, seed: int) -> None:
            super().__init__()
            self.width, self.shift, self.log_scale = width, shift, math.log(scale)
            self.generator = torch.Generator().manual_seed(seed)
            self.register_buffer("scale", torch.ones(width))
            self.register_buffer("offset", torch.zeros(width))

        def resample(self) -> None:
            u = torch.rand(2, self.width, generator=self.generator) * 2 - 1
            self.offset.copy_(u[0] * self.shift)
            self.scale.copy_(torch.exp(u[1] * self.log_scale))

        def forward(self, x: Tensor) -> Tensor:
            return x * self.scale + self.offset if self.training else x

    return ShiftNoise


def _copy_linear_weights(src: nn.Module, dst: nn.Module) -> None:
    import torch
    from torch import nn

    pairs = list(zip([m for m in src.modules() if isinstance(m, nn.Linear)],
                     [m for m in dst.modules() if isinstance(m, nn.Linear)], strict=True))
    with torch.no_grad():
        for s, d in pairs:
            d.weight.copy_(s.weight)
            if d.bias is not None and s.bias is not None:  # only the output layer keeps its bias with BN
                d.bias.copy_(s.bias)


def make_nets(n_in: int, n_out: int, seed: int, cfg: Config, hidden: Sequence[int] = HIDDEN
              ) -> dict[Variant, nn.Sequential]:
    """The variants of `cfg` as sigmoid MLPs with identical initial linear weights."""
    import torch
    from torch import nn

    from zoomtune.nn import MLP, BatchNorm1d

    torch.manual_seed(seed)
    plain = MLP(n_in, list(hidden), n_out, batchnorm=False, activation="sigmoid")
    nets: dict[Variant, nn.Sequential] = {Variant.PLAIN: plain}
    for variant in cfg.variants:
        if variant is Variant.PLAIN:
            continue
        net: nn.Sequential = MLP(n_in, list(hidden), n_out, batchnorm=True, activation="sigmoid")
        if variant is Variant.NOISY:
            noise = _shift_noise_class()
            layers: list[nn.Module] = []
            for i, layer in enumerate(net):
                layers.append(layer)
                if isinstance(layer, BatchNorm1d):
                    layers.append(noise(layer.num_features, cfg.noise_shift, cfg.noise_scale, 1000 * seed + i))
            net = nn.Sequential(*layers)
        _copy_linear_weights(plain, net)
        nets[variant] = net
    return {v: nets[v] for v in cfg.variants}


def sigmoid_input(net: nn.Sequential) -> nn.Module:
    """The module whose output the last sigmoid sees (its pre-activation)."""
    from torch import nn

    layers = list(net)
    last = max(i for i, m in enumerate(layers) if isinstance(m, nn.Sigmoid))
    return layers[last - 1]


@contextmanager
def frozen_state(net: nn.Module) -> Iterator[None]:
    """Run forward passes in training mode and put every buffer (batch norm's running averages) and the mode back."""
    saved = {name: b.clone() for name, b in net.named_buffers()}
    was_training = net.training
    net.train()
    try:
        yield
    finally:
        for name, b in net.named_buffers():
            b.copy_(saved[name])
        net.train(was_training)


def sigmoid_input_percentiles(net: nn.Sequential, x: Tensor) -> np.ndarray:
    """(len(PERCENTILES), units): percentiles over the batch `x` of each last-layer sigmoid's input, with batch
    statistics (training mode) and the net's buffers left as they were."""
    import torch

    captured: list[Tensor] = []
    hook = sigmoid_input(net).register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    try:
        with torch.no_grad(), frozen_state(net):
            net(x)
    finally:
        hook.remove()
    return np.asarray(np.percentile(captured[0].numpy(), PERCENTILES, axis=0))


# ---------------------------------------------------------------------------------------------
# Smoothness along the gradient
# ---------------------------------------------------------------------------------------------
def measure_smoothness(loss_at: Callable[[Tensor], Tensor], w: Tensor, etas: Sequence[float]) -> Smoothness:
    """Loss and gradient change when stepping from `w` along minus the gradient, for each step size in `etas`."""
    import torch

    def loss_and_grad(point: Tensor) -> tuple[float, Tensor]:
        point = point.detach().requires_grad_(True)
        loss = loss_at(point)
        (grad,) = torch.autograd.grad(loss, point)
        return float(loss.detach()), grad

    _, g = loss_and_grad(w)
    losses, changes = [], []
    for eta in etas:
        loss, grad = loss_and_grad(w - eta * g)
        losses.append(loss)
        changes.append(float(torch.linalg.vector_norm(grad - g)))
    return Smoothness(np.asarray(etas, dtype=float), np.asarray(losses), np.asarray(changes),
                      float(torch.linalg.vector_norm(g)))


def model_loss(net: nn.Module, x: Tensor, y: Tensor) -> tuple[Callable[[Tensor], Tensor], Tensor]:
    """(loss of `net` on (x, y) as a function of its flattened parameters, the current flat parameters)."""
    import torch
    from torch.func import functional_call
    from torch.nn.functional import cross_entropy

    named = [(name, p.shape, p.numel()) for name, p in net.named_parameters()]
    w = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss_at(flat: Tensor) -> Tensor:
        params = {name: part.view(shape) for (name, shape, _), part in
                  zip(named, flat.split([n for _, _, n in named]), strict=True)}
        return cross_entropy(functional_call(net, params, (x,)), y)

    return loss_at, w


def probe(net: nn.Module, x: Tensor, y: Tensor, etas: Sequence[float]) -> Smoothness:
    """`measure_smoothness` of the training loss (batch statistics) on (x, y), leaving the net as it was."""
    loss_at, w = model_loss(net, x, y)
    with frozen_state(net):
        return measure_smoothness(loss_at, w, etas)


@dataclass(frozen=True)
class Coupling:
    """How much the earlier layers' SGD step changes a later layer's gradient (Santurkar et al.'s definition of
    internal covariate shift): G = the later layer's gradient, G' = the same after the earlier layers have taken
    their step of size lr on the same batch."""

    relative_change: float  # ||G - G'|| / ||G||
    cosine: float  # cos(G, G')
    earlier_step: float  # the length of the earlier layers' step, lr * ||their gradient||


def coupling(net: nn.Sequential, x: Tensor, y: Tensor, lr: float) -> Coupling:
    """`Coupling` of the last hidden linear layer's weights to every layer before it, leaving the net as it was."""
    import torch
    from torch import nn
    from torch.func import functional_call
    from torch.nn.functional import cross_entropy

    linears = [i for i, m in enumerate(net) if isinstance(m, nn.Linear)]
    later = linears[-2]  # the output layer is linears[-1]
    earlier = {f"{i}.{name}" for i, m in enumerate(net) if i < later for name, _ in m.named_parameters()}
    params = dict(net.named_parameters())
    target = f"{later}.weight"

    def grads(values: Mapping[str, Tensor]) -> dict[str, Tensor]:
        leaves = {k: v.detach().requires_grad_(True) for k, v in values.items()}
        loss = cross_entropy(functional_call(net, leaves, (x,)), y)
        return dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values())), strict=True))

    with frozen_state(net):
        first = grads(params)
        stepped = {k: (v.detach() - lr * first[k]) if k in earlier else v for k, v in params.items()}
        second = grads(stepped)
    g, g2 = first[target].reshape(-1), second[target].reshape(-1)
    step = lr * float(torch.linalg.vector_norm(torch.cat([first[k].reshape(-1) for k in sorted(earlier)])))
    norm = float(torch.linalg.vector_norm(g))
    if norm == 0.0:
        return Coupling(0.0, 1.0, step)
    return Coupling(float(torch.linalg.vector_norm(g - g2)) / norm,
                    float(torch.nn.functional.cosine_similarity(g, g2, dim=0)), step)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def batches(n: int, batch: int, seed: int) -> Iterator[Tensor]:
    """Mini-batch indices forever: a fresh permutation every epoch, the last partial batch dropped."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=generator)
        for i in range(0, n - batch + 1, batch):
            yield order[i:i + batch]


def train(net: nn.Sequential, data: Dataset, cfg: Config, seed: int) -> Curves:
    """Plain SGD on `data` for cfg.steps steps, recording accuracy, sigmoid inputs and smoothness on schedule."""
    import torch
    from torch.nn.functional import cross_entropy

    from zoomtune.nn import accuracy

    start = time.perf_counter()
    params = list(net.parameters())
    noise = [cast(Resampling, m) for m in net.modules() if hasattr(m, "resample")]
    x_record = data.x_val[:cfg.record_size]
    order = batches(len(data.x_train), cfg.batch, seed)
    evals: list[tuple[int, float]] = []
    records: list[tuple[int, np.ndarray]] = []
    probes: list[tuple[int, Smoothness, Coupling]] = []
    for step in range(cfg.steps + 1):
        for m in noise:
            m.resample()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            evals.append((step, accuracy(net, data.x_test, data.y_test)))
        if step % cfg.record_every == 0 or step == cfg.steps:
            records.append((step, sigmoid_input_percentiles(net, x_record)))
        if step == cfg.steps:
            break
        index = next(order)
        x, y = data.x_train[index], data.y_train[index]
        if step % cfg.probe_every == 0:
            probes.append((step, probe(net, x, y, cfg.etas), coupling(net, x, y, cfg.lr)))
        net.train()
        grads = torch.autograd.grad(cross_entropy(net(x), y), params)
        with torch.no_grad():  # plain SGD, no momentum (what torch.optim.SGD does, without importing dynamo)
            for param, grad in zip(params, grads, strict=True):
                param.sub_(grad, alpha=cfg.lr)
    return Curves(np.array([s for s, _ in evals]), np.array([a for _, a in evals]),
                  np.array([s for s, _ in records]), np.stack([p for _, p in records]),
                  np.array([s for s, _, _ in probes]), np.array([p.loss_range for _, p, _ in probes]),
                  np.array([p.max_grad_change for _, p, _ in probes]),
                  np.array([p.effective_beta for _, p, _ in probes]),
                  np.array([c.relative_change for _, _, c in probes]), np.array([c.cosine for _, _, c in probes]),
                  np.array([c.earlier_step for _, _, c in probes]),
                  time.perf_counter() - start)


def run_all(data: Dataset, cfg: Config) -> dict[Variant, list[Curves]]:
    """Every variant, every seed; the variants of one seed share initial weights and batch order."""
    results: dict[Variant, list[Curves]] = {v: [] for v in cfg.variants}
    for seed in range(cfg.seeds):
        nets = make_nets(data.n_features, data.n_classes, seed, cfg)
        for variant, net in nets.items():
            curves = train(net, data, cfg, seed)
            results[variant].append(curves)
            print(f"seed {seed} {variant!s:<17} {curves.seconds:6.1f} s  test acc {curves.accuracy[-1]:.3f}  "
                  f"median beta {np.median(curves.beta):.3g}", file=sys.stderr, flush=True)
    return results


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------
def spread(values: Sequence[float], form: Callable[[float], str] | None = None) -> str:
    """'median [min, max]' over seeds (just the value for one seed), each shown by `form` (default 3 digits)."""
    show = form or fmt
    arr = np.asarray(values, dtype=float)
    if len(arr) == 1:
        return show(float(arr[0]))
    return f"{show(float(np.median(arr)))} [{show(float(arr.min()))}, {show(float(arr.max()))}]"


def fmt(value: float) -> str:
    return f"{value:.3g}"


def fmt_acc(value: float) -> str:
    return f"{value:.3f}"


@dataclass(frozen=True)
class Drift:
    """How the last sigmoid layer's input distribution moved over one run."""

    median_drift_unit: float  # max - min over training of unit UNIT's median
    median_drift_all: float  # the same, median over all units
    relative_drift: float  # median over units of (the median's drift / the unit's final 15-85 band width)
    relative_jitter: float  # median over units and recordings of |change of the median between recordings| / band
    band_start: float  # 15-85 band width at step 0, median over units
    band_end: float


def drift(curves: Curves) -> Drift:
    p = curves.percentiles
    medians = p[:, 1, :]
    moved = medians.max(axis=0) - medians.min(axis=0)
    band = p[:, 2, :] - p[:, 0, :]
    final = np.maximum(band[-1], 1e-12)
    jumps = np.abs(np.diff(medians, axis=0)) / final if len(medians) > 1 else np.zeros((1, medians.shape[1]))
    return Drift(float(moved[UNIT]), float(np.median(moved)), float(np.median(moved / final)),
                 float(np.median(jumps)), float(np.median(band[0])), float(np.median(band[-1])))


def table_steps(cfg: Config) -> list[int]:
    picks = sorted({s for s in (cfg.steps // 12, cfg.steps // 6, cfg.steps // 3, cfg.steps) if s > 0})
    return picks


def report(cfg: Config, results: dict[Variant, list[Curves]], data_name: str, n_train: int,
           elapsed: float) -> str:
    import torch

    variants = list(results)
    steps = table_steps(cfg)
    epochs = cfg.steps * cfg.batch / n_train
    lines = [
        *page_header("Batch norm and the coupling between layers: Ioffe & Szegedy's figure 1, and the loss landscape",
                     ("zoomtune", "torch", "numpy", "matplotlib"), torch.get_num_threads()),
        f"Setup: MLP 784 → 100 → 100 → 100 → 10 with sigmoid units (`zoomtune.nn.MLP(activation=\"sigmoid\")`), "
        f"{', '.join(f'`{v}`' for v in variants)}; per seed all variants start from the same linear weights (torch's "
        f"default init of the no-BN net, copied) and see the same mini-batches in the same order. {data_name}, "
        f"{n_train:,} training images; plain SGD (no momentum), batch {cfg.batch}, learning rate {cfg.lr:g}, "
        f"{cfg.steps:,} steps ({epochs:.1f} epochs), {cfg.seeds} seed{'s' if cfg.seeds != 1 else ''} "
        f"(tables: median [min, max] over seeds). `BN + shift noise` is Santurkar et al.'s \"noisy BatchNorm\": after "
        f"each batch norm a per-unit random scale (log-uniform in [1/{cfg.noise_scale:g}, {cfg.noise_scale:g}]) and "
        f"shift (uniform in [−{cfg.noise_shift:g}, {cfg.noise_shift:g}]), redrawn every step, off at test time. "
        f"Total wall time {elapsed:.0f} s.",
        "",
        f"Recorded: test accuracy (10,000 test images, eval mode) every {cfg.eval_every} steps; the 15th / 50th / "
        f"85th percentiles of each of the 100 last-hidden-layer sigmoids' inputs (after batch norm, and after the "
        f"noise for the noisy net; after the linear layer without batch norm) over a fixed batch of "
        f"{cfg.record_size:,} validation images, in training mode (batch statistics), every {cfg.record_every} "
        f"steps; every {cfg.probe_every} steps, on the mini-batch about to be trained on (training mode), with "
        f"g = ∇L(w) and η ∈ lr × {{{', '.join(f'{f:g}' for f in ETA_FACTORS)}}}: the loss range "
        f"max_η L(w − ηg) − min_η L(w − ηg), the gradient change max_η ‖∇L(w − ηg) − ∇L(w)‖ and the effective "
        f"β-smoothness max_η ‖∇L(w − ηg) − ∇L(w)‖ / ‖ηg‖.",
        "",
        "## Test accuracy",
        "",
    ]
    rows = []
    for v in variants:
        row = [str(v)] + [spread([c.accuracy_at(s) for c in results[v]], fmt_acc) for s in steps]
        for target in TARGETS:
            hits = [c.steps_to(target) for c in results[v]]
            got = [h for h in hits if h is not None]
            row.append(f"{int(np.median(got)):,}" + (f" ({len(got)}/{len(hits)} seeds)" if len(got) < len(hits)
                                                       else "") if got else "never")
        rows.append(row)
    lines += [markdown_table(["variant", *(f"step {s:,}" for s in steps), *(f"steps to {t:g}" for t in TARGETS)],
                             rows), ""]

    lines += [
        "## The last hidden layer's input distribution (figure 1b/c)",
        "",
        f"`median drift` = max − min over training of a sigmoid input's median over the recording batch (unit {UNIT}, "
        "the one drawn; and the median over all 100 units); `drift / band` = that drift divided by the unit's "
        "15–85 percentile width at the end of training (scale-free: how far the centre moved, in spreads); "
        "`jitter / band` = the typical change of the median from one recording to the next, in the same unit (how "
        f"much the input moves per {cfg.record_every} steps: what the next layer has to keep up with); `band` = the "
        "15–85 width at the first and last recording (median over units).",
        "",
    ]
    drifts = {v: [drift(c) for c in results[v]] for v in variants}
    columns: list[tuple[str, Callable[[Drift], float]]] = [
        (f"median drift, unit {UNIT}", lambda d: d.median_drift_unit),
        ("median drift, all units", lambda d: d.median_drift_all), ("drift / band", lambda d: d.relative_drift),
        ("jitter / band", lambda d: d.relative_jitter), ("band at step 0", lambda d: d.band_start),
        (f"band at step {cfg.steps:,}", lambda d: d.band_end)]
    rows = [[str(v), *(spread([get(d) for d in drifts[v]]) for _, get in columns)] for v in variants]
    lines += [markdown_table(["variant", *(name for name, _ in columns)], rows), ""]

    lines += [
        "## Smoothness along the gradient (Santurkar et al.)",
        "",
        "Medians over the probes of each run (then median [min, max] over seeds); `early` = probes in the first "
        "third of training, `late` = the last third.",
        "",
    ]
    third = cfg.steps / 3

    def phase(c: Curves, values: np.ndarray, early: bool) -> float:
        mask = c.probe_steps < third if early else c.probe_steps >= 2 * third
        return float(np.median(values[mask])) if mask.any() else math.nan

    rows = []
    for v in variants:
        row = [str(v)]
        for attr in ("loss_range", "grad_change", "beta"):
            row.append(spread([float(np.median(getattr(c, attr))) for c in results[v]]))
            row.append(spread([phase(c, getattr(c, attr), True) for c in results[v]]))
            row.append(spread([phase(c, getattr(c, attr), False) for c in results[v]]))
        rows.append(row)
    lines += [markdown_table(["variant", "loss range", "early", "late", "grad change", "early", "late",
                              "effective β", "early", "late"], rows), ""]
    lines += [
        "## The coupling itself (Santurkar et al.'s measure of internal covariate shift)",
        "",
        "At each probe: G = the gradient of the last hidden linear layer's weights on the mini-batch; G' = the same "
        "gradient after every earlier layer (linear weights, and γ/β with batch norm) has taken its SGD step on that "
        "batch. ‖G − G'‖ / ‖G‖ (and cos(G, G')) is how much the earlier layers' update changes the later layer's "
        "problem: the coupling the seed says batch norm weakens. `earlier layers' step` = the length of that update "
        "(lr × the norm of their gradient), `change per unit step` = ‖G − G'‖ / ‖G‖ divided by it. Medians over "
        "probes, then over seeds.",
        "",
    ]
    rows = []
    for v in variants:
        rows.append([str(v), spread([float(np.median(c.coupling)) for c in results[v]]),
                     spread([phase(c, c.coupling, True) for c in results[v]]),
                     spread([phase(c, c.coupling, False) for c in results[v]]),
                     spread([float(np.median(c.coupling_cos)) for c in results[v]]),
                     spread([float(np.median(c.earlier_step)) for c in results[v]]),
                     spread([float(np.median(c.coupling / np.maximum(c.earlier_step, 1e-12))) for c in results[v]])])
    lines += [markdown_table(["variant", "‖G − G'‖ / ‖G‖", "early", "late", "cos(G, G')", "earlier layers' step",
                              "change per unit step"], rows), ""]
    lines += reading(cfg, results, drifts)
    return "\n".join(lines)


def reading(cfg: Config, results: dict[Variant, list[Curves]], drifts: dict[Variant, list[Drift]]) -> list[str]:
    """The 'what it shows / where it disagrees' section; every comparison in it is computed from the numbers."""
    plain, bn = Variant.PLAIN, Variant.BN
    if plain not in results or bn not in results:
        return []

    def med(values: Sequence[float]) -> float:
        return float(np.median(values))

    def per_run(get: Callable[[Curves], float]) -> dict[Variant, float]:
        return {v: med([get(c) for c in runs]) for v, runs in results.items()}

    early_step = table_steps(cfg)[0]
    final = per_run(lambda c: float(c.accuracy[-1]))
    early = per_run(lambda c: c.accuracy_at(early_step))
    rel = {v: med([d.relative_drift for d in ds]) for v, ds in drifts.items()}
    jitter = {v: med([d.relative_jitter for d in ds]) for v, ds in drifts.items()}
    beta = per_run(lambda c: float(np.median(c.beta)))
    loss_range = per_run(lambda c: float(np.median(c.loss_range)))
    couple = per_run(lambda c: float(np.median(c.coupling)))
    moved = per_run(lambda c: float(np.median(c.earlier_step)))

    def times(a: float, b: float) -> str:
        """'3.1x more' / '2.0x less': a relative to b."""
        if b == 0 or a == 0:
            return "incomparable"
        return f"{a / b:.2g}x more" if a >= b else f"{b / a:.2g}x less"

    out = ["## What it shows / where it disagrees", ""]
    out.append(
        f"*Accuracy.* After {early_step:,} steps BN is at {early[bn]:.3f} and no BN at {early[plain]:.3f}; after "
        f"{cfg.steps:,} steps {final[bn]:.3f} vs {final[plain]:.3f}. "
        + ("Batch norm learns faster, as in the paper. " if early[bn] > early[plain] + 0.01 else
           "Batch norm gives no head start at this learning rate. ")
        + ("By the end the gap has closed. " if abs(final[bn] - final[plain]) < 0.01 else "")
        + f"The learning rate ({cfg.lr:g}) is one the plain sigmoid net handles well; batch norm's larger gains come "
          "from learning rates the plain net cannot use (docs/bn_learning.md).")
    out.append("")
    out.append(
        f"*Figure 1 reproduces, partly by construction.* Over training the median of a last-layer sigmoid's input "
        f"moved {rel[bn]:.2g} final band widths with batch norm and {rel[plain]:.2g} without "
        f"({times(rel[plain], rel[bn])} without), as in the paper's figure 1(b, c). But with batch norm the per-unit "
        "mean and spread over a batch "
        "are β and γ by definition, so the stable curves show how slowly β and γ learn, not that the layers learn "
        "independently.")
    out.append("")
    out.append(
        f"*The coupling, measured directly, is {'smaller' if couple[bn] < couple[plain] else 'not smaller'} with batch "
        f"norm.* The earlier layers' step changes the last hidden layer's gradient by {couple[bn]:.2g} of its norm "
        f"with batch norm and {couple[plain]:.2g} without ({times(couple[bn], couple[plain])} with batch norm). "
        + ("So on this measure the seed's \"weakens the coupling\" holds here" + (
            f"; but the noisy net, whose input distributions shift most, is as weakly coupled "
            f"({couple[Variant.NOISY]:.2g}), so the weak coupling does not come from steadier distributions. "
            if Variant.NOISY in couple and couple[Variant.NOISY] < (couple[bn] + couple[plain]) / 2 else ". ")
           if couple[bn] < couple[plain] else
           "So the seed's mechanism (\"it weakens the coupling between what the early layers' parameters have to do "
           "and what the later layers' have to do\") is not what this measurement shows, in line with Santurkar et "
           "al.'s finding that batch norm does not reduce internal covariate shift in this sense. ")
        + (f"Part of the plain net's low number is that its earlier layers barely move: their step is "
           f"{moved[plain]:.2g} long against {moved[bn]:.2g} with batch norm (the sigmoids' gradients vanish on the "
           "way down), and a layer that does not learn cannot disturb the next one." if moved[plain] < moved[bn] / 2
           else ""))
    out.append("")
    if Variant.NOISY in results:
        noisy = Variant.NOISY
        area = per_run(lambda c: float(np.mean(c.accuracy)))  # mean test accuracy over training: learning speed
        better = area[noisy] > area[plain] + 0.01
        out.append(
            f"*Batch norm plus deliberate covariate shift.* The noisy net's sigmoid inputs jump {jitter[noisy]:.2g} "
            f"band widths between recordings against {jitter[plain]:.2g} without batch norm and {jitter[bn]:.2g} with "
            f"it ({times(jitter[noisy], jitter[plain])} than no batch norm)"
            + (": its later layers stand on the least firm ground of the three. " if jitter[noisy] > jitter[plain]
               else ". ")
            + f"It reaches {early[noisy]:.3f} after {early_step:,} steps and {final[noisy]:.3f} at "
            f"the end (BN {final[bn]:.3f}, no BN {final[plain]:.3f}"
            + (f": the noise costs {min(final[bn], final[plain]) - final[noisy]:.3f} by then). "
               if final[noisy] < min(final[bn], final[plain]) - 0.005 else "). ")
            + f"Its mean test accuracy over training is {area[noisy]:.3f} (BN {area[bn]:.3f}, no BN "
              f"{area[plain]:.3f}). "
            + ("It still learns faster than the plain net, so a steadier input distribution is not what makes "
               "batch norm help here (the seed's explanation), as Santurkar et al. found on VGG/CIFAR-10."
               if better else
               "Here the injected shift does cost it the advantage, so this arm does not by itself refute the "
               "covariate-shift story (Santurkar et al. saw no such cost on VGG/CIFAR-10)."))
        out.append("")
    out.append(
        f"*Smoothness.* Along the gradient the median effective β-smoothness is {fmt(beta[bn])} with batch norm and "
        f"{fmt(beta[plain])} without, the loss range over the probed steps {fmt(loss_range[bn])} vs "
        f"{fmt(loss_range[plain])}. "
        + ("Batch norm's landscape is smoother here, as Santurkar et al. found." if beta[bn] < beta[plain] else
           "By this measure batch norm's landscape is *not* smoother here, unlike Santurkar et al.'s VGG/CIFAR-10 "
           "result. Two caveats: the plain sigmoid net spends its first steps on a plateau, where the loss is flat "
           "because nothing is learned; and the parameterisations differ (batch norm makes the loss invariant to "
           "the scale of the weights before it), so weight-space distances do not compare one to one.")
        + (f" The noisy net's effective β is {fmt(beta[Variant.NOISY])}"
           + (": the injected shift leaves batch norm's smoothing in place, which fits its learning as fast as BN."
              if beta[Variant.NOISY] < beta[plain] else ".") if Variant.NOISY in results else ""))
    out.append("")
    out.append(
        "Limits: one architecture, one learning rate, Fashion-MNIST rather than MNIST, a few thousand steps rather "
        "than the paper's 50,000, torch's default initialisation rather than the paper's small Gaussian one, and "
        "probes of five step sizes on one mini-batch (local, noisy measurements, not the Hessian).")
    out.append("")
    return out


# ---------------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------------
def plot(cfg: Config, results: dict[Variant, list[Curves]], title_data: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 12, "axes.titlesize": 13, "legend.fontsize": 10.5})
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.6))
    acc_ax, pct_ax, beta_ax = axes
    for v, runs in results.items():
        c = COLORS[v]
        acc = np.stack([r.accuracy for r in runs])
        acc_ax.plot(runs[0].eval_steps, np.median(acc, axis=0), color=c, lw=2, label=str(v))
        if len(runs) > 1:
            acc_ax.fill_between(runs[0].eval_steps, acc.min(axis=0), acc.max(axis=0), color=c, alpha=0.2)
        beta = np.stack([r.beta for r in runs])
        beta_ax.plot(runs[0].probe_steps, np.median(beta, axis=0), "-o", ms=3, color=c, lw=1.8, label=str(v))
        if len(runs) > 1:
            beta_ax.fill_between(runs[0].probe_steps, beta.min(axis=0), beta.max(axis=0), color=c, alpha=0.15)
        if v is Variant.NOISY:
            continue  # its per-step noise would bury the two curves the paper compares
        p = runs[0].percentiles[:, :, UNIT]
        for k, (q, style) in enumerate(zip(PERCENTILES, (":", "-", "--"), strict=True)):
            pct_ax.plot(runs[0].record_steps, p[:, k], style, color=c, lw=2 if q == 50 else 1.4,
                        label=f"{v}, {q}th pct")
    acc_ax.set(xlabel="training step", ylabel="test accuracy", title="(a) test accuracy (median, min–max of seeds)")
    lo = min(float(np.min(r.accuracy[1:])) if len(r.accuracy) > 1 else 1.0 for runs in results.values() for r in runs)
    acc_ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    pct_ax.set(xlabel="training step", ylabel="sigmoid input",
               title=f"(b) last sigmoid layer input, unit {UNIT}, seed 0\n(15/50/85th percentiles, no BN vs BN)")
    pct_ax.axhline(0, color="grey", lw=0.8)
    bottom, top = pct_ax.get_ylim()
    pct_ax.set_ylim(bottom, top + 0.45 * (top - bottom))  # headroom for the legend
    etas = f"η = lr × {ETA_FACTORS[0]:g}…{ETA_FACTORS[-1]:g}"
    beta_ax.set(xlabel="training step", ylabel="max ‖∇L(w−ηg) − ∇L(w)‖ / ‖ηg‖ (log)", yscale="log",
                title=f"(c) effective β-smoothness along the gradient\n({etas})")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    acc_ax.legend(loc="lower right")
    pct_ax.legend(loc="upper right", ncol=2)
    beta_ax.legend(loc="best")
    fig.suptitle(f"Batch norm on a 3×100 sigmoid MLP, {title_data}: SGD lr {cfg.lr:g}, batch {cfg.batch}, "
                 f"{cfg.seeds} seed{'s' if cfg.seeds != 1 else ''}", fontsize=14)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Config]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 300 steps, 1 seed, 5,000 training images, outputs to a temp dir")
    ap.add_argument("--steps", type=int, default=None, help="SGD steps per run (default 6000; quick 300)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds (default 3; quick 1)")
    ap.add_argument("--lr", type=float, default=Config.lr, help=f"SGD learning rate (default {Config.lr:g})")
    ap.add_argument("--subset", type=int, default=None, help="training images used (default all; quick 5000)")
    ap.add_argument("--no-noise", action="store_true", help="skip the 'BN + shift noise' variant")
    ap.add_argument("--data", choices=("fashion-mnist", "digits"), default="fashion-mnist",
                    help="dataset (digits: sklearn's 8x8 digits, for tests)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--out-dir", default=None, help="where bn_coupling.md/.png go (default docs/; quick: a temp dir)")
    args = ap.parse_args(argv)
    steps = args.steps if args.steps is not None else (300 if args.quick else Config.steps)
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else Config.seeds)
    if steps < 1 or seeds < 1:
        ap.error("--steps and --seeds must be at least 1")
    args.subset = args.subset if args.subset is not None else (5000 if args.quick else 0)
    if args.out_dir is None:
        args.out_dir = tempfile.mkdtemp(prefix="bn_coupling_") if args.quick else os.path.join(REPO, "docs")
    every = max(1, steps // 30)
    cfg = Config(steps=steps, lr=args.lr, seeds=seeds, eval_every=every, record_every=max(1, steps // 120),
                 probe_every=max(1, steps // 24),
                 variants=tuple(v for v in Variant if not (args.no_noise and v is Variant.NOISY)))
    return args, cfg


def main(argv: list[str] | None = None) -> None:
    args, cfg = parse_args(argv)
    started = time.perf_counter()
    import torch

    from zoomtune.nn import datasets

    torch.set_num_threads(args.threads)
    data = first_examples(datasets.fashion_mnist() if args.data == "fashion-mnist" else datasets.digits(),
                          args.subset)
    n_train = len(data.x_train)
    if data.x_val.shape[0] < cfg.record_size:
        cfg = replace(cfg, record_size=data.x_val.shape[0])
    results = run_all(data, cfg)
    name = "Fashion-MNIST" if args.data == "fashion-mnist" else "sklearn digits"
    text = report(cfg, results, name, n_train, time.perf_counter() - started)
    write_page(args.out_dir, "bn_coupling", text, "accuracy, sigmoid-input percentiles and smoothness vs steps",
               lambda path: plot(cfg, results, name, path), started)


if __name__ == "__main__":
    main()
