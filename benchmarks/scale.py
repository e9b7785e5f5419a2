"""Scale: a study of 100,000 trials x 20 reports, and 32 worker processes on one study.

    python benchmarks/scale.py             # 100,000 trials; 32 workers on SQLite and PostgreSQL; Optuna at 2,000
                                           # trials; writes docs/scale.md (about 15 minutes on a quiet 2-core machine)
    python benchmarks/scale.py --quick     # 2,000 trials; 8 workers, SQLite only; no Optuna; writes nothing
    python benchmarks/scale.py --trials 20000 --no-postgres --output /tmp/scale.md
    python benchmarks/scale.py --only peer --peer-trials 5000    # one section: study, workers or peer

Growth (SQLite, one database file in a temporary directory). The study is grown in --stages
equal steps to --trials. A long-lived "runner" process opens the study once, as `zoomtune run`
would, and at each step runs --stage-trials real trials with `study.optimize` (default random
sampler, no scheduler; the objective suggests four parameters, reports 20 intermediate values
and returns); just before it does, this process fills the study up to the step through the
public Storage API (`create_trial` then one `update_trial` with the params, the 20 values and
the final state, i.e. two commits per trial, every 97th trial FAILED with an error message).
After each step the runner gives its resident memory (VmRSS) and its peak so far (VmHWM): the
goal is that the runner's peak at the last step is within 10% of its peak at the first, i.e. the
memory of a run does not grow with the study.

Reading the full study: `zoomtune status`, `zoomtune status STUDY` and `zoomtune report STUDY -o
FILE` each run as a fresh `python -m zoomtune` process (the two status commands 3 times in a full
run: median wall and CPU time, highest peak RSS from wait4; the report once). Goal: `zoomtune
status STUDY` under 2 s. The dashboard runs as `python -m zoomtune dashboard` on 127.0.0.1; its
first screen is what the page fetches first (GET /, then /api/config and /api/studies: the
studies list), timed with urllib once the server answers; the study page (/api/study) is timed
cold (its first request) and warm (the next one); the server's peak RSS is read from /proc after
those calls.

Workers (a sleeping objective, time.sleep(0.05), so 2 cores suffice): one `optimize(n_trials=N,
n_jobs=--workers)` call forks the worker processes, which draw from one shared trial budget, on
one SQLite file and on one PostgreSQL database (a throw-away server from tests/pg_server.py).
Each cell runs in a fresh process. Goals: exactly N trials, numbers 0..N-1 each once, all COMPLETE;
throughput is N / wall seconds of the optimize call, against the ideal workers / sleep.

Peer (Optuna 5, its RDB storage on SQLite with its defaults, random sampler): the same shape at
--peer-trials trials (default 2,000, since Optuna's `add_trial` costs about 40 ms a trial, so
100,000 would take over an hour to build). Each library, in a fresh process, builds the study
through its public API (zoomtune as above; Optuna one `add_trial(create_trial(params,
distributions, value, intermediate_values))` per trial), then runs --peer-trials / 20 real trials
of the same objective with optimize; then a second fresh process loads the study and reads every
trial (`study.trials`), and gives the seconds, the memory that read added and its peak RSS. The
table's last column is zoomtune / optuna: below 1, zoomtune costs less.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from enum import Enum
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (
    SRC,
    emit_result,
    header,
    markdown_table,
    measure_process,
    memory_of,
    next_result,
    run_worker,
    use_repo_src,
)

STUDY = "scale"
FAILED_EVERY = 97
FLAT_GOAL = 1.10  # runner peak at the last step / at the first
STATUS_GOAL_S = 2.0
PEER_TRIALS = 2_000  # Optuna builds ~40 ms/trial through its API: 100,000 would take over an hour
REPO = os.path.dirname(SRC)
DOCS = os.path.join(REPO, "docs", "scale.md")
BEGIN, END = "<!-- benchmarks/scale.py writes from here -->", "<!-- to here -->"


@dataclass(frozen=True)
class Sizes:
    """How big a run is."""

    trials: int
    reports: int
    stages: int
    stage_trials: int
    workers: int
    worker_trials: int
    sleep: float
    repeats: int


FULL = Sizes(trials=100_000, reports=20, stages=10, stage_trials=300, workers=32, worker_trials=1_000, sleep=0.05,
             repeats=3)
QUICK = Sizes(trials=2_000, reports=20, stages=4, stage_trials=50, workers=8, worker_trials=80, sleep=0.05,
              repeats=1)


# -- the objective and the bulk fill --------------------------------------------------------------
def space() -> dict[str, Any]:
    """The four parameters every trial has (float linear, float log, int log, categorical)."""
    import zoomtune as zt

    return {"x": zt.Float(-10.0, 10.0), "lr": zt.Float(1e-4, 1.0, scale="log"), "n": zt.Int(1, 100, scale="log"),
            "c": zt.Categorical(("relu", "tanh", "gelu"))}


def make_objective(reports: int) -> Any:
    """An objective as a training loop: four suggestions, `reports` intermediate values, the last one returned."""
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -10.0, 10.0)
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        n = trial.suggest_int("n", 1, 100, log=True)
        c = trial.suggest_categorical("c", ["relu", "tanh", "gelu"])
        value = x * x + lr * n + (0.5 if c == "relu" else 0.0)
        for step in range(reports):
            value = value * 0.95 + 1.0 / (1 + step)
            trial.report(value, step=step)
        return value

    return objective


def fill(storage: Any, study_id: int, start: int, stop: int, reports: int, seed: int) -> None:
    """Add trials `start`..`stop - 1` through the public Storage API: two commits per trial."""
    from zoomtune.records import FailureCause, TrialState

    dists = space()
    rng = random.Random(seed)
    for number in range(start, stop):
        record = storage.create_trial(study_id, TrialState.RUNNING)
        params = {name: (d, d.from_unit(rng.random())) for name, d in dists.items()}
        curve = {step: 10.0 * rng.random() / (1 + step) for step in range(reports)}
        if number % FAILED_EVERY == FAILED_EVERY - 1:
            storage.update_trial(record.trial_id, params=params, values=curve, state=TrialState.FAILED,
                                 error="ValueError: loss is NaN", cause=FailureCause.ERROR)
        else:
            storage.update_trial(record.trial_id, params=params, values=curve, state=TrialState.COMPLETE,
                                 value=curve[reports - 1])


# -- the runner: a long-lived process that runs real trials on the growing study ----------------------
def runner(url: str, reports: int, seconds: float) -> None:
    """Open the study once; for each line `K` on stdin run K real trials and emit time and memory."""
    use_repo_src()
    import zoomtune as zt

    study = zt.load_study(STUDY, storage=url)
    objective = make_objective(reports)
    done: list[int] = []

    def count(_study: Any, record: Any) -> None:
        done.append(record.number)

    emit_result({"ready": True, **vars(memory_of())})
    for line in sys.stdin:
        before, started = len(done), time.perf_counter()
        study.optimize(objective, n_trials=int(line), timeout=seconds, callbacks=[count])
        emit_result({"ran": len(done) - before, "seconds": time.perf_counter() - started, **vars(memory_of())})


@dataclass(frozen=True)
class Step:
    """One growth step: study size after it, the runner's real trials and its memory."""

    trials: int
    ran: int
    ms_per_trial: float
    fill_s: float
    rss_mb: float
    peak_mb: float


