"""Options and helpers every command shares."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT_STORAGE = "sqlite:///zoomtune.db"


def storage_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--storage URL`, defaulting to $ZOOMTUNE_STORAGE or sqlite:///zoomtune.db in this folder."""
    return click.option("--storage", envvar="ZOOMTUNE_STORAGE", default=None, metavar="URL",
                        help=f"Where studies live (default: {DEFAULT_STORAGE}, or $ZOOMTUNE_STORAGE).")(func)


def open_existing_storage(url: str | None) -> Any:
    """The storage at `url`, refusing to create an empty SQLite file just to read from it."""
    from zoomtune.errors import ConfigError
    from zoomtune.storage import get_storage

    url = url or DEFAULT_STORAGE
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:" and not os.path.exists(path):
            raise ConfigError("--storage", f"no database at {path!r}: run a study first or pass --storage", url)
    return get_storage(url)


def console() -> Any:
    """A Rich console on stdout (wide when stdout is a file or pipe, so tables stay readable)."""
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def fmt_value(value: Any) -> str:
    """A number in a short readable form; anything else as text, escaped for Rich markup."""
    from rich.markup import escape

    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else escape(str(value))
