"""Per-trial orchestration overhead of zoomtune against Optuna (trivial objective, random sampler).

    python benchmarks/overhead.py                    # 1,000 and 10,000 trials, memory + SQLite (about 10 minutes)
    python benchmarks/overhead.py --quick            # 200 and 1,000 trials (smoke run, well under a minute)
    python benchmarks/overhead.py --trials 1000,10000 --max-seconds 240

The objective suggests four parameters (float linear, float log, int log, categorical) and
returns a cheap arithmetic value, so everything measured is the library's own cost: sampling,
bookkeeping and storage. Both libraries use their random sampler with seed 0.

Each cell (backend x trial count x library) runs in a fresh Python process, which first runs
a 20-trial warm-up study (imports, SQLAlchemy/SQLite set-up, lazy caches) and then times one
`optimize` call on a new study; SQLite cells use a new database file in a temporary
directory. Study creation is not counted.

Two SQLite rows show what durability costs per trial. "sqlite" is zoomtune's default
(`sqlite:///FILE`: WAL with synchronous=NORMAL, a told result survives a crash of the process but
not a power loss); "sqlite-full" is `sqlite:///FILE?synchronous=full` (an fsync per commit, so a
told result also survives a power loss). Optuna has no such switch: both of its rows use its
default SQLite set-up, a rollback journal with SQLite's default synchronous=FULL.

A callback stamps time.perf_counter() after each trial: ms/trial is the optimize() time
divided by the trials run, first100 is the time of trials 1-100 and last100 of the final 100
trials; last100/first100 near 1 means the per-trial cost does not grow with the study.

A cell that would take longer than --max-seconds (estimated from the previous, smaller trial
count of that cell, and enforced in any case with optimize's timeout) runs as many trials as
fit in that time and is marked "capped". Where a library's per-trial cost grows with the study,
a capped average understates what the full run would cost.

Goals (pass/fail in the table): on SQLite zoomtune needs >= 10x less time per trial than
Optuna, in memory >= 3x less, and zoomtune's last100/first100 must be <= 1.5.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit_result, fmt_ms, header, markdown_table, run_worker, use_repo_src

LIBS = ("zoomtune", "optuna")
BACKENDS = ("memory", "sqlite", "sqlite-full")
SPEED_GOAL = {"sqlite": 10.0, "sqlite-full": 10.0, "memory": 3.0}
FLAT_GOAL = 1.5
WINDOW = 100
WARMUP_TRIALS = 20
CATEGORIES = ["relu", "tanh", "gelu"]


# -- worker: one measurement in a fresh process ------------------------------------------------------
def _objective(trial):
    """One objective for both libraries (zoomtune takes Optuna's `log=True` as `scale="log"`)."""
    x = trial.suggest_float("x", -10.0, 10.0)
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    n = trial.suggest_int("n", 1, 100, log=True)
    c = trial.suggest_categorical("c", CATEGORIES)
    return x * x + lr * n + (0.5 if c == "relu" else 0.0)


def _make(lib: str, storage: str | None, name: str):
    """(study, objective, callback-maker) for one library."""
    if lib == "zoomtune":
        import zoomtune as zt

        study = zt.create_study(name, direction="minimize", storage=storage,
                                sampler=zt.samplers.RandomSampler(seed=0))
        return study, _objective
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, direction="minimize", storage=storage,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    return study, _objective


def storage_url(lib: str, backend: str, path: str) -> str | None:
    """The storage a cell uses: None (in memory), or a SQLite file at `path` with the backend's durability
    (zoomtune only: Optuna's SQLite is already synchronous=FULL and has no URL switch)."""
    if backend == "memory":
        return None
    full = backend == "sqlite-full" and lib == "zoomtune"
    return f"sqlite:///{path}" + ("?synchronous=full" if full else "")


def worker(lib: str, backend: str, n_trials: int, max_seconds: float) -> None:
    if lib == "zoomtune":
        use_repo_src()
    with tempfile.TemporaryDirectory(prefix=f"zt-overhead-{lib}-") as tmp:
        def url(name: str) -> str | None:
            return storage_url(lib, backend, os.path.join(tmp, name))

        warm, objective = _make(lib, url("warmup.db"), "warmup")
        warm.optimize(objective, n_trials=WARMUP_TRIALS)
        del warm

        t = time.perf_counter()
        study, objective = _make(lib, url("bench.db"), "bench")
        create_s = time.perf_counter() - t

        stamps: list[float] = []
        record = stamps.append
        perf = time.perf_counter

        def callback(_study, _trial) -> None:
            record(perf())

        t0 = time.perf_counter()
        study.optimize(objective, n_trials=n_trials, timeout=max_seconds, callbacks=[callback])
        total_s = time.perf_counter() - t0

    ran = len(stamps)
    first = stamps[WINDOW - 1] - t0 if ran >= WINDOW else None
    last = stamps[-1] - stamps[-WINDOW - 1] if ran >= 2 * WINDOW else None
    emit_result({"lib": lib, "backend": backend, "requested": n_trials, "ran": ran, "total_s": total_s,
                 "create_s": create_s, "first100_s": first, "last100_s": last})


# -- orchestration ---------------------------------------------------------------------------------------
def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 200 and 1,000 trials")
    ap.add_argument("--trials", default=None, help="comma-separated trial counts (default 1000,10000)")
    ap.add_argument("--max-seconds", type=float, default=240.0,
                    help="cap on one cell's optimize() time; longer cells run as many trials as fit (default 240)")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: " + ",".join(BACKENDS))
    ap.add_argument("--worker", nargs=4, metavar=("LIB", "BACKEND", "N", "MAX_SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return args
    text = args.trials or ("200,1000" if args.quick else "1000,10000")
    args.trial_counts = sorted({int(v.replace("_", "")) for v in text.split(",") if v.strip()})
    args.backend_list = [b.strip() for b in args.backends.split(",") if b.strip()]
    if min(args.trial_counts) < 1 or any(b not in BACKENDS for b in args.backend_list):
        ap.error("trial counts must be positive and backends among " + ",".join(BACKENDS))
    return args


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def _flat(r: dict) -> float | None:
    return _ratio(r["last100_s"], r["first100_s"])


def main() -> None:
    args = _parse()
    if args.worker:
        lib, backend, n, cap = args.worker
        worker(lib, backend, int(n), float(cap))
        return

    use_repo_src()
    print(header("zoomtune vs Optuna: per-trial orchestration overhead", "zoomtune", "optuna"))
    print(f"random sampler seed 0, trivial 4-parameter objective, cap {args.max_seconds:g} s per cell, "
          f"one fresh process per cell\n", flush=True)

    started = time.perf_counter()
    results: dict[tuple[str, int, str], dict] = {}
    per_trial_est: dict[tuple[str, str], float] = {}  # (backend, lib) -> s/trial of the last (largest) run
    for backend in args.backend_list:
        for n in args.trial_counts:
            for lib in LIBS:
                est = per_trial_est.get((backend, lib))
                note = ""
                if est is not None and est * n > args.max_seconds:
                    note = (f"  (estimated {est * n:.0f} s > cap {args.max_seconds:g} s: "
                            f"stopping after {args.max_seconds:g} s)")
                print(f"  {backend:11s} {n:>7,} trials  {lib:8s} ...{note}", end="", flush=True)
                r = run_worker([os.path.abspath(__file__), "--worker", lib, backend, str(n), str(args.max_seconds)],
                               timeout=args.max_seconds * 3 + 120)
                r["capped"] = r["ran"] < n
                results[(backend, n, lib)] = r
                per_trial_est[(backend, lib)] = r["total_s"] / max(r["ran"], 1)
                flat = _flat(r)
                per = fmt_ms(r["total_s"] / max(r["ran"], 1))
                print(f" {r['ran']:,} trials in {r['total_s']:.2f} s = {per} ms/trial"
                      f", last100/first100 {'-' if flat is None else f'{flat:.2f}'}"
                      f"{'  CAPPED' if r['capped'] else ''}", flush=True)

    rows, verdicts, capped_any = [], [], False
    for backend in args.backend_list:
        for n in args.trial_counts:
            z, o = results[(backend, n, "zoomtune")], results[(backend, n, "optuna")]
            z_ms, o_ms = z["total_s"] / max(z["ran"], 1), o["total_s"] / max(o["ran"], 1)

            def ms_cell(r: dict, per: float) -> str:
                return fmt_ms(per) + (f" (ran {r['ran']:,}, capped)" if r["capped"] else "")

            speed = _ratio(o_ms, z_ms)
            zf, of = _flat(z), _flat(o)
            speed_ok = speed is not None and speed >= SPEED_GOAL[backend]
            flat_ok = zf is not None and zf <= FLAT_GOAL
            verdicts += [speed_ok] + ([flat_ok] if zf is not None else [])
            capped_any |= z["capped"] or o["capped"]
            rows.append([
                backend, f"{n:,}", ms_cell(z, z_ms), ms_cell(o, o_ms),
                "-" if speed is None else f"{speed:.1f}x",
                "-" if zf is None else f"{zf:.2f}", "-" if of is None else f"{of:.2f}",
                f"{'PASS' if speed_ok else 'FAIL'} (>= {SPEED_GOAL[backend]:g}x)",
                f"{'PASS' if flat_ok else 'FAIL'} (<= {FLAT_GOAL:g})" if zf is not None
                else f"n/a (< {2 * WINDOW} trials)",
            ])

    print()
    print(markdown_table(
        ["backend", "trials", "zoomtune ms/trial", "optuna ms/trial", "optuna/zoomtune",
         "zoomtune last100/first100", "optuna last100/first100", "speed goal", "flat goal"],
        rows, align="lr" + "r" * 5 + "ll"))
    print()
    if capped_any:
        print(f"capped: that library ran only the trials that fit in --max-seconds {args.max_seconds:g}; its "
              "ms/trial and last100/first100 cover those trials only (if its cost grows per trial, the full run "
              "would be slower).")
    print("ms/trial = optimize() wall time / trials run (study creation excluded); last100/first100 = time of the "
          f"final {WINDOW} trials / time of the first {WINDOW} (after a {WARMUP_TRIALS}-trial warm-up study).")
    if {"sqlite", "sqlite-full"} <= set(args.backend_list):
        for n in args.trial_counts:
            normal, full = (results[(b, n, "zoomtune")] for b in ("sqlite", "sqlite-full"))
            normal_s, full_s = (r["total_s"] / max(r["ran"], 1) for r in (normal, full))
            print(f"durability at {n:,} trials: zoomtune with synchronous=full costs {fmt_ms(full_s - normal_s)} ms "
                  f"more per trial than the default NORMAL ({full_s / normal_s:.1f}x).")
    print(f"goals: {sum(verdicts)}/{len(verdicts)} met -> {'ALL PASS' if all(verdicts) else 'SOME FAIL'}")
    print(f"total benchmark time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