def grow(url: str, sizes: Sizes, stage_seconds: float) -> tuple[list[Step], float]:
    """The growth section: the steps, and the runner's peak before its first trial."""
    use_repo_src()
    import zoomtune as zt

    study = zt.create_study(STUDY, storage=url, direction="minimize")
    storage, study_id = study.storage, study.study_id
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--runner", url, str(sizes.reports),
                             str(stage_seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    steps: list[Step] = []
    try:
        start_peak = next_result(proc.stdout)["peak_mb"]
        size = 0
        for stage in range(1, sizes.stages + 1):
            target = sizes.trials * stage // sizes.stages
            bulk_to = max(size, target - sizes.stage_trials)
            t = time.perf_counter()
            fill(storage, study_id, size, bulk_to, sizes.reports, seed=stage)
            fill_s = time.perf_counter() - t
            proc.stdin.write(f"{target - bulk_to}\n")
            proc.stdin.flush()
            r = next_result(proc.stdout)
            filled, size = bulk_to - size, bulk_to + r["ran"]
            steps.append(Step(size, r["ran"], r["seconds"] / max(r["ran"], 1) * 1e3, fill_s, r["rss_mb"],
                              r["peak_mb"]))
            print(f"  step {stage}/{sizes.stages}: {size:,} trials (filled {filled:,} in {fill_s:.0f} s), runner "
                  f"ran {r['ran']} at {steps[-1].ms_per_trial:.1f} ms/trial, RSS {r['rss_mb']:.0f} MB, "
                  f"peak {r['peak_mb']:.0f} MB", flush=True)
    finally:
        proc.stdin.close()
        proc.wait(timeout=120)
        storage.close()
    return steps, start_peak


# -- reading the full study ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    """One read-side measurement."""

    what: str
    wall_s: float
    cpu_s: float | None
    peak_mb: float | None
    size: str = ""

    def fast(self) -> bool:
        """It answered, within the status goal."""
        return self.wall_s < STATUS_GOAL_S and not self.size.startswith("exit")


def cli_env() -> dict[str, str]:
    """The environment for `python -m zoomtune`: this checkout's src first, no colour, a wide terminal."""
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "NO_COLOR": "1",
            "COLUMNS": "200"}


