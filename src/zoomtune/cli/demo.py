"""`zoomtune demo`: the main job. Tune a batch-norm network on Fashion-MNIST and show the result."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

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
    from zoomtune.study import Study


def _load_recipe(quick: bool, epochs: int | None, seed: int) -> tuple[MLPRecipe, Dataset]:
    from zoomtune.errors import ConfigError

    try:
        from zoomtune.nn import datasets
        from zoomtune.nn.recipes import MLPRecipe
    except ImportError:
        raise ConfigError("demo", "needs PyTorch: run ./scripts/setup.sh, or pip install torch==2.13.0 "
                                  "'zoomtune[torch]'") from None
    recipe = MLPRecipe(dataset="digits" if quick else "fashion-mnist", epochs=epochs or (6 if quick else 12),
                       seed=seed)
    return recipe, datasets.load(recipe.dataset)  # loaded before workers fork, so they share it


@click.command(epilog=EXIT_STATUS_HELP)
@storage_option
@click.option("--minutes", type=click.FloatRange(min=0.1), default=4.0, show_default=True,
              help="Time to spend starting trials (running ones finish after it).")
@click.option("-j", "--jobs", type=int, default=-1, show_default=True, help="Trials in parallel (-1: all cores).")
@click.option("--epochs", type=click.IntRange(min=2), default=None,
              help="Epochs of a trial that is never stopped early (default 12).")
@click.option("-n", "--n-trials", type=click.IntRange(min=1), default=None, help="Stop after this many trials.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampler seed.")
@click.option("--quick", is_flag=True, help="A seconds-long run on the tiny digits dataset (12 trials of at most 6 "
                                            "epochs; for tests).")
@click.option("-o", "--report", "report_path", type=click.Path(dir_okay=False, writable=True), default="report.html",
              show_default=True, help="Where to write the HTML report of the run (needs the dashboard extra).")
def demo(storage: str | None, minutes: float, jobs: int, epochs: int | None, n_trials: int | None, seed: int,
         quick: bool, report_path: str) -> None:
    """Tune a batch-norm MLP on Fashion-MNIST: a Gaussian process on the right scales, ASHA, all cores,
    SQLite; print the best trial, which hyperparameters mattered, and write report.html."""
    from rich.table import Table

    from zoomtune.executors import resolve_jobs
    from zoomtune.importance import describe, importance
    from zoomtune.samplers import GPSampler
    from zoomtune.schedulers import ASHA
    from zoomtune.study import create_study
    from zoomtune.studyfile import check_jobs, check_seconds

    check_seconds("--minutes", minutes, "zoomtune demo")  # inf would run for ever
    check_jobs(jobs, "zoomtune demo", "--jobs")

    out = console()
    recipe, data = _load_recipe(quick, epochs, seed)
    url = storage or DEFAULT_STORAGE
    name = f"demo-{recipe.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    workers = resolve_jobs(jobs)
    scheduler = ASHA(min_resource=2, reduction_factor=3, max_resource=recipe.epochs, seed=seed)
    study = create_study(name, direction="maximize", storage=url, scheduler=scheduler,
                         sampler=GPSampler(seed=seed, n_startup_trials=4 if quick else 10))
    remember_study(name)
    trials_wanted = n_trials if n_trials else (12 if quick else None)
    rungs = [r for r in (scheduler.min_resource * scheduler.reduction_factor ** k for k in range(8))
             if r < recipe.epochs]
    words = [str(r) for r in rungs]
    stops = " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words) or "no epoch"
    budget = f"{minutes:g} min budget" if trials_wanted is None else f"{trials_wanted} trials (at most {minutes:g} min)"
    out.print(f"[bold]zoomtune demo{' --quick' if quick else ''}[/]: tuning a batch-norm MLP on {data.name} "
              f"({len(data.x_train)} train / {len(data.x_val)} validation / {len(data.x_test)} test), "
              f"up to {recipe.epochs} epochs per trial (ASHA stops the weak ones at {stops}), {workers} workers, "
              f"a Gaussian process on log / log1m scales, {budget}")
    started = time.monotonic()
    tally = RunTally()
    study.optimize(recipe, n_trials=trials_wanted, timeout=minutes * 60, n_jobs=workers, show_progress_bar=True,
                   callbacks=[tally])
    elapsed = time.monotonic() - started
    tally.exit_if_nothing_completed(out, name)
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
    mattered = describe(importance(trials, study.direction))
    if mattered:
        out.print(mattered, markup=False, highlight=False)
    out.print(f"results: study {name!r} in {url}; `zoomtune status {name} --best` lists every trial")
    out.print(_write_report(study, report_path))


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
