"""The batch-norm network on Fashion-MNIST: accuracy reached vs trials and vs total epochs, with and without ASHA.

    python benchmarks/asha_fashion.py                 # full run (~10 min on 2 CPU cores)
    python benchmarks/asha_fashion.py --quick         # smoke run on 8x8 digits (< 1 min), temp dir
    python benchmarks/asha_fashion.py --trials 27 --epochs 9 --seed 0 --schedulers none,asha

Objective: `MLPRecipe(dataset="fashion-mnist", epochs=E)`: an Adam-trained MLP (batch norm on or
off, tuned with lr, beta1, beta2, layers, units, batch size, lr decay and bn_beta), reporting
the validation accuracy after every epoch. The runs share everything but the scheduler:

- "no stopping": every trial trains all E epochs;
- "ASHA": ASHA(min_resource=1, reduction_factor=3, max_resource=E), rungs at 1, 3, 9, ... epochs;
- "Hyperband": Hyperband(min_resource=1, max_resource=E, reduction_factor=3), ASHA brackets.

Each run: the same sampler and sampler seed, N trials, 2 forked workers on SQLite. With the
default RandomSampler a trial's hyperparameters depend only on (seed, trial number) and the
recipe seeds training with the trial number, so trial k is the same network with the same
learning curve in every run (checked and printed); a scheduler can only cut curves short.
(This script seeds torch before each trial: the recipe draws the MLP's initial weights before
`fit` seeds training.) The comparison is therefore paired: it measures what stopping saves and what it loses.

Epochs are counted in the order they happened: every report is time-stamped (a thin wrapper
around the trial), all runs' epochs are sorted by time, and "cumulative epochs" at a report is
the number of epochs trained by all workers up to then. A run's best-so-far counts only
COMPLETE trials (those that ran all E epochs), from the moment their last epoch was reported.

Outputs: a markdown report on stdout and in docs/asha_fashion.md, the plot docs/asha_fashion.png
(--quick writes both to a temporary directory, so a smoke run never overwrites them).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, os.pardir))
sys.path.insert(0, HERE)  # for _common
sys.path.insert(0, os.path.join(REPO, "src"))

from _common import command_line, git_state, markdown_table, versions  # noqa: E402

TOL = 0.005  # "reached the no-stopping best" means best-so-far >= that best - TOL
GOAL_FRACTION = 1 / 3  # goal: ASHA reaches it within a third of the no-stopping run's epochs
LABELS = {"none": "no stopping", "asha": "ASHA", "hyperband": "Hyperband"}


# -- timing reports --------------------------------------------------------------------------------
class _TimedTrial:
    """A trial that also stores the wall-clock time of each report as the user attribute
    "report_times" (stored with the report itself). Everything else goes to the real trial."""

    def __init__(self, trial: Any) -> None:
        self._trial = trial
        self._times: list[float] = []

    def report(self, value: float, step: int | None = None) -> None:
        self._times.append(time.time())
        self._trial.set_user_attr("report_times", list(self._times))
        self._trial.report(value, step)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)


@dataclass(frozen=True)
class Timed:
    """An objective that runs `objective` on a `_TimedTrial`, after seeding torch's global generator
    with (init_seed + trial number).

    The recipe builds its MLP (initial weights drawn from torch's global generator) before `fit`
    seeds anything, so without this a trial's initial weights would depend on which worker ran it
    and what that worker ran before: the same trial number would train differently in two runs.
    """

    objective: Any
    init_seed: int = 0

    def __call__(self, trial: Any) -> float:
        import torch

        torch.manual_seed(self.init_seed + trial.number)
        return self.objective(_TimedTrial(trial))


# -- one run ---------------------------------------------------------------------------------------
@dataclass
class Run:
    key: str
    label: str
    wall_s: float
    trials: list[Any]
    # filled by analyse()
    epochs_total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    best: Any = None  # best COMPLETE trial
    curve_epochs: list[tuple[int, float]] = field(default_factory=list)  # (cumulative epochs, best so far)
    curve_trials: list[tuple[int, float]] = field(default_factory=list)  # (trial number, best so far)
    epochs_to_target: int | None = None
    trial_at_target: int | None = None
    time_to_target_s: float | None = None


def make_scheduler(key: str, epochs: int, seed: int) -> Any:
    import zoomtune as zt

    if key == "none":
        return None
    if key == "asha":
        return zt.schedulers.ASHA(min_resource=1, reduction_factor=3, max_resource=epochs, seed=seed)
    if key == "hyperband":
        return zt.schedulers.Hyperband(min_resource=1, max_resource=epochs, reduction_factor=3, seed=seed)
    raise ValueError(f"unknown scheduler {key!r}; choose from {', '.join(LABELS)}")


def make_sampler(name: str, seed: int) -> Any:
    import zoomtune as zt

    if name == "random":
        return zt.samplers.RandomSampler(seed=seed)
    if name == "c2f":
        return zt.samplers.CoarseToFineSampler(seed=seed, round_size=10)
    raise ValueError(f"unknown sampler {name!r}; choose random or c2f")


def run_one(key: str, args: argparse.Namespace, objective: Any, tmpdir: str) -> Run:
    import zoomtune as zt

    study = zt.create_study(name=f"asha-fashion-{key}", direction="maximize",
                            storage=f"sqlite:///{os.path.join(tmpdir, key + '.db')}",
                            sampler=make_sampler(args.sampler, args.seed),
                            scheduler=make_scheduler(key, args.epochs, args.seed))
    started = time.perf_counter()
    study.optimize(objective, n_trials=args.trials, n_jobs=args.jobs)
    wall = time.perf_counter() - started
    return Run(key, LABELS[key], wall, sorted(study.trials, key=lambda t: t.number))


def epoch_events(trial: Any) -> list[tuple[float, int, int]]:
    """(time, trial number, step) of every epoch `trial` reported.

    Times come from the "report_times" attribute; a trial without them (it failed before its
    first stored report, say) has its epochs spread evenly between its start and end."""
    steps = sorted(trial.intermediate_values)
    times = list(trial.user_attrs.get("report_times") or [])
    if len(times) != len(steps):
        start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
        end = trial.datetime_complete.timestamp() if trial.datetime_complete else start
        times = [start + (end - start) * (i + 1) / max(1, len(steps)) for i in range(len(steps))]
    return [(t, trial.number, s) for t, s in zip(times, steps, strict=False)]


def analyse(run: Run, target: float | None) -> None:
    import zoomtune as zt

    run.epochs_total = sum(len(t.intermediate_values) for t in run.trials)
    run.counts = {}
    for t in run.trials:
        run.counts[t.state.value] = run.counts.get(t.state.value, 0) + 1
    complete = {t.number: t for t in run.trials
                if t.state is zt.TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)}
    run.best = max(complete.values(), key=lambda t: (t.value, -t.number), default=None)

    # best so far vs cumulative epochs, in the order the epochs happened
    events = sorted(e for t in run.trials for e in epoch_events(t))
    t0 = min((t.datetime_start.timestamp() for t in run.trials if t.datetime_start), default=0.0)
    best = -math.inf
    run.curve_epochs = []
    run.epochs_to_target = run.trial_at_target = run.time_to_target_s = None
    for count, (when, number, step) in enumerate(events, start=1):
        trial = complete.get(number)
        if trial is None or step != max(trial.intermediate_values):
            continue
        if trial.value > best:
            best = trial.value
            run.curve_epochs.append((count, best))
        if target is not None and run.epochs_to_target is None and best >= target - TOL:
            run.epochs_to_target, run.trial_at_target = count, number
            run.time_to_target_s = when - t0
    if run.curve_epochs:
        run.curve_epochs.append((len(events), best))

    # best so far vs trial number
    best = -math.inf
    run.curve_trials = []
    for t in run.trials:
        if t.number in complete and complete[t.number].value > best:
            best = complete[t.number].value
        if math.isfinite(best):
            run.curve_trials.append((t.number, best))


def paired_check(base: Run, other: Run) -> tuple[int, float]:
    """How many trials both runs reported epochs for, and the largest |difference| between their
    validation accuracies at the same (trial, epoch): 0 when trial k is the same curve in both."""
    by_number = {t.number: t.intermediate_values for t in base.trials}
    shared, worst = 0, 0.0
    for t in other.trials:
        ref = by_number.get(t.number, {})
        common = set(ref) & set(t.intermediate_values)
        if common:
            shared += 1
            worst = max(worst, max(abs(ref[s] - t.intermediate_values[s]) for s in common))
    return shared, worst


# -- reporting -------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def plot(runs: list[Run], target: float, budget: int, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"none": {"color": "tab:blue", "lw": 4, "alpha": 0.45, "ls": "-"},
              "asha": {"color": "tab:red", "lw": 1.8, "ls": "-"},
              "hyperband": {"color": "tab:green", "lw": 1.5, "ls": "--"}}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    finals = []
    for run in runs:
        if not run.curve_epochs:
            continue
        style = styles[run.key]
        xs, ys = zip(*run.curve_epochs, strict=False)
        ax1.step(xs, ys, where="post", label=f"{run.label} ({run.epochs_total} epochs)", **style)
        ax1.plot(xs[:-1], ys[:-1], "o", color=style["color"], ms=4)
        if run.epochs_to_target is not None:
            ax1.axvline(run.epochs_to_target, color=style["color"], ls=":", lw=1.2)
        xs2, ys2 = zip(*run.curve_trials, strict=False)
        ax2.step(xs2, ys2, where="post", label=run.label, **style)
        finals.append(ys[-1])
    # zoom on the top: early, much worse values are clipped at the bottom
    low = min([target - 0.04] + [f - 0.01 for f in finals])
    for ax in (ax1, ax2):
        ax.axhspan(target - TOL, target, color="grey", alpha=0.2, lw=0,
                   label=f"no-stopping best − {TOL} … best")
        ax.grid(alpha=0.3)
        ax.set_ylim(low, target + 0.3 * (target - low))
    ax1.axvline(budget * GOAL_FRACTION, color="black", ls="--", lw=1,
                label=f"goal: {GOAL_FRACTION:.3g} of no-stopping epochs ({budget * GOAL_FRACTION:.0f})")
    ax1.set_xlabel("cumulative epochs trained (all trials, in time order)")
    ax1.set_ylabel("best val. accuracy so far, COMPLETE trials\n(y axis clipped below)")
    ax1.set_title("vs total epochs (dotted: first within tolerance)")
    ax1.legend(fontsize=8, loc="lower right")
    ax2.set_xlabel("trial number")
    ax2.set_ylabel("best validation accuracy so far (COMPLETE trials)")
    ax2.set_title("vs trials")
    ax2.legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report_header(title: str, quick: bool, load_start: tuple[float, ...] | None, runtime: str) -> list[str]:
    """A benchmark report's title and its command, versions, git state, machine load and runtime lines."""
    if quick:
        title += " (--quick: 8x8 digits smoke run)"
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else None
    return [
        f"# {title}", "",
        f"command:  `{command_line()}`  ",
        f"versions: {versions('zoomtune', 'torch', 'numpy', 'matplotlib')}  ",
        f"git:      {git_state()}  ",
        f"machine:  {cpu_model()}, {os.cpu_count()} CPUs; load average "
        + (f"{load_start[0]:.2f} at start, {load_end[0]:.2f} at end" if load_start and load_end else "n/a")
        + " (other jobs may share the CPUs: wall times are indicative, epochs are exact)  ",
        f"runtime:  {runtime}", "",
    ]


def write_report(lines: list[str], md_path: str, png_path: str, draw: Callable[[str], None]) -> str:
    """Print the report's lines, write them to `md_path` and `draw` the plot into `png_path`; the report."""
    report = "\n".join(lines)
    print()
    print(report)
    with open(md_path, "w") as handle:
        handle.write(report)
    draw(png_path)
    print(f"wrote {md_path} and {png_path}")
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=27, help="trials per run (default 27)")
    ap.add_argument("--epochs", type=int, default=9, help="max epochs per trial, ASHA's max_resource (default 9)")
    ap.add_argument("--seed", type=int, default=0, help="sampler / scheduler seed (default 0)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes per run (default 2)")
    ap.add_argument("--sampler", default="random", choices=("random", "c2f"),
                    help="random (default; paired runs) or c2f (CoarseToFineSampler, round_size=10)")
    ap.add_argument("--schedulers", default="none,asha,hyperband",
                    help="comma-separated runs from none, asha, hyperband (default: all three)")
    ap.add_argument("--quick", action="store_true", help="smoke run on 8x8 digits, outputs to a temp dir")
    ap.add_argument("--out-dir", default=None, help="where the .md and .png go (default docs/, quick: temp dir)")
    args = ap.parse_args()
    keys = [k.strip() for k in args.schedulers.split(",") if k.strip()]
    if "none" not in keys:
        keys.insert(0, "none")  # the reference every other run is measured against
    keys = ["none"] + [k for k in keys if k != "none"]
    for key in keys:
        if key not in LABELS:
            ap.error(f"unknown scheduler {key!r}")
    dataset = "digits" if args.quick else "fashion-mnist"
    out_dir = args.out_dir or (tempfile.mkdtemp(prefix="asha_fashion_") if args.quick
                               else os.path.join(REPO, "docs"))
    os.makedirs(out_dir, exist_ok=True)
    md_path, png_path = os.path.join(out_dir, "asha_fashion.md"), os.path.join(out_dir, "asha_fashion.png")

    started = time.perf_counter()
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    import torch  # noqa: F401  (loaded before forking: workers get 1 intra-op thread each)

    from zoomtune.nn import datasets
    from zoomtune.nn.recipes import MLPRecipe

    t = time.perf_counter()
    data = datasets.load(dataset)  # cached: the forked workers share it
    load_s = time.perf_counter() - t
    recipe = MLPRecipe(dataset=dataset, epochs=args.epochs, seed=0)
    objective = Timed(recipe, init_seed=1_000_003 * args.seed)
    print(f"{dataset}: {len(data.x_train)} train / {len(data.x_val)} val / {len(data.x_test)} test, "
          f"loaded in {load_s:.1f} s; {args.trials} trials x {args.epochs} epochs, {args.jobs} workers, "
          f"sampler {args.sampler} seed {args.seed}", flush=True)

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="asha_fashion_db_") as tmpdir:
        for key in keys:
            run = run_one(key, args, objective, tmpdir)
            runs.append(run)
            print(f"  {run.label:<12} {sum(len(t.intermediate_values) for t in run.trials):4d} epochs "
                  f"in {run.wall_s:6.1f} s", flush=True)
    total_s = time.perf_counter() - started

    base = runs[0]
    analyse(base, None)
    target = base.best.value if base.best is not None else None
    if target is None:
        raise SystemExit("the no-stopping run has no COMPLETE trial; nothing to compare")
    for run in runs:
        analyse(run, target)
    budget = base.epochs_total

    rows = []
    for run in runs:
        states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(run.counts.items()))
        test = run.best.user_attrs.get("test_accuracy") if run.best is not None else None
        need = run.epochs_to_target
        rows.append([
            run.label, run.epochs_total, f"{run.epochs_total / budget:.2f}", f"{run.wall_s:.0f}", states,
            f"{fmt_acc(run.best.value)} (#{run.best.number})" if run.best is not None else "-", fmt_acc(test),
            "not reached" if need is None else f"{need} (#{run.trial_at_target}, {run.time_to_target_s:.0f} s)",
            "-" if need is None else f"{need / budget:.3f}",
            "-" if need is None or base.epochs_to_target is None else f"{need / base.epochs_to_target:.2f}",
        ])
    headers = ["run", "epochs trained", "epochs / no-stop", "wall s", "trials", "best val acc (trial)",
               "its test acc", f"epochs to reach ≥ {target - TOL:.4f} (trial, time)", "÷ no-stop total",
               "÷ no-stop's own"]
    table = markdown_table(headers, rows)

    verdicts = []
    for run in runs[1:]:
        need = run.epochs_to_target
        ok = need is not None and need <= GOAL_FRACTION * budget
        why = ("never reached it" if need is None else
               f"reached it after {need} epochs = {need / budget:.3f} of the no-stopping run's {budget}")
        verdicts.append(f"- **{run.label}: {'PASS' if ok else 'FAIL'}** — {why} "
                        f"(best {fmt_acc(run.best.value) if run.best else '-'} vs {target:.4f}).")
    goal_line = (f"Goal: a stopping run's best-so-far validation accuracy (COMPLETE trials only) reaches "
                 f"≥ no-stopping best − {TOL} = {target - TOL:.4f} within {GOAL_FRACTION:.3g} of the no-stopping "
                 f"run's total epochs, i.e. ≤ {GOAL_FRACTION * budget:.1f} of {budget} epochs.")

    notes = []
    if args.sampler == "random":
        for run in runs[1:]:
            shared, worst = paired_check(base, run)
            notes.append(f"- Pairing check, {run.label} vs no stopping: {shared} trials have epochs in both runs; "
                         f"largest |val acc difference| at the same (trial, epoch) = {worst:.2g}"
                         + (" (identical curves)." if worst == 0 else "."))
    ref = base.best
    for run in runs[1:]:
        same = next((t for t in run.trials if t.number == ref.number), None)
        if same is not None:
            notes.append(f"- No-stopping best trial #{ref.number} in the {run.label} run: {same.state.value.lower()} "
                         f"after {len(same.intermediate_values)} of {args.epochs} epochs.")
    if base.epochs_to_target is not None:
        notes.append(f"- The no-stopping run itself first had a COMPLETE trial within {TOL} of its final best after "
                     f"{base.epochs_to_target} of its {budget} epochs (trial #{base.trial_at_target}); "
                     f"the last column compares with that.")

    lines = [
        *report_header("The batch-norm network on Fashion-MNIST: accuracy reached vs trials and vs total epochs, "
                       "with and without ASHA", args.quick, load_start,
                       f"{total_s:.0f} s in all (data loaded in {load_s:.1f} s)"),
        f"Setup: `MLPRecipe(dataset=\"{dataset}\", epochs={args.epochs}, seed=0)` (Adam; lr, beta1, beta2, layers, "
        f"units, batch size, lr decay, batch norm on/off, bn_beta tuned), {args.trials} trials per run, "
        f"{'RandomSampler' if args.sampler == 'random' else 'CoarseToFineSampler(round_size=10)'}(seed={args.seed}) "
        f"in every run, {args.jobs} forked workers (1 torch thread each), SQLite storage; torch seeded with the "
        f"trial number before each trial (the recipe draws initial weights before `fit` seeds). "
        f"ASHA(min_resource=1, reduction_factor=3, max_resource={args.epochs}); "
        f"Hyperband(min_resource=1, max_resource={args.epochs}, reduction_factor=3).", "",
        "Definitions: *epochs trained* = Σ over trials of epochs reported (len(intermediate_values)); "
        "*best val acc* = best final validation accuracy among COMPLETE trials (all epochs run), with that trial's "
        "test accuracy; *epochs to reach* = cumulative epochs trained by all workers, in time order, when a "
        f"COMPLETE trial first had validation accuracy ≥ the no-stopping run's best − {TOL}; "
        "*÷ no-stop total* = that ÷ the no-stopping run's total epochs (the goal's measure); "
        "*÷ no-stop's own* = that ÷ the epochs the no-stopping run itself needed to get there (stricter).", "",
        table, "",
        goal_line, "",
        *verdicts, "",
        *notes, "",
        f"![best-so-far validation accuracy vs epochs and vs trials]({os.path.basename(png_path)})", "",
    ]
    write_report(lines, md_path, png_path, lambda path: plot(
        runs, target, budget, path,
        f"{dataset}: {args.trials} trials × ≤{args.epochs} epochs, {args.sampler} sampler seed {args.seed}"))


if __name__ == "__main__":
    main()