def read_cli(url: str, tmp: str, repeats: int) -> list[Reading]:
    """`zoomtune status`, `zoomtune status STUDY` and `zoomtune report STUDY` as fresh processes."""
    report = os.path.join(tmp, "report.html")
    commands = {"zoomtune status": ["status"], f"zoomtune status {STUDY}": ["status", STUDY],
                f"zoomtune report {STUDY}": ["report", STUDY, "-o", report]}
    out = []
    for what, args in commands.items():
        runs = 1 if args[0] == "report" else repeats  # the report is slow enough to time once
        costs = [measure_process([sys.executable, "-m", "zoomtune", *args, "--storage", url], env=cli_env(),
                                 timeout=1800) for _ in range(runs)]
        failed = next((c for c in costs if c.returncode != 0), None)
        if failed is not None:  # recorded, not raised: a timed-out report must not lose the other numbers
            print(failed.output[-2000:])
            size = f"exit {failed.returncode}"
        elif "report" in what:
            size = f"{os.path.getsize(report) / 1e6:.1f} MB"
        else:
            size = f"{len(costs[-1].output):,} chars"
        out.append(Reading(what, statistics.median(c.wall_s for c in costs), statistics.median(c.cpu_s for c in costs),
                           max(c.peak_mb for c in costs), size))
        print(f"  {what}: {out[-1].wall_s:.2f} s (CPU {out[-1].cpu_s:.2f} s), peak {out[-1].peak_mb:.0f} MB ({size})",
              flush=True)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(base: str, path: str) -> tuple[float, int]:
    """Seconds and bytes of one GET."""
    started = time.perf_counter()
    with urllib.request.urlopen(base + path, timeout=1800) as response:
        body = response.read()
    return time.perf_counter() - started, len(body)


def read_dashboard(url: str) -> list[Reading]:
    """The dashboard's first screen and study page, from a fresh server process."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "zoomtune", "dashboard", "--storage", url, "--port", str(port)],
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:  # until the server answers (it warms its cache in a background thread meanwhile)
            if proc.poll() is not None:
                raise RuntimeError(f"the dashboard exited {proc.returncode}")
            try:
                _get(base, "/api/config")
                break
            except OSError:
                time.sleep(0.05)
        ready = time.perf_counter() - started
        first = [_get(base, path) for path in ("/", "/api/config", "/api/studies")]
        cold = _get(base, f"/api/study?name={STUDY}")
        warm = _get(base, f"/api/study?name={STUDY}")
        peak = memory_of(proc.pid).peak_mb
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    readings = [Reading("dashboard: server answers (from launch)", ready, None, None),
                Reading("dashboard: first screen (/, /api/config, /api/studies)", sum(s for s, _ in first), None, None,
                        f"{sum(n for _, n in first) / 1e3:.0f} kB"),
                Reading("dashboard: study page, first /api/study", cold[0], None, None, f"{cold[1] / 1e6:.1f} MB"),
                Reading("dashboard: study page again (cached)", warm[0], None, peak, f"{warm[1] / 1e6:.1f} MB")]
    for r in readings:
        print(f"  {r.what}: {r.wall_s:.2f} s" + (f", server peak {r.peak_mb:.0f} MB" if r.peak_mb else ""), flush=True)
    return readings


# -- many workers on one study ---------------------------------------------------------------------------
def workers_cell(url: str, workers: int, n_trials: int, sleep: float) -> None:
    """Fresh-process cell: N trials through `workers` forked processes; emit wall time and what was stored."""
    use_repo_src()
    import zoomtune as zt

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -10.0, 10.0)
        time.sleep(sleep)
        return x * x

    study = zt.create_study("workers", storage=url, direction="minimize")
    started = time.perf_counter()
    study.optimize(objective, n_trials=n_trials, n_jobs=workers)
    wall = time.perf_counter() - started
    trials = study.trials
    emit_result({"wall_s": wall, "numbers": [t.number for t in trials],
                 "states": sorted({t.state.value for t in trials})})


@dataclass(frozen=True)
class WorkersRow:
    """One workers cell's outcome."""

    storage: str
    stored: int
    unique: int
    states: list[str]
    wall_s: float

    def exact(self, wanted: int) -> bool:
        """Exactly `wanted` trials, numbered 0..wanted-1, every one COMPLETE."""
        return self.stored == wanted == self.unique and self.states == ["COMPLETE"]


