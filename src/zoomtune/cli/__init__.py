"""The `zoomtune` command. Commands import the library lazily so `zoomtune --help` starts fast.

User errors (any `ZoomtuneError`) print one line on stderr and exit with status 2. Ctrl-C
(SIGINT) and SIGTERM stop a run (its running trials end FAILED, cause INTERRUPTED, and its worker
processes are stopped), print one line and exit with status 130 and 143.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from zoomtune.cli.common import (
    CONTEXT_SETTINGS,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_STATUS_HELP,
    EXIT_USER_ERROR,
    remembered_resume_hint,
    remembered_study,
)


class ZoomtuneGroup(click.Group):
    """A click group that turns user errors into one clear line and exit status 2, and an
    interrupt into one line and exit status 130 (SIGINT) or 143 (SIGTERM)."""

    def invoke(self, ctx: click.Context) -> Any:
        from zoomtune.errors import Interrupted, ZoomtuneError
        from zoomtune.executors import sigterm_interrupts  # for the whole command: babysit and one-job runs too

        try:
            with sigterm_interrupts():
                return super().invoke(ctx)
        except ZoomtuneError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt as error:
            name = error.signal_name if isinstance(error, Interrupted) else "SIGINT"
            study = remembered_study(ctx) or "STUDY"
            after = remembered_resume_hint(ctx) or (f"running trials are marked FAILED (interrupted); "
                                                    f"`zoomtune resume {study}` continues")
            click.secho(f"interrupted by {name}: {after}", err=True)
            ctx.exit(EXIT_SIGTERM if name == "SIGTERM" else EXIT_SIGINT)


@click.group(cls=ZoomtuneGroup, context_settings=CONTEXT_SETTINGS, epilog=EXIT_STATUS_HELP)
@click.version_option(package_name="zoomtune")
def cli() -> None:
    """Tune hyperparameters the way practitioners do: random on the right scale, coarse to fine."""


def _register() -> None:
    from zoomtune.cli.dashboard import dashboard
    from zoomtune.cli.demo import demo
    from zoomtune.cli.import_optuna import import_optuna
    from zoomtune.cli.panda import babysit, branch, nudge, resume
    from zoomtune.cli.plan import plan
    from zoomtune.cli.report import report
    from zoomtune.cli.run import run
    from zoomtune.cli.status import status
    from zoomtune.cli.worker import worker

    cli.add_command(dashboard)
    cli.add_command(babysit)
    cli.add_command(branch)
    cli.add_command(demo)
    cli.add_command(import_optuna)
    cli.add_command(nudge)
    cli.add_command(plan)
    cli.add_command(report)
    cli.add_command(resume)
    cli.add_command(run)
    cli.add_command(status)
    cli.add_command(worker)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="zoomtune")


__all__ = ["cli", "main"]
