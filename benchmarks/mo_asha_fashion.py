"""Multi-objective ASHA on the Fashion-MNIST MLP: hypervolume of the accuracy / model-size front vs epochs.

    python benchmarks/mo_asha_fashion.py                 # full run (~10 min on 2 CPU cores)
    python benchmarks/mo_asha_fashion.py --quick         # smoke run on 8x8 digits (< 1 min), temp dir
    python benchmarks/mo_asha_fashion.py --trials 27 --epochs 9 --train 10000 --schedulers none,moasha

Objective: `MLPRecipe(dataset="fashion-mnist", epochs=E)` (Adam; lr, beta1, beta2, layers, units, batch
size, lr decay, batch norm on/off, bn_beta), trained on the first `--train` training examples, with two
objectives reported together after every epoch, `trial.report([accuracy, params], step)`: the
validation accuracy (maximised) and the MLP's parameter count (minimised). The runs share everything
but the scheduler:

- "no stopping": every trial trains all E epochs;
- "MO-ASHA": ASHA(min_resource=1, reduction_factor=3, max_resource=E) in the two-objective study: at
  the rungs (1, 3, 9, ... epochs) a trial goes on only when its report vector is in the top third by
  non-dominated sorting, ties broken by crowding distance;
- "Hyperband": Hyperband(min_resource=1, max_resource=E, reduction_factor=3), MO-ASHA brackets.

The comparison is paired, as in benchmarks/asha_fashion.py (whose helpers this script imports): the same
RandomSampler seed gives trial k the same hyperparameters, initial weights and learning curve in every
run (checked and printed), so a scheduler can only cut curves short. Epochs are counted in the order
they happened (each report is time-stamped).

The measure: the normalised hypervolume of the front of the COMPLETE trials (those that ran all E
epochs, counted from the moment their last epoch was reported) against the cumulative epochs trained by
all trials. Normalisation: in (1 - accuracy, params), the box of the Pareto front of all runs'
COMPLETE trials together, from its ideal point to its nadir pushed out by 10% of the range, the same
box for every run (a box over all trials, bad ones included, would put every front's HV near 1).
"Reached" means a normalised HV >= (1 - HV_TOL) times the no-stopping run's final one.

Outputs: a markdown report on stdout and in docs/mo_asha_fashion.md, the plot docs/mo_asha_fashion.png
(--quick writes both to a temporary directory, so a smoke run never overwrites them).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, os.pardir))
sys.path.insert(0, HERE)  # for _common and asha_fashion
sys.path.insert(0, os.path.join(REPO, "src"))

import asha_fashion as af  # noqa: E402
from _common import markdown_table  # noqa: E402

from zoomtune.nn.datasets import Dataset  # noqa: E402
from zoomtune.nn.models import MLP  # noqa: E402
from zoomtune.nn.recipes import MLPRecipe  # noqa: E402

HV_TOL = 0.01  # "reached the no-stopping hypervolume" means >= (1 - HV_TOL) x its final value
LABELS = {"none": "no stopping", "moasha": "MO-ASHA", "hyperband": "Hyperband (MO)"}
METRICS = ("accuracy", "params")
DIRECTIONS = ("maximize", "minimize")


# -- the two-objective objective -------------------------------------------------------------------
@lru_cache(maxsize=64)
def parameter_count(n_features: int, n_classes: int, layers: int, units: int, batchnorm: bool) -> int:
    """The number of trainable parameters of the recipe's MLP (built without touching torch's generator)."""
    with torch.random.fork_rng():
        model = MLP(n_features, [units] * layers, n_classes, batchnorm=batchnorm)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _SizedTrial:
    """A trial whose `report(accuracy, step)` reports `[accuracy, parameter count]`; the rest goes to the
    real trial."""

    def __init__(self, trial: Any, n_features: int, n_classes: int) -> None:
        self._trial = trial
        self._shape = (n_features, n_classes)

    def size(self) -> int:
        params = self._trial.params
        return parameter_count(*self._shape, params["layers"], params["units"], params["batchnorm"])

    def report(self, value: float, step: int | None = None) -> None:
        self._trial.report([value, self.size()], step)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)


@dataclass(frozen=True)
class SubsetRecipe(MLPRecipe):
    """The recipe trained on the first `n_train` training examples only (all of them when 0)."""

    n_train: int = 0

    def data(self) -> Dataset:
        data = super().data()
        if 0 < self.n_train < len(data.x_train):
            return dataclasses.replace(data, x_train=data.x_train[:self.n_train], y_train=data.y_train[:self.n_train])
        return data


@dataclass(frozen=True)
class AccuracyAndSize:
    """An objective: the recipe's validation accuracy and its MLP's parameter count, reported together after
    every epoch and returned as the trial's two values."""

    recipe: SubsetRecipe

    def __call__(self, trial: Any) -> tuple[float, int]:
        data = self.recipe.data()
        sized = _SizedTrial(trial, data.n_features, data.n_classes)
        accuracy = self.recipe(sized)
        return accuracy, sized.size()


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
    front: list[tuple[int, float, float]] = field(default_factory=list)  # (trial, accuracy, params) on the front
    curve: list[tuple[int, float]] = field(default_factory=list)  # (cumulative epochs, normalised HV)
    final_hv: float = 0.0
    epochs_to_target: int | None = None


