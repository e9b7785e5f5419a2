"""Small helpers shared by the benchmark scripts: versions, command line, tables, isolated runs.

Nothing here imports zoomtune or a competitor at module level, so a benchmark can use it
both in its orchestrating process and in the worker subprocesses it starts.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src"))

_RESULT_PREFIX = "@@RESULT@@ "


def use_repo_src() -> None:
    """Put the repository's src/ first on sys.path (a no-op for an editable install)."""
    if SRC not in sys.path:
        sys.path.insert(0, SRC)


def command_line() -> str:
    """The command that started this process, as it could be pasted back into a shell."""
    script = os.path.relpath(sys.argv[0]) if os.path.isabs(sys.argv[0]) else sys.argv[0]
    return shlex.join(["python", script, *sys.argv[1:]])


def versions(*modules: str) -> str:
    """'python 3.11.7 | zoomtune 0.1.0 | optuna 5.0.0' (plus the platform and CPU count)."""
    parts = [f"python {platform.python_version()}"]
    for name in modules:
        try:
            module = importlib.import_module(name)
            parts.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            parts.append(f"{name} (not installed)")
    parts.append(f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    return " | ".join(parts)


def git_state() -> str:
    """'abc1234' or 'abc1234 + uncommitted changes' for the repository holding this file (read-only)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" + uncommitted changes" if dirty else "")


def header(title: str, *modules: str) -> str:
    """The lines every benchmark prints first: title, versions, git state, exact command."""
    return "\n".join([f"# {title}", "", f"versions: {versions(*modules)}", f"git:      {git_state()}",
                      f"command:  {command_line()}", ""])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-markdown table, columns padded for reading in a terminal.

    `align` has one letter per column: 'l' or 'r' (default: first column left, the rest right).
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        out = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        return "| " + " | ".join(out) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else (":" + "-" * (w + 1))
                          for w, a in zip(widths, align)) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def fmt_ms(seconds: float | None, digits: int = 3) -> str:
    """Seconds shown as milliseconds with `digits` significant digits ('-' for None)."""
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 10 ** (digits - 1) else f"{ms:#.{digits}g}"


def fmt_ratio(value: float | None, digits: int = 2) -> str:
    """'12.3x'-style ratio ('-' for None)."""
    return "-" if value is None else f"{value:.{digits}g}x" if value < 10 else f"{value:.1f}x"


def emit_result(payload: dict[str, Any]) -> None:
    """Worker side of `run_worker`: print the result as one tagged JSON line on stdout."""
    sys.stdout.write(_RESULT_PREFIX + json.dumps(payload) + "\n")
    sys.stdout.flush()


def run_worker(argv: Sequence[str], timeout: float | None = None) -> dict[str, Any]:
    """Run `python <argv>` in a fresh interpreter and return the dict it passed to `emit_result`.

    A fresh process per measurement keeps one library's imports, caches and garbage from
    slowing the other down. stderr passes through; a failure raises RuntimeError.
    """
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], stdout=subprocess.PIPE, text=True, timeout=timeout)
    for text in reversed(proc.stdout.splitlines()):
        if text.startswith(_RESULT_PREFIX):
            result = json.loads(text[len(_RESULT_PREFIX):])
            result.setdefault("process_s", time.perf_counter() - started)
            return result
    raise RuntimeError(f"worker {shlex.join(argv)} exited {proc.returncode} without a result:\n{proc.stdout[-2000:]}")
