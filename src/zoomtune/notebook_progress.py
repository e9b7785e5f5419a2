"""Live progress in a Jupyter notebook: one display in the cell output, updated in place.

A Rich bar on stderr does not belong in a notebook: the kernel has no terminal to redraw, so the cell fills
with escape codes or with one line per refresh. In a kernel, the progress is drawn instead as an ipywidgets
progress bar with a status line beside it or, without ipywidgets, as one rich output (an HTML `<progress>` and
the same line) that is replaced through its display id. Neither IPython nor ipywidgets is imported outside a
kernel.
"""

from __future__ import annotations

import html
import sys
import threading
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from collections.abc import Callable
from typing import Any, Protocol


def in_jupyter_kernel() -> bool:
    """True when this code runs in a Jupyter kernel (ipykernel's shell, or a subclass such as Colab's).

    Only modules already loaded are looked at: a plain script or a test never imports IPython through this."""
    if "ipykernel" not in sys.modules:
        return False
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


@dataclass(frozen=True)
class Frame:
    """What one redraw shows: `completed` out of `total` (None: no known end, so no bar) and the status line."""

    completed: float
    total: float | None
    line: str


class Outcome(Enum):
    """How the run ended, which colours the finished bar."""

    FINISHED = "success"
    INTERRUPTED = "danger"


class _View(Protocol):
    def draw(self, frame: Frame) -> None: ...

    def close(self, outcome: Outcome) -> None: ...


class _WidgetView:
    """An ipywidgets bar and an HTML status line, side by side."""

    def __init__(self, frame: Frame) -> None:
        import ipywidgets
        from IPython.display import display

        self._bar = ipywidgets.FloatProgress(min=0.0, max=1.0, value=0.0)
        self._label = ipywidgets.HTML()
        if frame.total is None:
            self._bar.layout.display = "none"
        self.draw(frame)
        display(ipywidgets.HBox([self._bar, self._label]))

    def draw(self, frame: Frame) -> None:
        if frame.total is not None:
            self._bar.max = max(frame.total, 1e-9)
            self._bar.value = min(frame.completed, frame.total)
        self._label.value = f"<code>{html.escape(frame.line)}</code>"

    def close(self, outcome: Outcome) -> None:
        self._bar.bar_style = outcome.value


class _DisplayView:
    """One output, HTML with a plain-text twin, replaced in place through its display id (no widgets needed)."""

    def __init__(self, frame: Frame) -> None:
        from IPython.display import display

        self._shown = frame
        self._handle: Any = display(self._bundle(frame), raw=True, display_id=True)

    @staticmethod
    def _bundle(frame: Frame) -> dict[str, str]:
        bar = "" if frame.total is None else \
            f'<progress value="{min(frame.completed, frame.total):g}" max="{max(frame.total, 1e-9):g}"></progress> '
        return {"text/plain": frame.line, "text/html": f"{bar}<code>{html.escape(frame.line)}</code>"}

    def draw(self, frame: Frame) -> None:
        if frame != self._shown:  # every update is a message to the frontend: send only changes
            self._shown = frame
            self._handle.update(self._bundle(frame), raw=True)

    def close(self, outcome: Outcome) -> None:
        """The text says how it ended; there is no bar colour to set."""


def _open_view(frame: Frame) -> _View:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return _DisplayView(frame)
    return _WidgetView(frame)


class NotebookProgress:
    """Draws `snapshot()` in the running cell's output at once, then every `interval` seconds (so the elapsed
    time moves between results) and a last time on exit. Updates from a background thread keep the run's own
    thread free of drawing."""

    def __init__(self, snapshot: Callable[[], Frame], interval: float = 0.25) -> None:
        self._snapshot = snapshot
        self._interval = interval
        self._stop = threading.Event()
        self._view: _View | None = None
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> NotebookProgress:
        self._view = _open_view(self._snapshot())
        self._ticker = threading.Thread(target=self._tick, args=(self._view,), name="zoomtune-notebook-progress",
                                        daemon=True)
        self._ticker.start()
        return self

    def _tick(self, view: _View) -> None:
        while not self._stop.wait(self._interval):
            view.draw(self._snapshot())

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._view is not None:
            self._view.draw(self._snapshot())
            self._view.close(Outcome.FINISHED if exc_type is None else Outcome.INTERRUPTED)


__all__ = ["Frame", "NotebookProgress", "Outcome", "in_jupyter_kernel"]