def make_scheduler(key: str, epochs: int, seed: int) -> Any:
    """asha_fashion's schedulers: in a study of two directions its ASHA ranks the report vectors (MO-ASHA)."""
    return af.make_scheduler("asha" if key == "moasha" else key, epochs, seed)


def run_one(key: str, args: argparse.Namespace, objective: Any, db_dir: str) -> Run:
    """One run's trials; a run already finished in `db_dir` with the same settings is read back, not rerun."""
    import zoomtune as zt

    name = f"mo-asha-fashion-{key}"
    path = os.path.join(db_dir, f"{key}-{args.dataset}-t{args.trials}-e{args.epochs}-n{args.train}-s{args.seed}.db")
    if os.path.exists(path):
        trials = zt.load_study(name, storage=f"sqlite:///{path}").trials
        if len(trials) == args.trials and all(t.state.is_finished for t in trials):
            return Run(key, LABELS[key], wall_time(trials), sorted(trials, key=lambda t: t.number))
        os.remove(path)  # an interrupted run: start it again
    study = zt.create_study(name=name, directions=list(DIRECTIONS), metric_names=list(METRICS),
                            storage=f"sqlite:///{path}", sampler=af.make_sampler("random", args.seed),
                            scheduler=make_scheduler(key, args.epochs, args.seed))
    study.optimize(objective, n_trials=args.trials, n_jobs=args.jobs)
    trials = study.trials
    return Run(key, LABELS[key], wall_time(trials), sorted(trials, key=lambda t: t.number))


def wall_time(trials: list[Any]) -> float:
    """Seconds from the first trial's start to the last one's end."""
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0


def complete_values(run: Run) -> dict[int, tuple[float, float]]:
    """Trial number -> (accuracy, params) of the run's COMPLETE trials with finite values."""
    import zoomtune as zt

    return {t.number: (float(t.values[0]), float(t.values[1])) for t in run.trials
            if t.state is zt.TrialState.COMPLETE and t.values is not None and all(map(math.isfinite, t.values))}


def normalisation(runs: list[Run]) -> tuple[list[float], list[float]]:
    """(ideal, reference) in the minimised objectives (1 - accuracy, params): the box of the Pareto front of every
    run's COMPLETE trials together, from its ideal point to its nadir plus 10% of the range (what lies beyond
    that adds nothing; a box over every trial would squeeze every front's HV near 1)."""
    from zoomtune.pareto import pareto_front_mask

    points = [(1 - a, p) for run in runs for a, p in complete_values(run).values()]
    front = [point for point, on in zip(points, pareto_front_mask(points), strict=True) if on]
    ideal = [min(column) for column in zip(*front, strict=True)]
    nadir = [max(column) for column in zip(*front, strict=True)]
    reference = [n + 0.1 * (n - i) if n > i else n + 1.0 for i, n in zip(ideal, nadir, strict=True)]
    return ideal, reference


