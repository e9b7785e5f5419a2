"""Forward+backward speed of zoomtune's batch norm against torch.nn.BatchNorm1d/2d, as ratios.

    python benchmarks/bn_speed.py                   # CPU, all shapes, float32 and float64, both malloc settings
    python benchmarks/bn_speed.py --quick           # fewer repetitions
    python benchmarks/bn_speed.py --device cuda     # on a GPU machine
    python benchmarks/bn_speed.py --no-compile      # skip the torch.compile rows

Training mode.  Each shape runs every variant (torch native, ours, ours with Backend.EAGER,
native BN + ReLU, our fused BatchNormReLU) once per repetition, in alternating order
(interleaved), so slow phases of a shared machine hit all variants alike; the tables give
medians and ours/native ratios of medians (< 1 means ours is faster).  Gradients are taken with
torch.autograd.grad w.r.t. input, weight and bias (no .grad accumulation).

The whole table is measured twice, each time in a fresh worker process: once under glibc's
default malloc thresholds (what users get), once with MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_ raised, so activation-sized temporaries are not returned to the OS and
page-faulted back in on every call (affects native and ours alike).

The torch.compile rows (default malloc worker only) time a steady-state training step (forward,
cross-entropy, backward, SGD step) of an MLP and a ConvNet built with our layers against the same
network with torch.nn.BatchNorm1d/2d + ReLU in their place; compile time is excluded (each model
is compiled and warmed up before timing), and so is the eager step of both, for reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import _common

_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)}
SHAPES = [(32, 64), (64, 128), (256, 1024), (4096, 256), (64, 64, 32, 32), (128, 32, 28, 28), (8, 256, 56, 56)]
DTYPES = ("float32", "float64")
VARIANTS = ("native", "ours", "ours eager", "native+relu", "ours fused")


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--budget", type=float, default=None, help="seconds of timing per shape (default 4, quick 1.5)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    ap.add_argument("--worker", choices=("default", "raised"), help=argparse.SUPPRESS)
    return ap.parse_args()


def _interleaved(fns: list[Callable[[], None]], budget: float, sync: Callable[[], None]) -> tuple[int, list[float]]:
    """(repetitions, median seconds of each fn); each repetition runs every fn once, order alternating."""
    for f in fns:  # warm-up
        for _ in range(3):
            f()
    sync()
    t0 = time.perf_counter()
    for f in fns:
        f()
    sync()
    reps = int(min(400, max(15, budget / max(time.perf_counter() - t0, 1e-6))))
    times: list[list[float]] = [[] for _ in fns]
    for r in range(reps):
        for i in (range(len(fns)) if r % 2 == 0 else range(len(fns) - 1, -1, -1)):
            sync()
            t = time.perf_counter()
            fns[i]()
            sync()
            times[i].append(time.perf_counter() - t)
    return reps, [statistics.median(t) for t in times]


def _layer_rows(args: argparse.Namespace, sync: Callable[[], None]) -> list[dict[str, Any]]:
    import torch
    import torch.nn.functional as F

    from zoomtune.nn import BatchNorm1d, BatchNorm2d, BatchNormReLU1d, BatchNormReLU2d

    device = torch.device(args.device)
    budget = args.budget or (1.5 if args.quick else 4.0)
    rows = []
    for dtype_name in DTYPES:
        dtype = getattr(torch, dtype_name)
        for shape in SHAPES:
            torch.manual_seed(0)
            c, two_d = shape[1], len(shape) == 4
            x = (torch.randn(*shape, device=device, dtype=dtype) * 2 + 0.5).requires_grad_()
            dy = torch.randn(*shape, device=device, dtype=dtype)
            make = {"native": (torch.nn.BatchNorm2d if two_d else torch.nn.BatchNorm1d),
                    "ours": (BatchNorm2d if two_d else BatchNorm1d),
                    "fused": (BatchNormReLU2d if two_d else BatchNormReLU1d)}
            native = make["native"](c, device=device, dtype=dtype)
            modules = [native, make["ours"](c, device=device, dtype=dtype),
                       make["ours"](c, backend="eager", device=device, dtype=dtype), native,
                       make["fused"](c, device=device, dtype=dtype)]
            relu_after = [False, False, False, True, False]

            def step(mod: Any, relu: bool, x: Any = x, dy: Any = dy) -> Callable[[], None]:
                def run() -> None:
                    out = mod(x)
                    torch.autograd.grad(F.relu(out) if relu else out, (x, mod.weight, mod.bias), dy)
                return run

            reps, med = _interleaved([step(m, r) for m, r in zip(modules, relu_after, strict=True)], budget, sync)
            rows.append({"dtype": dtype_name, "shape": list(shape), "reps": reps, **dict(zip(VARIANTS, med,
                                                                                              strict=True))})
            print(f"  {dtype_name} {shape}: ours/native {med[1] / med[0]:.2f}, fused/native+relu "
                  f"{med[4] / med[3]:.2f} ({reps} reps)", file=sys.stderr, flush=True)
    return rows


def _native_twin(model: Any) -> Any:
    """A deep copy of `model` with each of our batch-norm layers replaced by torch's (+ ReLU when fused)."""
    import copy

    import torch

    from zoomtune.nn import BatchNorm1d, BatchNorm2d

    twin = copy.deepcopy(model)
    for name, child in list(twin.named_children()):
        if isinstance(child, (BatchNorm1d, BatchNorm2d)):
            native = (torch.nn.BatchNorm2d if isinstance(child, BatchNorm2d) else torch.nn.BatchNorm1d)(
                child.num_features, eps=child.eps, momentum=child.momentum)
            native.load_state_dict(child.state_dict())
            setattr(twin, name, torch.nn.Sequential(native, torch.nn.ReLU()) if child.activation == "relu"
                    else native)
    return twin


