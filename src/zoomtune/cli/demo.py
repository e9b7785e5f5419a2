"""`zoomtune demo`: the main job. Tune a batch-norm network on Fashion-MNIST and show the result.

`--objectives accuracy,size` tunes validation accuracy against model size (its number of parameters)
instead, with NSGA-II, and prints the Pareto front: the trials no other beats on both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import click

from zoomtune.cli.common import (
    DEFAULT_STORAGE,
    EXIT_STATUS_HELP,
    RunTally,
    console,
    fmt_value,
    remember_study,
    storage_option,
)

if TYPE_CHECKING:
    from zoomtune.nn.datasets import Dataset
    from zoomtune.nn.recipes import MLPRecipe
    from zoomtune.records import Direction
    from zoomtune.study import Study
    from zoomtune.trial import Trial


class DemoObjective(str, Enum):
    """What `--objectives` may name: the validation accuracy (maximised) and the model's size, its number of
    parameters (minimised)."""

    ACCURACY = "accuracy"
    SIZE = "size"

    @property
    def direction(self) -> Direction:
        from zoomtune.records import Direction

        return Direction.MAXIMIZE if self is DemoObjective.ACCURACY else Direction.MINIMIZE

    @property
    def meaning(self) -> str:
        return "validation accuracy" if self is DemoObjective.ACCURACY else "size in parameters"

    @property
    def extreme(self) -> str:
        """What the front's best trial for this objective is called."""
        return "most accurate" if self is DemoObjective.ACCURACY else "smallest"


def parse_objectives(text: str) -> tuple[DemoObjective, ...]:
    """`--objectives` ("accuracy", "accuracy,size") as objectives in that order; `ConfigError` otherwise
    (accuracy must be among them: size alone is won by the smallest network, whatever it learns)."""
    from zoomtune.errors import ConfigError

    words = [word.strip() for word in text.split(",")]
    known = [o.value for o in DemoObjective]
    if any(word not in known for word in words) or len(set(words)) != len(words) or "accuracy" not in words:
        raise ConfigError("--objectives", f"must be accuracy, or accuracy and size separated by a comma "
                                          f"(accuracy,size); each of {', '.join(known)} at most once", text)
    return tuple(DemoObjective(word) for word in words)


@dataclass(frozen=True)
class RecipeObjectives:
    """The recipe as an objective of several values: each of `objectives`, in that order (the size is the
    parameter count the recipe records)."""

    recipe: MLPRecipe
    objectives: tuple[DemoObjective, ...]

    def __call__(self, trial: Trial) -> tuple[float, ...]:
        from zoomtune.nn.recipes import PARAMETERS_ATTR

        accuracy = self.recipe(trial)
        values = {DemoObjective.ACCURACY: accuracy, DemoObjective.SIZE: float(trial.user_attrs[PARAMETERS_ATTR])}
        return tuple(values[o] for o in self.objectives)


def _load_recipe(quick: bool, epochs: int, seed: int) -> tuple[MLPRecipe, Dataset]:
    from zoomtune.errors import ConfigError

    try:
        from zoomtune.nn import datasets
        from zoomtune.nn.recipes import MLPRecipe
    except ImportError:
        raise ConfigError("demo", "needs PyTorch: run ./scripts/setup.sh, or pip install torch==2.13.0 "
                                  "'zoomtune[torch]'") from None
    recipe = MLPRecipe(dataset="digits" if quick else "fashion-mnist", epochs=epochs, seed=seed)
    return recipe, datasets.load(recipe.dataset)  # loaded before workers fork, so they share it


@click.command(epilog=EXIT_STATUS_HELP)
@storage_option
@click.option("--minutes", type=click.FloatRange(min=0.1), default=4.0, show_default=True,
              help="Time to spend starting trials (running ones finish after it).")
@click.option("-j", "--jobs", type=int, default=-1, show_default=True, help="Trials in parallel (-1: all cores).")
@click.option("--epochs", type=click.IntRange(min=2), default=None,
              help="Epochs of a trial that is never stopped early (default 12; with --objectives accuracy,size 6, "
                   "as no trial is stopped early).")
@click.option("-n", "--n-trials", type=click.IntRange(min=1), default=None, help="Stop after this many trials.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampler seed.")
@click.option("--quick", is_flag=True, help="A seconds-long run on the tiny digits dataset (12 trials of at most 6 "
                                            "epochs; for tests).")
@click.option("--objectives", default="accuracy", show_default=True,
              help="What to tune for: accuracy, or accuracy,size to trade validation accuracy against the number of "
                   "parameters (NSGA-II; prints the Pareto front).")