def analyse(run: Run, ideal: list[float], reference: list[float], target: float | None) -> None:
    """The run's epochs, trial states, final front and HV curve in time order; epochs to reach `target`."""
    from zoomtune.pareto import normalized_hypervolume, pareto_front_mask

    run.epochs_total = sum(len(t.intermediate_values) for t in run.trials)
    run.counts = {}
    for t in run.trials:
        run.counts[t.state.value] = run.counts.get(t.state.value, 0) + 1
    complete = complete_values(run)
    last_step = {t.number: max(t.intermediate_values) for t in run.trials if t.intermediate_values}
    events = sorted(e for t in run.trials for e in af.epoch_events(t))
    points: list[tuple[float, float]] = []
    numbers: list[int] = []
    run.curve, run.epochs_to_target, hv = [(0, 0.0)], None, 0.0
    for count, (_, number, step) in enumerate(events, start=1):
        if number not in complete or step != last_step[number]:
            continue
        accuracy, params = complete[number]
        points.append((1 - accuracy, params))
        numbers.append(number)
        hv = normalized_hypervolume(points, reference, ideal)
        run.curve.append((count, hv))
        if target is not None and run.epochs_to_target is None and hv >= (1 - HV_TOL) * target:
            run.epochs_to_target = count
    run.curve.append((len(events), hv))
    run.final_hv = hv
    mask = pareto_front_mask(points) if points else []
    run.front = sorted((n, *complete[n]) for n, on in zip(numbers, mask, strict=True) if on)


# -- reporting -------------------------------------------------------------------------------------
def plot(runs: list[Run], target: float, budget: int, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles: dict[str, dict[str, Any]] = {"none": {"color": "tab:blue", "lw": 4, "alpha": 0.45, "ls": "-"},
                                         "moasha": {"color": "tab:red", "lw": 1.8, "ls": "-"},
                                         "hyperband": {"color": "tab:green", "lw": 1.5, "ls": "--"}}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    for run in runs:
        style = styles[run.key]
        xs, ys = zip(*run.curve, strict=True)
        ax1.step(xs, ys, where="post", label=f"{run.label} ({run.epochs_total} epochs)", **style)
        if run.epochs_to_target is not None and run.key != "none":
            ax1.axvline(run.epochs_to_target, color=style["color"], ls=":", lw=1.2)
        everything = complete_values(run).values()
        ax2.scatter([p for _, p in everything], [a for a, _ in everything], color=style["color"], s=18,
                    alpha=0.5 if run.key == "none" else 0.9, marker="o" if run.key == "none" else "x")
        if run.front:
            _, accuracy, params = zip(*sorted(run.front, key=lambda f: f[2]), strict=True)
            ax2.step(params, accuracy, where="post", label=f"{run.label} front ({len(run.front)} trials)", **style)
    ax1.axhspan((1 - HV_TOL) * target, target, color="grey", alpha=0.2, lw=0,
                label=f"no-stopping HV × (1 − {HV_TOL}) … HV")
    ax1.axvline(budget * af.GOAL_FRACTION, color="black", ls="--", lw=1,
                label=f"goal: {af.GOAL_FRACTION:.3g} of no-stopping epochs ({budget * af.GOAL_FRACTION:.0f})")
    ax1.set_xlabel("cumulative epochs trained (all trials, in time order)")
    ax1.set_ylabel("normalised hypervolume, COMPLETE trials")
    ax1.set_title("front quality vs total epochs (dotted: first within tolerance)")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8, loc="lower right")
    ax2.set_xscale("log")
    ax2.set_xlabel("parameters (log scale; fewer is better)")
    ax2.set_ylabel("validation accuracy (higher is better)")
    ax2.set_title("COMPLETE trials and their fronts")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--trials", type=int, default=None, help="trials per run (default 27; quick: 12)")
    ap.add_argument("--epochs", type=int, default=None, help="max epochs per trial, ASHA's max_resource "
                                                              "(default 9; quick: 3)")
    ap.add_argument("--train", type=int, default=10_000, help="training examples used (default 10000 of 50000; "
                                                               "0: all)")
    ap.add_argument("--seed", type=int, default=0, help="sampler / scheduler seed (default 0)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes per run (default 1: sequential, so the "
                                                        "scheduler's decisions are reproducible)")
    ap.add_argument("--schedulers", default="none,moasha,hyperband",
                    help="comma-separated runs from none, moasha, hyperband (default: all three)")
    ap.add_argument("--quick", action="store_true", help="smoke run on 8x8 digits, outputs to a temp dir")
    ap.add_argument("--out-dir", default=None, help="where the .md and .png go (default docs/, quick: temp dir)")
    ap.add_argument("--db-dir", default=None, help="keep each run's SQLite file here (default: a temp dir); a run "
                                                   "already finished there with the same settings is read back")
    args = ap.parse_args(argv)
    args.dataset = "digits" if args.quick else "fashion-mnist"
    args.trials = args.trials or (12 if args.quick else 27)
    args.epochs = args.epochs or (3 if args.quick else 9)
    keys = ["none"] + [k.strip() for k in args.schedulers.split(",") if k.strip() and k.strip() != "none"]
    for key in keys:
        if key not in LABELS:
            ap.error(f"unknown scheduler {key!r}; choose from {', '.join(LABELS)}")
    args.keys = keys
    return args


