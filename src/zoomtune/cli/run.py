"""`zoomtune run study.yaml`: run any study described in YAML."""

from __future__ import annotations

from pathlib import Path

import click

from zoomtune.cli.common import DEFAULT_STORAGE, EXIT_STATUS_HELP, console, remember_study, storage_option


@click.command(epilog=EXIT_STATUS_HELP)
@click.argument("study_file", type=click.Path(path_type=Path, dir_okay=False))
@storage_option
@click.option("-n", "--n-trials", type=click.IntRange(min=1), default=None,
              help="Run N more trials in this invocation, on top of those the study has (default: what the study "
                   "lacks of the file's n_trials, which is the study's total).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop starting trials after this many seconds.")
@click.option("-j", "--jobs", type=int, default=None, help="Trials in parallel (-1: all cores).")
@click.option("--seed", type=int, default=None,
              help="Sampler seed (same seed, same trials) for a new study; a study keeps the seed it was created "
                   "with (an unseeded one, the seed it drew).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def run(study_file: Path, storage: str | None, n_trials: int | None, timeout: float | None, jobs: int | None,
        seed: int | None, quiet: bool) -> None:
    """Run the study described in STUDY_FILE (YAML).

    The file's n_trials is the study's total: an existing study of that name is continued with
    the trials it lacks (its interrupted trials re-run first, from their last checkpoint), with the
    sampler, scheduler and seeds it was created with.
    """
    from zoomtune.cli.runs import (describe_standing, print_best, requeue_interrupted, run_trials, standing,
                                   total_reached)
    from zoomtune.errors import ConfigError
    from zoomtune.studyfile import check_jobs, check_seconds, load_study_file, open_study

    if timeout is not None:  # refused before the study exists: inf would run forever, NaN never stops
        check_seconds("--timeout", timeout, "zoomtune run")
    if jobs is not None:
        check_jobs(jobs, "zoomtune run", "--jobs")
    spec = load_study_file(study_file)
    if seed is not None:
        spec.seed = seed
    url = storage or spec.storage or DEFAULT_STORAGE
    limit = timeout or spec.timeout
    if n_trials is None and spec.n_trials is None and limit is None:
        raise ConfigError("n_trials", "set n_trials or timeout in the file, or pass --n-trials / --timeout",
                          None, str(study_file))
    opened = open_study(url, spec=spec)
    study = opened.study
    remember_study(study.name)
    out = console()
    before = len(study.trials)
    requeued = requeue_interrupted(study)
    state = standing(study, spec.n_trials)
    trials = n_trials if n_trials is not None else state.lacking
    if trials == 0:
        out.print(f"study [bold]{study.name}[/] in {url} has its {spec.n_trials} trials (the file's n_trials); "
                  "nothing to run: pass --n-trials N to run N more")
        print_best(study, out)
        return
    what = f"{trials} more trials" if trials is not None else f"as many trials as fit in {limit:g} s"
    how = " (--n-trials)" if n_trials is not None else ""
    summary = describe_standing(state, requeued, study.heartbeat_interval)
    out.print(f"study [bold]{study.name}[/] in {url}: {before} trials so far ({summary}); running {what}{how} "
              f"with {study.sampler!r}"
              + (f" and {study.scheduler!r}" if study.scheduler is not None else ""))
    tally = run_trials(study, opened.objective, n_trials=trials, timeout=limit,
                       jobs=jobs if jobs is not None else spec.jobs, quiet=quiet,
                       until=total_reached(study, spec.n_trials) if n_trials is None else None)
    print_best(study, out)
    out.print(f"results: {url} (study {study.name!r}); see them with `zoomtune status {study.name}`")
    tally.exit_if_nothing_completed(out, study.name)
