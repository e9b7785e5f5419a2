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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TextIO

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
                              timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" + uncommitted changes" if dirty else "")


def header(title: str, *modules: str) -> str:
    """The lines every benchmark prints first: title, versions, git state, exact command."""
    return "\n".join([f"# {title}", "", f"versions: {versions(*modules)}", f"git:      {git_state()}",
                      f"command:  {command_line()}", ""])


def page_header(title: str, modules: Sequence[str], threads: int, dated: bool = True) -> list[str]:
    """The first lines of a benchmark's markdown page, each followed by a blank line: title, exact command,
    date (UTC, unless `dated` is False), versions with torch's thread count, git state."""
    lines = [f"# {title}", "", f"command:  `{command_line()}`", ""]
    if dated:
        lines += [f"date:     {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    return [*lines, f"versions: {versions(*modules)}; torch threads {threads}", "", f"git:      {git_state()}", ""]


def first_examples(data: Any, n: int) -> Any:
    """`data` (a `zoomtune.nn.datasets.Dataset`) with only its first `n` training examples; all when n <= 0."""
    n = len(data.x_train) if n <= 0 else min(n, len(data.x_train))
    return replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])


def kept_tail(path: str, marker: str) -> str:
    """The hand-written end of an existing page, from the line starting with `marker` on ('' when there is
    none), so that a rerun of its benchmark rewrites the tables and keeps the prose."""
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as fh:
        old = fh.read()
    at = old.find("\n" + marker)
    return "" if at < 0 else old[at:]


def write_page(out_dir: str, stem: str, text: str, caption: str, draw: Callable[[str], None], started: float,
               keep_from: str | None = None) -> str:
    """Draw `<stem>.png` (`draw(path)`) and write `<stem>.md` (`text`, then the picture with `caption`, then the
    old page's hand-written tail from `keep_from` on, if given) into `out_dir`; print the text and what was
    written. Returns the tail kept."""
    os.makedirs(out_dir, exist_ok=True)
    md_path, png_path = os.path.join(out_dir, f"{stem}.md"), os.path.join(out_dir, f"{stem}.png")
    draw(png_path)
    tail = kept_tail(md_path, keep_from) if keep_from is not None else ""
    with open(md_path, "w", encoding="utf-8") as fh:
        fh.write(f"{text}\n![{caption}]({stem}.png)\n{tail}")
    print(text)
    print(f"wrote {os.path.relpath(md_path)} and {os.path.relpath(png_path)} "
          f"({time.perf_counter() - started:.0f} s in all)")
    return tail


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-markdown table, columns padded for reading in a terminal.

    `align` has one letter per column: 'l' or 'r' (default: first column left, the rest right).
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        out = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align, strict=False)]
        return "| " + " | ".join(out) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else (":" + "-" * (w + 1))
                          for w, a in zip(widths, align, strict=False)) + "|"
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


def parse_result(line: str) -> dict[str, Any] | None:
    """The dict a worker passed to `emit_result`, if `line` is its tagged line, else None."""
    return json.loads(line[len(_RESULT_PREFIX):]) if line.startswith(_RESULT_PREFIX) else None


def cached_rows(path: str | None) -> Iterator[dict[str, Any]]:
    """The rows of a --cache file (one JSON object per line); none when there is no file, and a line cut
    short by an interruption is skipped."""
    if not path or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def next_result(stream: TextIO) -> dict[str, Any]:
    """Read `stream` (a long-lived worker's stdout) up to the next tagged result line; other lines pass through."""
    for line in stream:
        result = parse_result(line)
        if result is not None:
            return result
        sys.stdout.write(line)
    raise RuntimeError("the worker exited without a result")


@dataclass(frozen=True)
class Memory:
    """A process's resident memory now and its peak so far (Linux /proc), in MB."""

    rss_mb: float
    peak_mb: float


def memory_of(pid: int | str = "self") -> Memory:
    """VmRSS and VmHWM of a live process (default: this one)."""
    fields: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(rest.split()[0]) / 1024  # kB
    return Memory(fields["VmRSS"], fields["VmHWM"])


@dataclass(frozen=True)
class ProcessCost:
    """What one command cost: wall seconds from start to exit, CPU seconds (user + system), peak resident memory
    (MB), exit code, output."""

    wall_s: float
    cpu_s: float
    peak_mb: float
    returncode: int
    output: str


def measure_process(argv: Sequence[str], env: Mapping[str, str] | None = None,
                    timeout: float = 600.0) -> ProcessCost:
    """Run `argv` to completion; its wall time, CPU time and peak RSS (from wait4's rusage: that process alone;
    CPU time tells a slow command from a busy machine), its exit code and its stdout + stderr (kept in a temporary
    file, so a big output cannot block it)."""
    import tempfile

    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, env=dict(env) if env else None)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it: keep Popen from waiting again
        out.seek(0)
        return ProcessCost(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, out.read())


def run_worker(argv: Sequence[str], timeout: float | None = None) -> dict[str, Any]:
    """Run `python <argv>` in a fresh interpreter and return the dict it passed to `emit_result`.

    A fresh process per measurement keeps one library's imports, caches and garbage from
    slowing the other down. stderr passes through; a failure raises RuntimeError.
    """
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], stdout=subprocess.PIPE, text=True, timeout=timeout,
                          check=False)
    for text in reversed(proc.stdout.splitlines()):
        result = parse_result(text)
        if result is not None:
            result.setdefault("process_s", time.perf_counter() - started)
            return result
    raise RuntimeError(f"worker {shlex.join(argv)} exited {proc.returncode} without a result:\n{proc.stdout[-2000:]}")