def run_workers(kind: str, url: str, sizes: Sizes) -> WorkersRow:
    r = run_worker([os.path.abspath(__file__), "--workers-cell", url, str(sizes.workers), str(sizes.worker_trials),
                    str(sizes.sleep)], timeout=900)
    numbers = r["numbers"]
    row = WorkersRow(kind, len(numbers), len(set(numbers) & set(range(sizes.worker_trials))), r["states"],
                     r["wall_s"])
    print(f"  {kind}: {row.stored} trials ({row.unique} unique numbers) in {row.wall_s:.1f} s", flush=True)
    return row


def postgres_rows(sizes: Sizes) -> list[WorkersRow]:
    """The workers cell on a throw-away PostgreSQL server, or nothing when PostgreSQL is not installed."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from pg_server import fresh_database, postgres_bin, postgres_server

    if postgres_bin() is None:
        print("  postgresql: not installed, skipped")
        return []
    with postgres_server() as server:
        return [run_workers("postgresql", fresh_database(server), sizes)]


# -- the peer: Optuna on the same shape, smaller ----------------------------------------------------------
def peer_build_cell(lib: str, url: str, n_trials: int, reports: int, real_trials: int) -> None:
    """Fresh-process cell: build `n_trials` through the library's public API, then run `real_trials` with
    optimize (the same objective); emit ms per trial of each."""
    objective = make_objective(reports)
    started = time.perf_counter()
    if lib == "zoomtune":
        use_repo_src()
        import zoomtune as zt

        study: Any = zt.create_study(STUDY, storage=url, direction="minimize")
        fill(study.storage, study.study_id, 0, n_trials, reports, seed=0)
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(study_name=STUDY, storage=url, direction="minimize",
                                    sampler=optuna.samplers.RandomSampler(seed=0))
        build_optuna(study, n_trials, reports)
    built = time.perf_counter() - started
    started = time.perf_counter()
    study.optimize(objective, n_trials=real_trials)
    emit_result({"build_ms": built / n_trials * 1e3, "optimize_ms": (time.perf_counter() - started) / real_trials
                 * 1e3})


def build_optuna(study: Any, n_trials: int, reports: int) -> None:
    """The same trials as `fill`, through Optuna's public API (`add_trial`: one trial, values and reports at once)."""
    import optuna

    dists = {"x": optuna.distributions.FloatDistribution(-10.0, 10.0),
             "lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
             "n": optuna.distributions.IntDistribution(1, 100, log=True),
             "c": optuna.distributions.CategoricalDistribution(("relu", "tanh", "gelu"))}
    ours = space()
    rng = random.Random(0)
    for number in range(n_trials):
        params = {name: ours[name].from_unit(rng.random()) for name in dists}
        curve = {step: 10.0 * rng.random() / (1 + step) for step in range(reports)}
        failed = number % FAILED_EVERY == FAILED_EVERY - 1
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists, intermediate_values=curve,
            state=optuna.trial.TrialState.FAIL if failed else optuna.trial.TrialState.COMPLETE,
            value=None if failed else curve[reports - 1]))


