"""`zoomtune import-optuna SOURCE`: copy Optuna studies (an RDB URL or a journal file) into a zoomtune storage."""

from __future__ import annotations

from typing import Any

import click

from zoomtune.cli.common import DEFAULT_STORAGE, console, remember_resume_hint, storage_option


@click.command("import-optuna")
@click.argument("source", metavar="SOURCE")
@click.option("--study", "studies", multiple=True, metavar="NAME",
              help="An Optuna study to copy (repeat for several; default: every study in SOURCE).")
@storage_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def import_optuna(source: str, studies: tuple[str, ...], storage: str | None, quiet: bool) -> None:
    """Copy Optuna studies from SOURCE into the zoomtune storage: params on their scales, values, reports,
    states (PRUNED -> STOPPED, FAIL -> FAILED), user attributes.

    SOURCE is an Optuna RDB URL (sqlite:///optuna.db) or journal file (journal:PATH, or a path ending in
    .log, .jsonl or .journal). Running it again copies only trials that are new since; RUNNING and WAITING
    trials are copied once they have finished.
    """
    from zoomtune.compat.optuna_import import import_optuna as run_import

    out = console()
    url = storage or DEFAULT_STORAGE
    remember_resume_hint("trials copied so far are kept; running `zoomtune import-optuna` again copies the rest")
    with _Bar(enabled=not quiet) as bar:
        summary = run_import(source, url, list(studies) or None, on_progress=bar.update)
    if not summary.studies:
        out.print(f"no studies in {summary.source}: nothing to copy")
        return
    for done in summary.studies:
        out.print(done.describe(), markup=False, highlight=False)
    out.print(f"copied {summary.n_copied} trial{'' if summary.n_copied == 1 else 's'} from {summary.source} "
              f"into {url}; `zoomtune status` lists the studies", markup=False, highlight=False)


class _Bar:
    """A Rich progress bar on stderr, one task per study, drawn only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import Progress

        stderr = Console(stderr=True)
        self._progress = Progress(console=stderr, transient=True, disable=not (enabled and stderr.is_terminal))
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, study: str, done: int, total: int) -> None:
        if study not in self._tasks:
            self._tasks[study] = self._progress.add_task(f"copying {study}", total=total)
        self._progress.update(self._tasks[study], completed=done)
