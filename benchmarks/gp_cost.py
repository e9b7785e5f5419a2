"""Seconds per GPSampler suggestion against the number of finished trials.

    python benchmarks/gp_cost.py                      # 20, 100, 300, 1,000 trials, 3 suggestions each
    python benchmarks/gp_cost.py --trials 20,300 --repeats 5

The history is synthetic: uniform random points of the sampler conformance suite's 5-D space
(log and log1m floats, a log int, an int and a 3-way categorical) valued by its bowl objective,
built once per row. Each suggestion is one `GPSampler.sample` call on a fresh sampler (so no fit
is reused), timed with time.perf_counter; the table gives the median and the worst wall-clock
time, and the median CPU time of the process (wall >> CPU means the cores were busy elsewhere). Storage is
not involved: this is the sampler's own cost. Goal: median under 1 s at 300 and at 1,000 trials.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import use_repo_src

use_repo_src()

import numpy as np  # noqa: E402

from zoomtune.records import Direction, TrialRecord  # noqa: E402
from zoomtune.samplers import GPSampler, SampleContext  # noqa: E402
from zoomtune.testing.sampler_suite import SPACE, bowl, random_history  # noqa: E402


def history(n: int, seed: int = 0) -> list[TrialRecord]:
    return random_history(SPACE, n, bowl, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", default="20,100,300,1000", help="comma-separated history sizes")
    parser.add_argument("--repeats", type=int, default=3, help="suggestions timed per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.trials.split(",")]
    # warm-up: imports (scipy.optimize, scipy.stats) and first-call costs are not counted
    warm = history(15)
    GPSampler(seed=0).sample(SPACE, SampleContext(15, Direction.MINIMIZE, SPACE, lambda: warm))
    print(f"GPSampler seconds per suggestion, {len(SPACE)}-D mixed space, {os.cpu_count()} CPUs, "
          f"numpy {np.__version__}")
    print(f"| {'trials':>7} | {'median s':>9} | {'max s':>7} | {'cpu s':>7} | {'modelled':>8} |")
    print(f"|{'-' * 9}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 10}|")
    for n in sizes:
        trials = history(n)
        times, cpu = [], []
        for r in range(args.repeats):
            sampler = GPSampler(seed=r)
            context = SampleContext(n + r, Direction.MINIMIZE, SPACE, lambda trials=trials: trials)
            start, start_cpu = time.perf_counter(), time.process_time()
            point = sampler.sample(SPACE, context)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            assert len(point) == len(SPACE)
        modelled = min(n, GPSampler().max_history)
        print(f"| {n:>7} | {statistics.median(times):>9.3f} | {max(times):>7.3f} | {statistics.median(cpu):>7.3f} "
              f"| {modelled:>8} |")


if __name__ == "__main__":
    main()