def _compile_rows(args: argparse.Namespace, sync: Callable[[], None]) -> list[dict[str, Any]]:
    import torch
    import torch.nn.functional as F

    from zoomtune.nn import MLP, ConvNet

    device = torch.device(args.device)
    budget = 2 * (args.budget or (1.5 if args.quick else 4.0))
    torch.manual_seed(0)
    cases = [("MLP 784-256-256-10, batch 128", MLP(784, [256, 256], 10), torch.randn(128, 784)),
             ("ConvNet 1-32-64 28x28, batch 64", ConvNet(1, 10, (32, 64), size=28), torch.randn(64, 1, 28, 28))]
    rows = []
    for label, ours, x in cases:
        x, y = x.to(device), torch.randint(0, 10, (x.shape[0],), device=device)
        native = _native_twin(ours)
        models = {"ours eager": ours, "native eager": native,
                  "ours compiled": torch.compile(ours), "native compiled": torch.compile(native)}

        def step(model: Any, x: Any = x, y: Any = y) -> Callable[[], None]:
            params = list(model.parameters())

            def run() -> None:
                loss = F.cross_entropy(model(x), y)
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    torch._foreach_add_(params, grads, alpha=-1e-3)
            return run

        fns = [step(m) for m in models.values()]
        t0 = time.perf_counter()
        for f in fns:  # compiles (excluded from the timing)
            f()
        sync()
        compile_s = time.perf_counter() - t0
        reps, med = _interleaved(fns, budget, sync)
        rows.append({"model": label, "reps": reps, "compile_s": compile_s, **dict(zip(models, med, strict=True))})
        print(f"  {label}: compiled ours/native {med[2] / med[3]:.2f}", file=sys.stderr, flush=True)
    return rows


