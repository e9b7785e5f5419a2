"""`zoomtune run study.yaml`: run any study described in YAML."""

from __future__ import annotations

from pathlib import Path

import click

from zoomtune.cli.common import DEFAULT_STORAGE, console, fmt_value, storage_option


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path, dir_okay=False))
@storage_option
@click.option("-n", "--n-trials", type=click.IntRange(min=1), default=None, help="Trials to run (overrides the file).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop starting trials after this many seconds.")
@click.option("-j", "--jobs", type=int, default=None, help="Trials in parallel (-1: all cores).")
@click.option("--seed", type=int, default=None, help="Sampler seed (same seed, same trials).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def run(study_file: Path, storage: str | None, n_trials: int | None, timeout: float | None, jobs: int | None,
        seed: int | None, quiet: bool) -> None:
    """Run the study described in STUDY_FILE (YAML); an existing study of that name is continued."""
    from zoomtune.errors import ConfigError
    from zoomtune.study import create_study
    from zoomtune.studyfile import load_study_file

    spec = load_study_file(study_file)
    if seed is not None:
        spec.seed = seed
    objective = spec.load_objective()
    url = storage or spec.storage or DEFAULT_STORAGE
    trials = n_trials or spec.n_trials
    limit = timeout or spec.timeout
    if trials is None and limit is None:
        raise ConfigError("n_trials", "set n_trials or timeout in the file, or pass --n-trials / --timeout",
                          None, str(study_file))
    study = create_study(spec.name, direction=spec.direction, storage=url, sampler=spec.build_sampler(),
                         scheduler=spec.build_scheduler(), space=spec.space, load_if_exists=True,
                         attrs=spec.attrs())
    out = console()
    before = len(study.trials)
    out.print(f"study [bold]{study.name}[/] in {url}: {before} trials so far; running "
              f"{trials if trials else 'as many as fit in'}{' trials' if trials else f' {limit:g} s'} "
              f"with {study.sampler!r}")
    study.optimize(objective, n_trials=trials, timeout=limit, n_jobs=jobs if jobs is not None else spec.jobs,
                   show_progress_bar=not quiet)
    print_best(study, out)
    out.print(f"results: {url} (study {study.name!r}); see them with `zoomtune status {study.name}`")


def print_best(study: object, out: object) -> None:
    """Print the best trial's number, value and parameters."""
    from rich.table import Table

    try:
        best = study.best_trial  # type: ignore[attr-defined]
    except ValueError:
        out.print("[red]no trial completed[/]")  # type: ignore[attr-defined]
        return
    table = Table(title=f"best trial: #{best.number}, value {fmt_value(best.value)}", show_header=True)
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for name, value in best.params.items():
        table.add_row(name, fmt_value(value))
    out.print(table)  # type: ignore[attr-defined]
