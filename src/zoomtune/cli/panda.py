"""Panda mode on the command line: babysit, nudge, branch, resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from zoomtune.cli.common import (
    DEFAULT_STORAGE,
    EXIT_NO_RESULT,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_STATUS_HELP,
    console,
    open_existing_storage,
    parse_assignments,
    remember_study,
    storage_option,
)


def _study(name: str, storage: str | None) -> Any:
    from zoomtune.study import load_study

    remember_study(name)
    return load_study(name, storage=open_existing_storage(storage))


@click.command()
@click.argument("study")
@click.argument("trial", type=int)
@click.argument("assignments", nargs=-1, required=True)
@storage_option
def nudge(study: str, trial: int, assignments: tuple[str, ...], storage: str | None) -> None:
    """Change hyperparameters of a RUNNING trial (e.g. lr=0.003); it takes them at its next report."""
    loaded = _study(study, storage)
    params = parse_assignments(assignments, loaded.trial(trial).distributions, f"trial {trial}")
    loaded.nudge(trial, params)
    console().print(f"nudged trial {trial} of {study}: " + ", ".join(f"{k}={v}" for k, v in params.items())
                    + " (applied at its next report)")


@click.command()
@click.argument("study")
@click.argument("trial", type=int)
@click.argument("assignments", nargs=-1)
@click.option("--step", type=click.IntRange(min=0), default=None,
              help="Start from the parent's checkpoint at this step, or the latest before it (default: its latest); "
                   "a step past its last report is refused.")
@storage_option
def branch(study: str, trial: int, assignments: tuple[str, ...], step: int | None, storage: str | None) -> None:
    """Queue a new trial from TRIAL's checkpoint with changed hyperparameters (e.g. lr=0.003)."""
    loaded = _study(study, storage)
    overrides = parse_assignments(assignments, loaded.trial(trial).distributions, f"trial {trial}")
    number = loaded.branch(trial, step=step, overrides=overrides)
    used = loaded.trial(number).user_attrs.get("branch_from_step")
    wanted = f" at or before step {step}" if step is not None else ""
    start = (f"from its checkpoint at step {used}" if used is not None
             else f"from scratch: trial {trial} saved no checkpoint{wanted}")
    console().print(f"queued trial {number}, branched from trial {trial} {start}; "
                    f"`zoomtune resume {study}` or any worker runs it next")


def _babysit_distributions(study: Any) -> dict[str, Any] | None:
    """What `babysit` checks name=value against: the declared space, and each other parameter's
    latest distribution among the study's trials; None when nothing is known yet."""
    known: dict[str, Any] = dict(study.space.items()) if study.space is not None else {}
    for record in reversed(study.trials):
        for name, dist in record.distributions.items():
            known.setdefault(name, dist)
    return known or None


@click.command(epilog=EXIT_STATUS_HELP)
@click.argument("study_file", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("assignments", nargs=-1)
@storage_option
def babysit(study_file: Path, assignments: tuple[str, ...], storage: str | None) -> None:
    """Run one new trial of STUDY_FILE in the foreground with a live learning curve (name=value fixes a
    value; it must be a parameter of the study's space, or of its trials, and lie in its range).
    Trials already queued stay queued."""
    from zoomtune import panda
    from zoomtune.studyfile import load_study_file, open_study

    spec = load_study_file(study_file)
    url = storage or spec.storage or DEFAULT_STORAGE
    remember_study(spec.name)
    opened = open_study(url, spec=spec)
    study = opened.study
    # refused here, before a trial exists
    fixed = parse_assignments(assignments, _babysit_distributions(study), f"study {study.name!r}")
    number = study.enqueue(fixed)
    _run_live(study, number, lambda: panda.run_queued(study, number, opened.objective))


def _run_live(study: Any, number: int | Callable[[], int | None], run: Callable[[], Any]) -> None:
    """Run one trial in the foreground and say how it ended; exit 1 if it FAILED, 130 / 143 if interrupted."""
    from zoomtune.errors import Interrupted
    from zoomtune.records import TrialState

    out = console()
    try:
        record = run()
    except KeyboardInterrupt as error:
        which = number if isinstance(number, int) else number()
        if which is None:
            raise
        last = study.trial(which)
        how = f"by {error.signal_name}" if isinstance(error, Interrupted) else "by Ctrl-C"
        out.print(f"[yellow]interrupted {how}[/]: trial {which} stopped at step {last.last_step}; its checkpoints "
                  f"are kept. Continue it with `zoomtune resume {study.name} {which}`")
        sigterm = isinstance(error, Interrupted) and error.signal_name == "SIGTERM"
        raise SystemExit(EXIT_SIGTERM if sigterm else EXIT_SIGINT) from None
    out.print(f"trial {record.number} ended {record.state.value}"
              + (f" with value {record.value:.6g}" if record.value is not None else "")
              + (f": {record.error}" if record.error else ""))
    if record.state is TrialState.FAILED:
        raise SystemExit(EXIT_NO_RESULT)


@click.command(epilog=EXIT_STATUS_HELP)
@click.argument("study")
@click.argument("trial", type=int, required=False)
@storage_option
@click.option("--objective", default=None, metavar="MODULE:FUNCTION",
              help="The objective (default: the one the study's file named).")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Trials in parallel (-1: all cores).")
def resume(study: str, trial: int | None, storage: str | None, objective: str | None, jobs: int) -> None:
    """Continue an interrupted TRIAL from its last checkpoint, or the whole STUDY: re-run its
    interrupted trials (from their checkpoints), its queued ones, and as many new ones as it lacks
    of its file's n_trials (the study's total), with its own sampler, scheduler and seeds."""
    from zoomtune import panda
    from zoomtune.cli.runs import describe_standing, requeue_interrupted, run_trials, standing, total_reached
    from zoomtune.studyfile import check_jobs, open_study

    check_jobs(jobs, "zoomtune resume", "--jobs")
    remember_study(study)
    opened = open_study(open_existing_storage(storage), study, objective=objective)
    loaded = opened.study
    if trial is not None:
        loaded.trial(trial)  # an unknown trial is refused before anything else

        def child() -> int | None:
            children = [t.number for t in loaded.trials if t.parent == trial]
            return children[-1] if children else None

        _run_live(loaded, child, lambda: panda.resume(loaded, trial, opened.objective))
        return
    requeued = requeue_interrupted(loaded)
    state = standing(loaded, opened.spec.n_trials)
    todo = state.lacking if state.lacking is not None else state.waiting
    out = console()
    out.print(f"resuming {study}: {describe_standing(state, requeued, loaded.heartbeat_interval)}; running {todo} "
              f"trial{'s' if todo != 1 else ''} ({state.waiting} queued) with {loaded.sampler!r}"
              + (f" and {loaded.scheduler!r}" if loaded.scheduler is not None else ""))
    if todo:
        tally = run_trials(loaded, opened.objective, n_trials=todo, jobs=jobs,
                           until=total_reached(loaded, opened.spec.n_trials))
        out.print(f"resumed {study}: {standing(loaded, opened.spec.n_trials).finished} trials finished; "
                  f"`zoomtune status {study}`")
        tally.exit_if_nothing_completed(out, study)