def _worker(args: argparse.Namespace) -> None:
    _common.use_repo_src()
    import torch

    from zoomtune.nn import _bn_kernels

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    _bn_kernels.get()
    info = _bn_kernels.info()
    setup = {"malloc": ", ".join(f"{k}={os.environ[k]}" for k in _MALLOC if k in os.environ) or "glibc defaults",
             "threads": torch.get_num_threads(), "capability": torch.backends.cpu.get_cpu_capability(),
             "kernels": f"loaded={info['loaded']}, build/load {time.perf_counter() - t0:.2f} s, error {info['error']}",
             "device": torch.cuda.get_device_name() if cuda else "cpu"}
    print(f"worker ({setup['malloc']}):", file=sys.stderr, flush=True)
    layers = _layer_rows(args, sync)
    compiled = [] if args.no_compile or args.worker != "default" else _compile_rows(args, sync)
    _common.emit_result({"setup": setup, "layers": layers, "compiled": compiled})


def _run_worker(args: argparse.Namespace, which: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in _MALLOC}
    if which == "raised":
        env.update(_MALLOC)
    argv = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--worker", which]
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True, check=False)
    for line in reversed(proc.stdout.splitlines()):
        result = _common.parse_result(line)
        if result is not None:
            return result
    raise RuntimeError(f"bn_speed worker ({which} malloc) exited {proc.returncode}:\n{proc.stdout[-2000:]}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def _layer_table(layers: list[dict[str, Any]]) -> str:
    rows = [[r["dtype"], "(" + ", ".join(map(str, r["shape"])) + ")", r["reps"], _ms(r["native"]), _ms(r["ours"]),
             f"{r['ours'] / r['native']:.2f}", f"{r['ours eager'] / r['native']:.2f}", _ms(r["native+relu"]),
             _ms(r["ours fused"]), f"{r['ours fused'] / r['native+relu']:.2f}"] for r in layers]
    return _common.markdown_table(["dtype", "input", "reps", "native ms", "ours ms", "ours/native", "eager/native",
                                   "native+ReLU ms", "fused ms", "fused/native+ReLU"], rows, "llrrrrrrrr")


def _compile_table(compiled: list[dict[str, Any]]) -> str:
    rows = [[r["model"], r["reps"], _ms(r["native eager"]), _ms(r["ours eager"]),
             f"{r['ours eager'] / r['native eager']:.2f}", _ms(r["native compiled"]), _ms(r["ours compiled"]),
             f"{r['ours compiled'] / r['native compiled']:.2f}", f"{r['compile_s']:.0f}"] for r in compiled]
    return _common.markdown_table(["training step", "reps", "native eager ms", "ours eager ms", "ours/native",
                                   "native compiled ms", "ours compiled ms", "ours/native compiled",
                                   "compile s (all four)"], rows, "lrrrrrrrr")


def main() -> None:
    args = _parse()
    if args.worker:
        _worker(args)
        return
    print(_common.header("bn_speed: zoomtune batch norm vs torch native, forward + backward", "torch"))
    for which in ("default", "raised"):
        result = _run_worker(args, which)
        setup = result["setup"]
        print(f"## malloc: {setup['malloc']}\n\ndevice {setup['device']}, intra-op threads {setup['threads']}, "
              f"cpu capability {setup['capability']}, fused CPU kernels {setup['kernels']}\n")
        print("median ms per forward + backward; ratio < 1 means ours is faster\n")
        print(_layer_table(result["layers"]) + "\n")
        worst = max(result["layers"], key=lambda r: max(r["ours"] / r["native"], r["ours fused"] / r["native+relu"]))
        print(f"worst: {worst['dtype']} {tuple(worst['shape'])}: ours/native {worst['ours'] / worst['native']:.2f}, "
              f"fused/native+ReLU {worst['ours fused'] / worst['native+relu']:.2f}\n")
        if result["compiled"]:
            print("torch.compile, steady-state training step (median ms; compile time excluded)\n")
            print(_compile_table(result["compiled"]) + "\n")


if __name__ == "__main__":
    main()