def main(argv: list[str] | None = None) -> str:
    """Run the comparison, write the report and the plot; the report's text."""
    args = parse_args(argv)
    dataset = args.dataset
    out_dir = args.out_dir or (tempfile.mkdtemp(prefix="mo_asha_fashion_") if args.quick
                               else os.path.join(REPO, "docs"))
    os.makedirs(out_dir, exist_ok=True)
    md_path, png_path = os.path.join(out_dir, "mo_asha_fashion.md"), os.path.join(out_dir, "mo_asha_fashion.png")

    started = time.perf_counter()
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    torch.set_num_threads(1)  # one intra-op thread per worker, as forked workers have
    recipe = SubsetRecipe(dataset=dataset, epochs=args.epochs, seed=0, n_train=max(0, args.train))
    data = recipe.data()  # cached: forked workers share it
    n_train, n_all = len(data.x_train), len(MLPRecipe.data(recipe).x_train)
    objective = af.Timed(AccuracyAndSize(recipe), init_seed=1_000_003 * args.seed)
    print(f"{dataset}: {n_train} of {n_all} train / {len(data.x_val)} val; {args.trials} trials x "
          f"{args.epochs} epochs, {args.jobs} worker(s), RandomSampler seed {args.seed}", flush=True)

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="mo_asha_fashion_db_") as tmpdir:
        for key in args.keys:
            run = run_one(key, args, objective, args.db_dir or tmpdir)
            runs.append(run)
            print(f"  {run.label:<15} {sum(len(t.intermediate_values) for t in run.trials):4d} epochs "
                  f"in {run.wall_s:6.1f} s", flush=True)
    total_s = time.perf_counter() - started

    base = runs[0]
    if not complete_values(base):
        raise SystemExit("the no-stopping run has no COMPLETE trial; nothing to compare")
    ideal, reference = normalisation(runs)
    analyse(base, ideal, reference, None)
    target = base.final_hv
    for run in runs:
        analyse(run, ideal, reference, target)
    budget = base.epochs_total

    rows, verdicts = [], []
    for run in runs:
        states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(run.counts.items()))
        need = run.epochs_to_target
        rows.append([run.label, run.epochs_total, f"{run.epochs_total / budget:.2f}", f"{run.wall_s:.0f}", states,
                     len(run.front), f"{run.final_hv:.4f}", f"{run.final_hv / target:.3f}" if target else "-",
                     "not reached" if need is None else need, "-" if need is None else f"{need / budget:.3f}"])
        if run is not base:
            ok = need is not None and need <= af.GOAL_FRACTION * budget
            why = ("never reached it" if need is None else
                   f"reached it after {need} epochs = {need / budget:.3f} of the no-stopping run's {budget}")
            verdicts.append(f"- **{run.label}: {'PASS' if ok else 'FAIL'}** — {why} (final HV {run.final_hv:.4f} "
                            f"= {run.final_hv / target:.3f} × no stopping's, with {run.epochs_total / budget:.2f} "
                            f"of its epochs).")
    headers = ["run", "epochs trained", "÷ no-stop", "wall s", "trials", "front size", "final HV", "HV ÷ no-stop",
               f"epochs to HV ≥ {(1 - HV_TOL) * target:.4f}", "÷ no-stop epochs"]
    table = markdown_table(headers, rows)
    notes = []
    for run in runs[1:]:
        shared, worst = af.paired_check(base, run)
        notes.append(f"- Pairing check, {run.label} vs no stopping: {shared} trials have epochs in both runs; largest "
                     f"|val accuracy difference| at the same (trial, epoch) = {worst:.2g}"
                     + (" (identical curves)." if worst == 0 else "."))
        lost = sorted({n for n, _, _ in base.front} - set(complete_values(run)))
        if lost:
            notes.append(f"- No-stopping front trials that {run.label} did not complete: "
                         + ", ".join(f"#{n}" for n in lost) + ".")
    goal_line = (f"Goal: a stopping run's normalised hypervolume (COMPLETE trials only) reaches ≥ (1 − {HV_TOL}) × the "
                 f"no-stopping run's final HV = {(1 - HV_TOL) * target:.4f} within {af.GOAL_FRACTION:.3g} of the "
                 f"no-stopping run's epochs, i.e. ≤ {af.GOAL_FRACTION * budget:.1f} of {budget}.")

    lines = [
        *af.report_header("Multi-objective ASHA on the Fashion-MNIST MLP: accuracy vs parameter count, hypervolume "
                          "vs epochs", args.quick, load_start, f"{total_s:.0f} s in all"),
        f"Setup: `MLPRecipe(dataset=\"{dataset}\", epochs={args.epochs}, seed=0)` on the first {n_train} training "
        f"examples (validation set whole), two objectives reported every epoch as `trial.report([accuracy, params])`: "
        f"validation accuracy (maximise) and parameter count (minimise); {args.trials} trials per run, "
        f"RandomSampler(seed={args.seed}), {args.jobs} worker(s), SQLite. "
        f"MO-ASHA = ASHA(min_resource=1, reduction_factor=3, max_resource={args.epochs}) in the two-objective study "
        f"(non-dominated sorting of the report vectors at each rung, crowding-distance tie-break); "
        f"Hyperband(min_resource=1, max_resource={args.epochs}, reduction_factor=3) on the same rule.", "",
        "Definitions: *front* = the non-dominated COMPLETE trials (all epochs run); *HV* = hypervolume of that front "
        f"in (1 − accuracy, params), normalised with ideal = ({ideal[0]:.4f}, {ideal[1]:.0f}) and reference = "
        f"({reference[0]:.4f}, {reference[1]:.0f}) (the ideal and nadir points of the front of every run's COMPLETE "
        "trials together, the nadir pushed out by 10% of the range); *epochs to HV* = cumulative epochs trained by "
        "all trials, in time order, when the HV first reached "
        f"(1 − {HV_TOL}) × the no-stopping run's final HV.", "",
        table, "",
        goal_line, "",
        *verdicts, "",
        *notes, "",
        f"![normalised hypervolume vs epochs, and the fronts]({os.path.basename(png_path)})", "",
    ]
    return af.write_report(lines, md_path, png_path, lambda path: plot(
        runs, target, budget, path,
        f"{dataset} ({n_train} train): {args.trials} trials × ≤{args.epochs} epochs, seed {args.seed}"))


if __name__ == "__main__":
    main()
