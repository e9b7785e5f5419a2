"""Panda mode on the command line: babysit, nudge, branch, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zoomtune.cli.common import DEFAULT_STORAGE, console, open_existing_storage, storage_option


def parse_assignments(study: Any, trial_number: int, pairs: tuple[str, ...]) -> dict[str, Any]:
    """`name=value` words as values of the trial's own distributions (a choice by its text)."""
    from zoomtune.errors import ConfigError, SearchSpaceError
    from zoomtune.space import Categorical, Int
    from zoomtune.study import distribution_of

    record = study.trial(trial_number)
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ConfigError("assignment", "must look like name=value", pair)
        dist = distribution_of(record, name, text)
        if isinstance(dist, Categorical):
            matches = [c for c in dist.choices if str(c) == text]
            if not matches:
                raise SearchSpaceError(f"must be one of {[str(c) for c in dist.choices]}", repr(text), param=name)
            out[name] = matches[0]
            continue
        try:
            out[name] = int(text) if isinstance(dist, Int) else float(text)
        except ValueError:
            raise SearchSpaceError(f"must be {'an integer' if isinstance(dist, Int) else 'a number'}", repr(text),
                                   param=name) from None
    return out


def _study(name: str, storage: str | None) -> Any:
    from zoomtune.study import load_study

    return load_study(name, storage=open_existing_storage(storage))


@click.command()
@click.argument("study")
@click.argument("trial", type=int)
@click.argument("assignments", nargs=-1, required=True)
@storage_option
def nudge(study: str, trial: int, assignments: tuple[str, ...], storage: str | None) -> None:
    """Change hyperparameters of a RUNNING trial (e.g. lr=0.003); it takes them at its next report."""
    loaded = _study(study, storage)
    params = parse_assignments(loaded, trial, assignments)
    loaded.nudge(trial, params)
    console().print(f"nudged trial {trial} of {study}: " + ", ".join(f"{k}={v}" for k, v in params.items())
                    + " (applied at its next report)")


@click.command()
@click.argument("study")
@click.argument("trial", type=int)
@click.argument("assignments", nargs=-1)
@click.option("--step", type=click.IntRange(min=0), default=None,
              help="Start from the parent's checkpoint at this step (default: its latest).")
@storage_option
def branch(study: str, trial: int, assignments: tuple[str, ...], step: int | None, storage: str | None) -> None:
    """Queue a new trial from TRIAL's checkpoint with changed hyperparameters (e.g. lr=0.003)."""
    loaded = _study(study, storage)
    number = loaded.branch(trial, step=step, overrides=parse_assignments(loaded, trial, assignments))
    console().print(f"queued trial {number}, branched from trial {trial}"
                    + (f" at step {step}" if step is not None else "")
                    + f"; `zoomtune resume {study}` or any worker runs it next")




@click.command()
@click.argument("study_file", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("assignments", nargs=-1)
@storage_option
def babysit(study_file: Path, assignments: tuple[str, ...], storage: str | None) -> None:
    """Run one trial of STUDY_FILE in the foreground with a live learning curve (name=value fixes a value)."""
    from zoomtune import panda
    from zoomtune.errors import ConfigError
    from zoomtune.study import create_study
    from zoomtune.studyfile import load_study_file

    spec = load_study_file(study_file)
    url = storage or spec.storage or DEFAULT_STORAGE
    study = create_study(spec.name, direction=spec.direction, storage=url, sampler=spec.build_sampler(),
                         scheduler=spec.build_scheduler(), space=spec.space, load_if_exists=True, attrs=spec.attrs())
    fixed: dict[str, Any] = {}
    for pair in assignments:
        name, sep, text = pair.partition("=")
        if not sep:
            raise ConfigError("assignment", "must look like name=value", pair)
        fixed[name] = _literal(text)
    _run_live(study, lambda: panda.babysit(study, spec.load_objective(), fixed or None))


def _literal(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _run_live(study: Any, run: Any) -> None:
    out = console()
    try:
        record = run()
    except KeyboardInterrupt:
        last = study.trials[-1]
        out.print(f"[yellow]interrupted[/]: trial {last.number} stopped at step {last.last_step}; its checkpoints "
                  f"are kept. Continue it with `zoomtune resume {study.name} {last.number}`")
        raise SystemExit(130) from None
    out.print(f"trial {record.number} ended {record.state.value}"
              + (f" with value {record.value:.6g}" if record.value is not None else "")
              + (f": {record.error}" if record.error else ""))


@click.command()
@click.argument("study")
@click.argument("trial", type=int, required=False)
@storage_option
def resume(study: str, trial: int | None, storage: str | None) -> None:
    """Continue an interrupted TRIAL from its last checkpoint, or the whole STUDY (queued and crashed trials)."""
    from zoomtune import panda

    from zoomtune.studyfile import StudySpec

    loaded = _study(study, storage)
    objective = StudySpec.from_attrs(loaded.name, loaded.attrs, loaded.direction.value).load_objective()
    if trial is not None:
        _run_live(loaded, lambda: panda.resume(loaded, trial, objective))
        return
    loaded.reap_stale_trials()
    children = {t.parent for t in loaded.trials if t.parent is not None}
    for record in loaded.trials:
        if panda.interrupted(record) and record.number not in children:
            loaded.branch(record.number, reason="resume")
    waiting = [t for t in loaded.trials if t.state.value == "WAITING"]
    console().print(f"resuming {study}: {len(waiting)} queued trials")
    if waiting:
        loaded.optimize(objective, n_trials=len(waiting), show_progress_bar=True)
