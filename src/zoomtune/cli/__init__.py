"""The `zoomtune` command. Commands import the library lazily so `zoomtune --help` starts fast.

User errors (any `ZoomtuneError`) print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from zoomtune.cli.common import CONTEXT_SETTINGS


class ZoomtuneGroup(click.Group):
    """A click group that turns user errors into one clear line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        from zoomtune.errors import ZoomtuneError

        try:
            return super().invoke(ctx)
        except ZoomtuneError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.secho("interrupted: finished trials are saved; `zoomtune status` shows them", err=True)
            ctx.exit(130)


@click.group(cls=ZoomtuneGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="zoomtune")
def cli() -> None:
    """Tune hyperparameters the way practitioners do: random on the right scale, coarse to fine."""


def _register() -> None:
    from zoomtune.cli.dashboard import dashboard
    from zoomtune.cli.demo import demo
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
