"""`zoomtune worker STUDY`: join a study shared through SQLite or PostgreSQL, from any machine."""

from __future__ import annotations

import click

from zoomtune.cli.common import (
    DEFAULT_STORAGE,
    EXIT_STATUS_HELP,
    console,
    open_existing_storage,
    remember_study,
    storage_option,
)


@click.command(epilog=EXIT_STATUS_HELP)
@click.argument("study")
@storage_option
@click.option("--objective", default=None, metavar="MODULE:FUNCTION",
              help="The objective (default: the one the study's file named).")
@click.option("-n", "--n-trials", type=click.IntRange(min=1), default=None,
              help="Trials this worker runs (default: what the study lacks of its file's n_trials; workers running "
                   "together stop when the study has them all).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop starting trials after this many seconds.")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Trials in parallel on this machine.")
@click.option("--max-retries", type=click.IntRange(min=0), default=0, show_default=True,
              help="Re-run a trial whose worker died this many times, from its last checkpoint.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def worker(study: str, storage: str | None, objective: str | None, n_trials: int | None, timeout: float | None,
           jobs: int, max_retries: int, quiet: bool) -> None:
    """Run trials of STUDY alongside other workers: the study's own sampler, scheduler and seeds, same
    storage, no trial lost or repeated."""
    from zoomtune.cli.runs import run_trials, standing, total_reached
    from zoomtune.errors import ConfigError
    from zoomtune.studyfile import check_jobs, check_seconds, open_study

    if timeout is not None:
        check_seconds("--timeout", timeout, "zoomtune worker")
    check_jobs(jobs, "zoomtune worker", "--jobs")
    url = storage or DEFAULT_STORAGE
    remember_study(study)
    opened = open_study(open_existing_storage(url), study, objective=objective, max_retries=max_retries)
    joined = opened.study
    joined.reap_stale_trials()
    lacking = standing(joined, opened.spec.n_trials).lacking
    trials = n_trials if n_trials is not None else lacking
    if trials is None and timeout is None:
        raise ConfigError("--n-trials", "give --n-trials or --timeout (the study does not say how many)")
    out = console()
    if trials == 0:
        out.print(f"study [bold]{study}[/] has its {opened.spec.n_trials} trials; nothing to run "
                  "(pass --n-trials N to run N more)")
        return
    out.print(f"worker joins study [bold]{study}[/] in {url} ({len(joined.trials)} trials so far) with "
              f"{joined.sampler!r}" + (f" and {joined.scheduler!r}" if joined.scheduler is not None else ""))
    until = total_reached(joined, opened.spec.n_trials) if n_trials is None else None  # -n N: N more, as asked
    tally = run_trials(joined, opened.objective, n_trials=trials, timeout=timeout, jobs=jobs, quiet=quiet,
                       until=until)
    out.print(f"worker done: the study has {len(joined.trials)} trials; `zoomtune status {study}`")
    tally.exit_if_nothing_completed(out, study)
