"""Forward+backward speed of zoomtune's batch norm against torch.nn.BatchNorm1d/2d.

    python benchmarks/bn_speed.py                 # CPU, default shapes, ~1 minute
    python benchmarks/bn_speed.py --device cuda   # on a GPU machine
    python benchmarks/bn_speed.py --quick         # fewer repetitions

Training mode, float32.  Each repetition times every variant once, in alternating
order (interleaved), so slow phases of a shared machine hit all variants alike; the
table gives median and 10th-percentile times in ms and ours/native ratios (< 1 means
ours is faster).  Gradients are taken with torch.autograd.grad w.r.t. input, weight and
bias (no .grad accumulation).

On glibc, activation-sized temporaries are returned to the OS and page-faulted back in
on every call under the default malloc thresholds; unless --default-malloc is given the
script re-executes itself with MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ raised
(affects native and ours alike) and prints what was used.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)}


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--default-malloc", action="store_true",
                    help="keep glibc's default malloc thresholds")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timing per shape (default 6, quick 2)")
    return ap.parse_args()


def main() -> None:
    args = _parse()
    if (not args.default_malloc and sys.platform.startswith("linux")
            and any(k not in os.environ for k in _MALLOC)):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**_MALLOC, **os.environ})

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, os.pardir, "src"))
    import torch
    import torch.nn.functional as F

    from zoomtune.nn import BatchNorm1d, BatchNorm2d, BatchNormReLU1d, BatchNormReLU2d
    from zoomtune.nn import _bn_kernels

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    budget = args.budget or (2.0 if args.quick else 6.0)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if cuda else "")
          + f", intra-op threads {torch.get_num_threads()}, cpu capability "
            f"{torch.backends.cpu.get_cpu_capability()}")
    print("malloc: " + (", ".join(f"{k}={os.environ[k]}" for k in _MALLOC if k in os.environ)
                        or "glibc defaults"))
    if not cuda:
        t0 = time.perf_counter()
        _bn_kernels.get()
        info = _bn_kernels.info()
        print(f"fused CPU kernels: loaded={info['loaded']}, one-time build/load "
              f"{time.perf_counter() - t0:.2f} s (cached .so after the first build), "
              f"error: {info['error']}")

    shapes = [(256, 1024), (4096, 256), (64, 64, 32, 32), (128, 32, 28, 28)]
    rows = []
    for shape in shapes:
        torch.manual_seed(0)
        c, two_d = shape[1], len(shape) == 4
        x = (torch.randn(*shape, device=device) * 2 + 0.5).requires_grad_()
        dy = torch.randn(*shape, device=device)
        native = (torch.nn.BatchNorm2d if two_d else torch.nn.BatchNorm1d)(c).to(device)
        ours = (BatchNorm2d if two_d else BatchNorm1d)(c).to(device)
        ours_eager = (BatchNorm2d if two_d else BatchNorm1d)(c, backend="eager").to(device)
        ours_relu = (BatchNormReLU2d if two_d else BatchNormReLU1d)(c).to(device)

        def step(fn, mod):
            def run():
                y = fn(mod, x)
                torch.autograd.grad(y, (x, mod.weight, mod.bias), dy)
            return run

        variants = {
            "native": step(lambda m, t: m(t), native),
            "ours": step(lambda m, t: m(t), ours),
            "ours eager": step(lambda m, t: m(t), ours_eager),
            "native+relu": step(lambda m, t: F.relu(m(t)), native),
            "ours fused": step(lambda m, t: m(t), ours_relu),
        }
        fns = list(variants.values())
        for f in fns:  # warm-up; also gives a per-rep cost estimate
            for _ in range(3):
                f()
        sync()
        t0 = time.perf_counter()
        for f in fns:
            f()
        sync()
        per_rep = time.perf_counter() - t0
        reps = int(min(400, max(15, budget / max(per_rep, 1e-6))))
        times = [[] for _ in fns]
        for r in range(reps):
            order = range(len(fns)) if r % 2 == 0 else range(len(fns) - 1, -1, -1)
            for i in order:
                sync()
                t = time.perf_counter()
                fns[i]()
                sync()
                times[i].append(time.perf_counter() - t)
        med = {k: statistics.median(t) * 1e3 for k, t in zip(variants, times)}
        p10 = {k: statistics.quantiles(t, n=10)[0] * 1e3 for k, t in zip(variants, times)}
        rows.append((shape, reps, med, p10))

    hdr = (f"{'input':<18}{'reps':>5} | {'native':>15} {'ours':>15} {'ours eager':>15} | "
           f"{'ours/nat':>8} {'eager/nat':>9} || {'nat+relu':>15} {'ours fused':>15} | "
           f"{'fused/nat':>9}")
    print("\ntimes in ms as median (p10); ratios of medians (p10 ratio in brackets)")
    print(hdr)
    print("-" * len(hdr))
    for shape, reps, med, p10 in rows:
        def cell(k):
            return f"{med[k]:7.3f} ({p10[k]:5.3f})"

        def ratio(a, b):
            return f"{med[a] / med[b]:.2f}[{p10[a] / p10[b]:.2f}]"

        print(f"{str(shape):<18}{reps:>5} | {cell('native')} {cell('ours')} "
              f"{cell('ours eager')} | {ratio('ours', 'native'):>8} "
              f"{ratio('ours eager', 'native'):>9} || {cell('native+relu')} "
              f"{cell('ours fused')} | {ratio('ours fused', 'native+relu'):>9}")


if __name__ == "__main__":
    main()
