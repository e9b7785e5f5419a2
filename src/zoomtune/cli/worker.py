"""`zoomtune worker STUDY`: join a study shared through SQLite or PostgreSQL, from any machine."""

from __future__ import annotations

import click

from zoomtune.cli.common import DEFAULT_STORAGE, console, open_existing_storage, storage_option


@click.command()
@click.argument("study")
@storage_option
@click.option("--objective", default=None, metavar="MODULE:FUNCTION",
              help="The objective (default: the one the study's file named).")
@click.option("-n", "--n-trials", type=click.IntRange(min=1), default=None,
              help="Trials this worker runs (default: the study file's n_trials).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop starting trials after this many seconds.")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Trials in parallel on this machine.")
@click.option("--max-retries", type=click.IntRange(min=0), default=0, show_default=True,
              help="Re-run a trial whose worker died this many times, from its last checkpoint.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def worker(study: str, storage: str | None, objective: str | None, n_trials: int | None, timeout: float | None,
           jobs: int, max_retries: int, quiet: bool) -> None:
    """Run trials of STUDY alongside other workers: same sampler, same storage, no trial lost or repeated."""
    from zoomtune.errors import ConfigError
    from zoomtune.study import load_study
    from zoomtune.studyfile import StudySpec

    url = storage or DEFAULT_STORAGE
    backend = open_existing_storage(url)
    shared = load_study(study, storage=backend)
    spec = StudySpec.from_attrs(study, {**shared.attrs, **({"objective": objective} if objective else {})},
                                shared.direction.value)
    function = spec.load_objective()
    trials = n_trials or spec.n_trials
    if trials is None and timeout is None:
        raise ConfigError("--n-trials", "give --n-trials or --timeout (the study does not say how many)")
    joined = load_study(study, storage=backend, sampler=spec.build_sampler(), scheduler=spec.build_scheduler(),
                        max_retries=max_retries)
    out = console()
    out.print(f"worker joins study [bold]{study}[/] in {url} ({len(joined.trials)} trials so far)")
    joined.optimize(function, n_trials=trials, timeout=timeout, n_jobs=jobs, show_progress_bar=not quiet)
    out.print(f"worker done: the study has {len(joined.trials)} trials; `zoomtune status {study}`")
