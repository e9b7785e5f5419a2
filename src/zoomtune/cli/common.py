"""Options and helpers every command shares."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from zoomtune.records import TrialRecord
    from zoomtune.space import Distribution

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT_STORAGE = "sqlite:///zoomtune.db"
#: exit statuses, the same for every command (and stated in `zoomtune --help`)
EXIT_NO_RESULT, EXIT_USER_ERROR, EXIT_SIGINT, EXIT_SIGTERM = 1, 2, 130, 143
EXIT_STATUS_HELP = ("Exit status: 0 done; 1 the run finished but none of its trials completed (every one FAILED); "
                    "2 a user error (one line on stderr); 130 / 143 interrupted by Ctrl-C (SIGINT) / SIGTERM.")
_STUDY_KEY = "zoomtune.study"
_RESUME_KEY = "zoomtune.resume_hint"


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


def _note(key: str, text: str) -> None:
    """Keep `text` under `key` on the running command's root context (for its interrupt message)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().meta[key] = text


def _noted(ctx: click.Context, key: str) -> str | None:
    text = ctx.find_root().meta.get(key)
    return text if isinstance(text, str) else None


def remember_study(name: str) -> None:
    """Note the study this command works on, so an interrupt's message can name it."""
    _note(_STUDY_KEY, name)


def remembered_study(ctx: click.Context) -> str | None:
    """The study `remember_study` noted, if any."""
    return _noted(ctx, _STUDY_KEY)


def remember_resume_hint(hint: str) -> None:
    """Note what an interrupt's message should say about continuing, for a command that runs no trials
    (the default names `zoomtune resume STUDY`)."""
    _note(_RESUME_KEY, hint)


def remembered_resume_hint(ctx: click.Context) -> str | None:
    """The hint `remember_resume_hint` noted, if any."""
    return _noted(ctx, _RESUME_KEY)


def parse_assignments(pairs: tuple[str, ...] | list[str], distributions: Mapping[str, Distribution] | None,
                      owner: str) -> dict[str, Any]:
    """`name=value` words (nudge, branch, babysit) as values of the known `distributions`: a number
    for a float or an integer, a choice by its text; each must lie in its distribution. `owner`
    ("trial 3", "study 'panda'") is named when a parameter is unknown. With `distributions=None`
    (nothing known yet) a value is read as YAML reads it (0.01 a number, relu a string)."""
    import yaml

    from zoomtune.errors import ConfigError, SearchSpaceError
    from zoomtune.space import Categorical, Int

    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError("assignment", "must look like name=value", pair)
        if distributions is None:
            out[name] = _literal(text, yaml)
            continue
        dist = distributions.get(name)
        if dist is None:
            known = ", ".join(sorted(distributions)) or "none yet"
            raise SearchSpaceError(f"{owner} has no such parameter (it has: {known})", repr(text), param=name)
        if isinstance(dist, Categorical):
            matches = [c for c in dist.choices if str(c) == text]
            if not matches:
                raise SearchSpaceError(f"must be one of {[str(c) for c in dist.choices]}", repr(text), param=name)
            out[name] = matches[0]
            continue
        try:
            value: Any = int(text) if isinstance(dist, Int) else float(text)
        except ValueError:
            raise SearchSpaceError(f"must be {'an integer' if isinstance(dist, Int) else 'a number'}", repr(text),
                                   param=name) from None
        if not dist.contains(value):
            raise SearchSpaceError(f"must lie in {dist!r}", repr(text), param=name)
        out[name] = value
    return out


def _literal(text: str, yaml: Any) -> Any:
    """A value typed with nothing to go by: an int, a float (1e-4 too, which YAML reads as text), else
    what YAML makes of it (true, null), else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (bool, str)) or value is None else text


class RunTally:
    """Counts how the trials of one command ended (pass it as an `optimize` callback), for the
    exit status: 1 when trials ran and every one FAILED."""

    def __init__(self) -> None:
        self.ran = self.with_value = 0

    def __call__(self, _study: Any, record: TrialRecord) -> None:
        self.add(record)

    def add(self, record: TrialRecord) -> None:
        from zoomtune.records import TrialState

        self.ran += 1
        self.with_value += record.state in (TrialState.COMPLETE, TrialState.STOPPED)

    def exit_if_nothing_completed(self, out: Any, study_name: str) -> None:
        """Exit with status 1 (after one line saying so) when trials ran and none completed."""
        if self.ran and not self.with_value:
            out.print(f"[red]none of the {self.ran} trial{'s' if self.ran != 1 else ''} run completed[/]: every one "
                      f"FAILED; `zoomtune status {study_name}` shows their errors")
            raise SystemExit(EXIT_NO_RESULT)
