"""Where the dashboard's files are: its own ``static/`` folder and the installed plotly.min.js.

Shared by the web app (`zoomtune.dashboard.app`) and the offline report (`zoomtune.report`);
it imports no web server, so the report works without Starlette or uvicorn installed.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"
#: media types of the files the app serves, by suffix (also: which suffixes it serves at all)
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}


def plotly_js_path() -> Path | None:
    """Where the installed `plotly` package keeps its bundled plotly.min.js (None if absent)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """The bytes of plotly.min.js; a stub that says what to install when plotly is missing."""
    path = plotly_js_path()
    if path is None:
        return b"console.error('zoomtune dashboard: plotly is not installed; pip install \"zoomtune[dashboard]\"');"
    return path.read_bytes()


def asset_names() -> dict[str, Path]:
    """The files the app may serve under /static/, by name (a fixed list)."""
    return {p.name: p for p in STATIC.iterdir() if p.is_file() and p.suffix in TYPES}


__all__ = ["STATIC", "TYPES", "asset_names", "plotly_js", "plotly_js_path"]