@click.option("-o", "--report", "report_path", type=click.Path(dir_okay=False, writable=True), default="report.html",
              show_default=True, help="Where to write the HTML report of the run (needs the dashboard extra).")
def demo(storage: str | None, minutes: float, jobs: int, epochs: int | None, n_trials: int | None, seed: int,
         quick: bool, objectives: str, report_path: str) -> None:
    """Tune a batch-norm MLP on Fashion-MNIST: a Gaussian process on the right scales, ASHA, all cores,
    SQLite; print the best trial, which hyperparameters mattered, and write report.html. With
    --objectives accuracy,size: NSGA-II for accuracy against size, and the Pareto front."""
    from zoomtune.executors import resolve_jobs
    from zoomtune.studyfile import check_jobs, check_seconds

    check_seconds("--minutes", minutes, "zoomtune demo")  # inf would run for ever
    check_jobs(jobs, "zoomtune demo", "--jobs")
    wanted = parse_objectives(objectives)
    several = len(wanted) > 1
    out = console()
    default_epochs = (4 if quick else 6) if several else (6 if quick else 12)  # several: none is stopped early
    recipe, data = _load_recipe(quick, epochs or default_epochs, seed)
    run = DemoRun(out, storage or DEFAULT_STORAGE, f"demo-{recipe.dataset}-{time.strftime('%Y%m%d-%H%M%S')}",
                  resolve_jobs(jobs), minutes, n_trials if n_trials else (12 if quick else None),
                  f"zoomtune demo{' --quick' if quick else ''}", data)
    if several:
        _tune_front(run, recipe, wanted, seed, quick)
    else:
        _tune_accuracy(run, recipe, seed, quick)
    out.print(_write_report(run.study, report_path))


@dataclass
class DemoRun:
    """What both kinds of demo share: where the study goes, how many workers, the budget, and the study once
    made."""

    out: Any
    url: str
    name: str
    workers: int
    minutes: float
    trials_wanted: int | None
    command: str
    data: Dataset
    study: Any = None

    def budget(self) -> str:
        return (f"{self.minutes:g} min budget" if self.trials_wanted is None
                else f"{self.trials_wanted} trials (at most {self.minutes:g} min)")

    def worker_count(self) -> str:
        return f"{self.workers} worker{'s' if self.workers != 1 else ''}"

    def sizes(self) -> str:
        data = self.data
        return f"{len(data.x_train)} train / {len(data.x_val)} validation / {len(data.x_test)} test"

    def optimize(self, objective: Any) -> float:
        """Run the study's trials; the seconds it took (exit status 1, after a line saying so, when every trial
        FAILED)."""
        started = time.monotonic()
        tally = RunTally()
        self.study.optimize(objective, n_trials=self.trials_wanted, timeout=self.minutes * 60, n_jobs=self.workers,
                            show_progress_bar=True, callbacks=[tally])
        elapsed = time.monotonic() - started
        tally.exit_if_nothing_completed(self.out, self.name)
        return elapsed


def _tune_accuracy(run: DemoRun, recipe: MLPRecipe, seed: int, quick: bool) -> None:
    """The main demo: validation accuracy, a GP sampler and ASHA; the top trials and the best one."""
    from rich.table import Table

    from zoomtune.cli.status import importance_lines
    from zoomtune.samplers import GPSampler
    from zoomtune.schedulers import ASHA
    from zoomtune.study import create_study

    out, data, name, url = run.out, run.data, run.name, run.url
    scheduler = ASHA(min_resource=2, reduction_factor=3, max_resource=recipe.epochs, seed=seed)
    study = run.study = create_study(name, direction="maximize", storage=url, scheduler=scheduler,
                                     sampler=GPSampler(seed=seed, n_startup_trials=4 if quick else 10))
    remember_study(name)
    rungs = [r for r in (scheduler.min_resource * scheduler.reduction_factor ** k for k in range(8))
             if r < recipe.epochs]
    words = [str(r) for r in rungs]
    stops = " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words) or "no epoch"
    out.print(f"[bold]{run.command}[/]: tuning a batch-norm MLP on {data.name} ({run.sizes()}), "
              f"up to {recipe.epochs} epochs per trial (ASHA stops the weak ones at {stops}), {run.worker_count()}, "
              f"a Gaussian process on log / log1m scales, {run.budget()}")
    elapsed = run.optimize(recipe)
    try:
        best = study.best_trial
    except ValueError:  # only stopped trials: none trained to the end
        out.print("[red]no trial trained to the end[/]: see `zoomtune status " + name + "`")
        return
    trials = study.trials
    complete = [t for t in trials if t.state.value == "COMPLETE"]
    top = sorted(complete, key=lambda t: -t.value)[:5]  # type: ignore
    table = Table(title=f"top {len(top)} of {len(complete)} fully trained trials by validation accuracy "
                        f"({len(trials) - len(complete)} stopped early or failed)")
    names = list(best.params)
    for column in ("#", "val acc", "test acc", *names):
        table.add_column(column, justify="right")
    for t in top:
        table.add_row(str(t.number), fmt_value(t.value), fmt_value(t.user_attrs.get("test_accuracy")),
                      *(fmt_value(t.params.get(n)) for n in names))
    out.print(table)
    out.print(f"[bold green]best trial #{best.number}[/]: validation accuracy {best.value:.4f}, "
              f"test accuracy {fmt_value(best.user_attrs.get('test_accuracy'))} "
              f"({len(trials)} trials, {sum(len(t.intermediate_values) for t in trials)} epochs in {elapsed:.0f} s)")
    out.print("hyperparameters: " + ", ".join(f"{k}={fmt_value(v)}" for k, v in best.params.items()))
    for line in importance_lines(study, trials):
        out.print(line, markup=False, highlight=False)
    out.print(f"results: study {name!r} in {url}; `zoomtune status {name} --best` lists every trial")


