"""The dashboard's web app: the page, its own assets, and the JSON API (Starlette + uvicorn).

Only a fixed list of files is served: those shipped in ``zoomtune/dashboard/static`` (listed
once at start-up) and ``plotly.min.js`` read from the installed ``plotly`` package. A request
for any other path, ``../`` and encoded forms included, is a 404: no path from a request is
ever joined to a folder. Requests whose Host is not one of the server's own names are refused
(against DNS rebinding), and every response carries the headers of `zoomtune.dashboard.security`.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from zoomtune.dashboard.api import DashboardAPI
from zoomtune.dashboard.assets import STATIC, asset_names, plotly_js, plotly_js_path
from zoomtune.dashboard.assets import TYPES as _TYPES
from zoomtune.dashboard.cache import StudyCache
from zoomtune.dashboard.security import CSP, HostPolicy, SecurityMiddleware
from zoomtune.storage import Storage, get_storage


def _headers(body: bytes, cache: str) -> dict[str, str]:
    return {"ETag": '"' + hashlib.sha1(body).hexdigest()[:16] + '"', "Cache-Control": cache}


class DashboardApp(Starlette):
    """Starlette with `SecurityMiddleware` outside everything else, so that even the answers of
    Starlette's own error handling (a 500) carry the security headers."""

    def __init__(self, hosts: HostPolicy, **kwargs: Any) -> None:
        self.hosts = hosts
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityMiddleware(super().build_middleware_stack(), self.hosts)


@asynccontextmanager
async def _warm_on_start(app: Starlette) -> AsyncIterator[None]:
    """Load every study into the cache in a background thread, so the first page is quick."""
    cache: StudyCache = app.state.api.cache

    def warm() -> None:
        try:
            for summary in sorted(cache.storage.list_studies(), key=lambda s: -s.n_trials):
                cache.study_json(summary.name)
        except Exception:  # noqa: BLE001 - warming is best effort; requests report real errors
            return

    threading.Thread(target=warm, name="zoomtune-dashboard-warm", daemon=True).start()
    yield


def create_app(storage: str | Storage, token: str | None = None, host: str = "127.0.0.1",
               prewarm: bool = True, allowed_hosts: Iterable[str] = ()) -> Starlette:
    """The dashboard app over `storage` (a URL or a Storage). With `token`, control endpoints
    accept ``Authorization: Bearer <token>`` from the page itself (never from another site's);
    without one they answer 403. Requests must name the server in their Host header: loopback,
    `host` (this machine's names and addresses when `host` is a wildcard such as 0.0.0.0), or
    one of `allowed_hosts`. With `prewarm`, the server loads every study in the background when
    it starts (largest first)."""
    backend = get_storage(storage)
    hosts = HostPolicy.for_listen(host, allowed_hosts)
    api = DashboardAPI(StudyCache(backend), hosts, token)
    assets = {name: path.read_bytes() for name, path in asset_names().items()}

    def asset(name: str) -> Response:
        if name == "plotly.min.js":
            body, kind = plotly_js(), _TYPES[".js"]
        elif name in assets and name != "index.html":
            body, kind = assets[name], _TYPES[Path(name).suffix]
        else:
            return PlainTextResponse("not found", status_code=404)
        return Response(body, media_type=kind, headers=_headers(body, "max-age=3600"))

    async def static(request: Request) -> Response:
        return asset(request.path_params["name"])

    async def index(request: Request) -> Response:
        body = assets["index.html"]
        return Response(body, media_type=_TYPES[".html"],
                        headers={**_headers(body, "no-cache"), "Content-Security-Policy": CSP})

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("not found", status_code=404)

    routes = [Route("/", index), Route("/static/{name}", static), *api.routes()]
    app = DashboardApp(hosts, routes=routes, exception_handlers={404: not_found},
                       lifespan=_warm_on_start if prewarm else None)
    app.state.api = api
    return app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve(storage: str | Storage, host: str = "127.0.0.1", port: int = 8080, token: str | None = None,
          allowed_hosts: Iterable[str] = (), log_level: str = "warning") -> None:
    """Run the dashboard with uvicorn until interrupted (arguments as `create_app`'s)."""
    import uvicorn

    uvicorn.run(create_app(storage, token=token, host=host, allowed_hosts=allowed_hosts), host=host, port=port,
                log_level=log_level)


__all__ = ["CSP", "STATIC", "asset_names", "create_app", "free_port", "plotly_js", "plotly_js_path", "serve"]