def peer_load_cell(lib: str, url: str) -> None:
    """Fresh-process cell: open the study and read every trial (what a listing, a report or a history-based
    sampler does); emit the seconds and this process's peak RSS."""
    if lib == "zoomtune":
        use_repo_src()
        import zoomtune as zt

        load: Any = lambda: zt.load_study(STUDY, storage=url).trials  # noqa: E731
    else:
        import optuna

        load = lambda: optuna.load_study(study_name=STUDY, storage=url).trials  # noqa: E731
    before = memory_of()
    started = time.perf_counter()
    trials = load()
    emit_result({"seconds": time.perf_counter() - started, "n": len(trials), "before_mb": before.rss_mb,
                 "peak_mb": memory_of().peak_mb})


@dataclass(frozen=True)
class PeerRow:
    """One library's costs on the peer study."""

    lib: str
    build_ms: float
    optimize_ms: float
    n_read: int
    load_s: float
    load_added_mb: float
    peak_mb: float


def run_peer(tmp: str, n_trials: int, reports: int) -> list[PeerRow]:
    """zoomtune and Optuna, each on its own SQLite file with its default settings, in fresh processes."""
    rows = []
    for lib in ("zoomtune", "optuna"):
        url = f"sqlite:///{os.path.join(tmp, f'peer-{lib}.db')}"
        real = max(10, n_trials // 20)
        built = run_worker([os.path.abspath(__file__), "--peer-build", lib, url, str(n_trials), str(reports),
                            str(real)], timeout=7200)
        loaded = run_worker([os.path.abspath(__file__), "--peer-load", lib, url], timeout=1800)
        rows.append(PeerRow(lib, built["build_ms"], built["optimize_ms"], loaded["n"], loaded["seconds"],
                            loaded["peak_mb"] - loaded["before_mb"], loaded["peak_mb"]))
        print(f"  {lib}: built at {built['build_ms']:.1f} ms/trial, optimize {built['optimize_ms']:.1f} ms/trial, "
              f"read {loaded['n']:,} trials in {loaded['seconds']:.2f} s, peak {loaded['peak_mb']:.0f} MB", flush=True)
    return rows


def peer_table(rows: list[PeerRow], n_trials: int, reports: int) -> str:
    """Both libraries side by side with the zoomtune / optuna ratio (below 1: zoomtune costs less)."""
    z, o = rows
    metrics = [(f"build through the public API, ms/trial ({reports} reports each)", z.build_ms, o.build_ms, ".2f"),
               (f"optimize with {reports} reports, ms/trial", z.optimize_ms, o.optimize_ms, ".1f"),
               (f"read all {z.n_read:,} trials (built + optimized), s", z.load_s, o.load_s, ".2f"),
               ("memory that read adds, MB", z.load_added_mb, o.load_added_mb, ".0f"),
               ("peak RSS of that process, MB", z.peak_mb, o.peak_mb, ".0f")]
    return markdown_table(["Optuna on the same shape, " + f"{n_trials:,} trials", "zoomtune", "optuna",
                           "zoomtune / optuna"],
                          [[what, f"{a:{fmt}}", f"{b:{fmt}}", f"{a / b:.2f}" if b > 0 else "-"]
                           for what, a, b, fmt in metrics])


# -- orchestration -----------------------------------------------------------------------------------------
class Section(str, Enum):
    """The parts of the benchmark, each runnable alone with --only."""

    STUDY = "study"  # growth, then reading the full study
    WORKERS = "workers"
    PEER = "peer"


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 2,000 trials, 8 workers, SQLite only, no peer")
    ap.add_argument("--trials", type=int, help="size the study grows to")
    ap.add_argument("--stage-trials", type=int, help="real trials the runner runs at each step")
    ap.add_argument("--stage-seconds", type=float, default=120.0,
                    help="cap on the runner's time per step; a capped step runs fewer real trials (default 120)")
    ap.add_argument("--workers", type=int, help="worker processes in the workers section")
    ap.add_argument("--worker-trials", type=int, help="trials the workers share")
    ap.add_argument("--no-postgres", action="store_true", help="workers on SQLite only")
    ap.add_argument("--peer-trials", type=int, default=None,
                    help=f"size of the Optuna comparison study (default {PEER_TRIALS:,}; 0: none)")
    ap.add_argument("--only", default=",".join(s.value for s in Section),
                    help="comma-separated sections to run: " + ",".join(s.value for s in Section))
    ap.add_argument("--output", help="markdown file for the results (default: docs/scale.md for a full run of "
                                     "every section, none otherwise)")
    ap.add_argument("--runner", nargs=3, metavar=("URL", "REPORTS", "SECONDS"), help=argparse.SUPPRESS)
    ap.add_argument("--workers-cell", nargs=4, metavar=("URL", "WORKERS", "N", "SLEEP"), help=argparse.SUPPRESS)
    ap.add_argument("--peer-build", nargs=5, metavar=("LIB", "URL", "N", "REPORTS", "REAL"), help=argparse.SUPPRESS)
    ap.add_argument("--peer-load", nargs=2, metavar=("LIB", "URL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    base = QUICK if args.quick else FULL
    args.sizes = Sizes(trials=args.trials or base.trials, reports=base.reports, stages=base.stages,
                       stage_trials=args.stage_trials or base.stage_trials, workers=args.workers or base.workers,
                       worker_trials=args.worker_trials or base.worker_trials, sleep=base.sleep,
                       repeats=base.repeats)
    if min(args.sizes.trials, args.sizes.stage_trials, args.sizes.workers, args.sizes.worker_trials) < 1:
        ap.error("sizes must be positive")
    try:
        args.sections = {Section(v.strip()) for v in args.only.split(",") if v.strip()}
    except ValueError:
        ap.error(f"--only takes {','.join(s.value for s in Section)}; got {args.only!r}")
    args.peer_trials = (0 if args.quick else PEER_TRIALS) if args.peer_trials is None else args.peer_trials
    if not args.peer_trials:
        args.sections.discard(Section.PEER)
    args.postgres = not (args.quick or args.no_postgres)
    everything = args.sections == set(Section)
    args.output = args.output or (DOCS if everything and not args.quick else None)
    return args


def _verdict(ok: bool, goal: str) -> str:
    return f"{'PASS' if ok else 'FAIL'} ({goal})"


def study_tables(sizes: Sizes, steps: list[Step], start_peak: float, readings: list[Reading]) \
        -> tuple[str, list[bool]]:
    """The growth and reading tables as markdown, and their goals' verdicts."""
    flat = steps[-1].peak_mb / steps[0].peak_mb
    growth = markdown_table(
        ["study trials", "real trials run", "ms/real trial", "runner RSS MB", "runner peak MB", "peak / first peak"],
        [[f"{s.trials:,}", s.ran, f"{s.ms_per_trial:.1f}", f"{s.rss_mb:.0f}", f"{s.peak_mb:.0f}",
          f"{s.peak_mb / steps[0].peak_mb:.2f}"] for s in steps])
    growth += (f"\n\nrunner peak before its first trial: {start_peak:.0f} MB. Flat-memory goal: "
               f"{_verdict(flat <= FLAT_GOAL, f'last / first peak {flat:.2f} <= {FLAT_GOAL:g}')}")
    status = next(r for r in readings if r.what == f"zoomtune status {STUDY}")
    listing = next(r for r in readings if r.what == "zoomtune status")
    reading = markdown_table(["at " + f"{steps[-1].trials:,} trials x {sizes.reports} reports", "seconds",
                              "CPU seconds", "peak RSS MB", "output", "goal"],
                             [[r.what, f"{r.wall_s:.2f}", "-" if r.cpu_s is None else f"{r.cpu_s:.2f}",
                               "-" if r.peak_mb is None else f"{r.peak_mb:.0f}", r.size or "-",
                               _verdict(r.fast(), f"< {STATUS_GOAL_S:g} s")
                               if r in (status, listing) else ""] for r in readings], align="lrrrrl")
    return growth + "\n\n" + reading, [flat <= FLAT_GOAL, status.fast(), listing.fast()]


def workers_table(sizes: Sizes, workers: list[WorkersRow]) -> tuple[str, list[bool]]:
    """The workers table as markdown, and its goals' verdicts."""
    rate = sizes.workers / sizes.sleep
    table = markdown_table(
        ["storage", "workers", "trials asked", "trials stored", "unique numbers", "states", "seconds", "trials/s",
         f"of ideal {rate:.0f}/s", "goal"],
        [[w.storage, sizes.workers, sizes.worker_trials, w.stored, w.unique, ",".join(w.states), f"{w.wall_s:.1f}",
          f"{sizes.worker_trials / w.wall_s:.0f}", f"{sizes.worker_trials / w.wall_s / rate:.0%}",
          _verdict(w.exact(sizes.worker_trials), "exactly N, unique, COMPLETE")] for w in workers],
        align="l" + "r" * 8 + "l")
    return table, [w.exact(sizes.worker_trials) for w in workers]


def main() -> None:
    args = _parse()
    if args.runner:
        url, reports, seconds = args.runner
        runner(url, int(reports), float(seconds))
        return
    if args.workers_cell:
        url, n_workers, n_trials, sleep = args.workers_cell
        workers_cell(url, int(n_workers), int(n_trials), float(sleep))
        return
    if args.peer_build:
        lib, url, n_trials, reports, real = args.peer_build
        peer_build_cell(lib, url, int(n_trials), int(reports), int(real))
        return
    if args.peer_load:
        peer_load_cell(*args.peer_load)
        return

    sizes: Sizes = args.sizes
    title = header("zoomtune at scale: a big study's memory and read times, many workers on one study",
                   "zoomtune", "optuna")
    print(title)
    print(f"{sizes.trials:,} trials x {sizes.reports} reports in {sizes.stages} steps ({sizes.stage_trials} real "
          f"trials per step); {sizes.workers} workers x time.sleep({sizes.sleep:g}) on {sizes.worker_trials} trials; "
          f"sections: {', '.join(s.value for s in Section if s in args.sections)}\n", flush=True)
    started = time.perf_counter()
    parts, verdicts = [], []
    with tempfile.TemporaryDirectory(prefix="zt-scale-") as tmp:
        if Section.STUDY in args.sections:
            url = f"sqlite:///{os.path.join(tmp, 'scale.db')}"
            print("growth:", flush=True)
            steps, start_peak = grow(url, sizes, args.stage_seconds)
            print("reading the full study:", flush=True)
            readings = read_cli(url, tmp, sizes.repeats) + read_dashboard(url)
            part, ok = study_tables(sizes, steps, start_peak, readings)
            parts.append(part)
            verdicts += ok
        if Section.WORKERS in args.sections:
            print("workers:", flush=True)
            workers = [run_workers("sqlite", f"sqlite:///{os.path.join(tmp, 'workers.db')}", sizes)]
            if args.postgres:
                workers += postgres_rows(sizes)
            part, ok = workers_table(sizes, workers)
            parts.append(part)
            verdicts += ok
        if Section.PEER in args.sections:
            print(f"peer ({args.peer_trials:,} trials):", flush=True)
            parts.append(peer_table(run_peer(tmp, args.peer_trials, sizes.reports), args.peer_trials,
                                    sizes.reports))
    body = "\n\n".join(parts)
    total = time.perf_counter() - started
    met = (f"{sum(verdicts)}/{len(verdicts)} met -> {'ALL PASS' if all(verdicts) else 'SOME FAIL'}" if verdicts
           else "none in these sections")
    summary = f"goals: {met}\ntotal benchmark time: {total:.0f} s"
    print("\n" + body + "\n\n" + summary)
    if args.output:
        when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        heading, _, facts = title.strip().partition("\n")
        write_results(args.output, f"#{heading}\n\n```text\n{facts.strip()}\ndate:     {when}\nmachine:  "
                                   f"{os.cpu_count()} cores, shared with other busy jobs (noisy)\n```\n\nHow the "
                                   f"study is built and measured: see the docstring of `benchmarks/scale.py`.\n\n"
                                   f"{body}\n\n```text\n{summary}\n```\n")
        print(f"wrote {args.output}")


def write_results(path: str, results: str) -> None:
    """Put `results` between the markers in `path`, keeping what is written around them (notes, other
    benchmarks' tables); a file without the markers gets them, after its text."""
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    before, found, rest = text.partition(BEGIN)
    after = rest.partition(END)[2] if found else ""
    if not found:
        before = text + ("\n" if text and not text.endswith("\n") else "")
    with open(path, "w", encoding="utf-8") as out:
        out.write(f"{before}{BEGIN}\n{results}{END}{after}")


if __name__ == "__main__":
    main()
