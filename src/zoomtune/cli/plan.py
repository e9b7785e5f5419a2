"""`zoomtune plan study.yaml`: panda or caviar, for this machine and a time budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zoomtune.cli.common import DEFAULT_STORAGE, console, storage_option


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Minutes you can spend.")
@storage_option
@click.option("--measure", is_flag=True, help="Time a new trial even when the study has completed trials.")
def plan(study_file: Path, budget: float, storage: str | None, measure: bool) -> None:
    """Say whether to babysit one model or train many in parallel, for this machine and a budget.

    It goes by the study's own COMPLETE trials when the storage (--storage, else the file's, else
    sqlite:///zoomtune.db) has the study, read only; otherwise it times one trial of STUDY_FILE here,
    in memory, its checkpoints in a temporary folder: nothing is written.
    """
    from rich.table import Table

    from zoomtune import plan as planning
    from zoomtune.executors.processes import visible_gpus
    from zoomtune.studyfile import load_study_file

    spec = load_study_file(study_file)
    out = console()
    url = storage or spec.storage or DEFAULT_STORAGE
    past = None if measure else planning.from_history(_past_trials(url, spec.name))
    if past is not None:
        seconds, reports, count = past
        source = f"median of {count} completed trials of {spec.name} in {url}"
    else:
        out.print(f"timing one trial of {spec.name} ({spec.objective}) on this machine ...")
        seconds, reports, state = planning.measure(spec.load_objective(), spec.build_sampler(), spec.directions)
        source = state
    result = planning.make_plan(seconds, reports, planning.cores(), len(visible_gpus()), budget * 60)
    table = Table(title=f"plan for {budget:g} minutes")
    table.add_column("measured / assumed")
    table.add_column("value", justify="right")
    for name, value in [("one trial (seconds)", f"{seconds:.2f} ({source})"), ("reports per trial", str(reports)),
                        ("CPU cores", str(result.cores)), ("GPUs", str(result.gpus)),
                        ("trials in parallel", str(result.parallel)),
                        ("trials in the budget", str(result.total_trials)),
                        ("... with ASHA", str(result.trials_with_asha))]:
        table.add_row(name, value)
    out.print(table)
    out.print(f"[bold]{result.mode}[/]: " + "; ".join(result.advice))


def _past_trials(url: str, name: str) -> list[Any]:
    """The study's trials when the storage exists and has it, else none (nothing is created)."""
    from zoomtune.cli.common import open_existing_storage
    from zoomtune.errors import ConfigError, StudyNotFoundError

    try:
        backend = open_existing_storage(url)
        return backend.get_trials(backend.get_study(name).study_id)  # type: ignore[no-any-return]
    except (ConfigError, StudyNotFoundError):
        return []