def _tune_front(run: DemoRun, recipe: MLPRecipe, objectives: tuple[DemoObjective, ...], seed: int,
                quick: bool) -> None:
    """Validation accuracy against size with NSGA-II, every trial trained to the end (a trial stopped early
    has no value of its own to put on the front); the front, and its two ends."""
    from zoomtune.cli.front import front_table
    from zoomtune.cli.status import importance_lines
    from zoomtune.samplers import NSGA2Sampler
    from zoomtune.study import create_study

    out, name = run.out, run.name
    population = 4 if quick else 10
    study = run.study = create_study(name, directions=[o.direction for o in objectives],
                                     metric_names=[o.value for o in objectives], storage=run.url,
                                     sampler=NSGA2Sampler(population_size=population, seed=seed))
    remember_study(name)
    words = " and ".join(f"{o.meaning} ({o.direction.value})" for o in objectives)
    out.print(f"[bold]{run.command} --objectives {','.join(o.value for o in objectives)}[/]: tuning a batch-norm "
              f"MLP on {run.data.name} ({run.sizes()}) for {words}, NSGA-II (population {population}) on "
              f"log / log1m scales, {recipe.epochs} epochs per trial (none stopped early), {run.worker_count()}, "
              f"{run.budget()}")
    elapsed = run.optimize(RecipeObjectives(recipe, objectives))
    trials = study.trials
    front = study.best_trials
    if not front:
        out.print(f"[red]no trial trained to the end[/]: see `zoomtune status {name}`")
        return
    out.print(front_table(study, extra={"test acc": lambda t: t.user_attrs.get("test_accuracy")},
                          title=f"Pareto front: {len(front)} of {len(trials)} trials, none beaten on both "
                                f"{' and '.join(o.value for o in objectives)}"))
    ends = []
    for index, objective in enumerate(objectives):
        pick = max if objective.direction.value == "maximize" else min
        end = pick(front, key=lambda t, i=index: t.values[i])  # type: ignore[misc]
        values = ", ".join(f"{o.value} {fmt_value(v)}" for o, v in zip(objectives, end.values or (), strict=True))
        ends.append(f"the {objective.extreme}: #{end.number} ({values})")
    out.print(f"{len(trials)} trials, {sum(len(t.intermediate_values) for t in trials)} epochs in {elapsed:.0f} s; "
              + "; ".join(ends))
    for line in importance_lines(study, trials):
        out.print(line, markup=False, highlight=False)
    out.print(f"results: study {name!r} in {run.url}; `zoomtune status {name} --best` lists the front first, "
              f"`zoomtune dashboard` draws it")


def _write_report(study: Study, path: str) -> str:
    """Write the study's HTML report; one line saying where, or why not (the dashboard extra is missing)."""
    try:
        from zoomtune.dashboard.assets import plotly_js_path
        from zoomtune.report import write_report

        ready = plotly_js_path() is not None
    except ImportError:
        ready = False
    if not ready:
        return ("no report written: the HTML report needs the dashboard extra (pip install 'zoomtune[dashboard]'); "
                "then `zoomtune report STUDY`")
    return f"report: {write_report(study, path)} (open it in a browser, no network needed)"
