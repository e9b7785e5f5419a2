"""`zoomtune plan study.yaml`: panda or caviar, for this machine and a time budget."""

from __future__ import annotations

from pathlib import Path

import click

from zoomtune.cli.common import console


@click.command()
@click.argument("study_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Minutes you can spend.")
def plan(study_file: Path, budget: float) -> None:
    """Time one trial of STUDY_FILE here and say whether to babysit one model or train many in parallel."""
    from rich.table import Table

    from zoomtune import plan as planning
    from zoomtune.executors.processes import visible_gpus
    from zoomtune.studyfile import load_study_file

    spec = load_study_file(study_file)
    out = console()
    out.print(f"timing one trial of {spec.name} ({spec.objective}) on this machine ...")
    seconds, reports, state = planning.measure(spec.load_objective(), spec.build_sampler(), spec.direction)
    result = planning.make_plan(seconds, reports, planning.cores(), len(visible_gpus()), budget * 60)
    table = Table(title=f"plan for {budget:g} minutes")
    table.add_column("measured / assumed")
    table.add_column("value", justify="right")
    for name, value in [("one trial (seconds)", f"{seconds:.2f} ({state})"), ("reports per trial", str(reports)),
                        ("CPU cores", str(result.cores)), ("GPUs", str(result.gpus)),
                        ("trials in parallel", str(result.parallel)),
                        ("trials in the budget", str(result.total_trials)),
                        ("... with ASHA", str(result.trials_with_asha))]:
        table.add_row(name, value)
    out.print(table)
    out.print(f"[bold]{result.mode}[/]: " + "; ".join(result.advice))
