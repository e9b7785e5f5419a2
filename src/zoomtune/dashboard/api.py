"""The dashboard's JSON API.

Reads: ``GET /api/config``, ``/api/studies``, ``/api/study?name=S[&rev=R]``,
``/api/trial?study=S&number=N``, ``/api/curves?study=S&numbers=1,2,3``.
Control (only with a token, sent as ``Authorization: Bearer T``): ``POST /api/nudge``
with ``{"study": S, "trial": N, "params": {...}}`` and ``POST /api/stop`` with
``{"study": S, "trial": N}``. Without a token the server changes nothing: control answers 403.
A control request that another site's page sent (its ``Origin`` or ``Sec-Fetch-Site`` says so)
answers 403 even with the right token.
Study names travel in the query string, so any name (slashes included) works.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zoomtune.dashboard.payload import summaries, trial_payload
from zoomtune.dashboard.cache import StudyCache
from zoomtune.dashboard.security import HostPolicy
from zoomtune.errors import StudyNotFoundError, TrialNotFoundError, ZoomtuneError
from zoomtune.plot.data import clean

MAX_CURVES_PER_CALL = 200
MAX_BODY_BYTES = 64 * 1024
MAX_INT = 2**63 - 1


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


def _int(value: str | None, field: str) -> int:
    """A trial number or revision from the query string (bounded: SQLite's integers are 64-bit)."""
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number <= MAX_INT:
        raise ValueError(f"{field} must be an integer from 0 to {MAX_INT}; got {str(value)[:40]!r}")
    return number


class DashboardAPI:
    """The API's handlers over one storage's study cache."""

    def __init__(self, cache: StudyCache, hosts: HostPolicy, token: str | None = None) -> None:
        self.cache = cache
        self.hosts = hosts
        self.token = token or None

    def routes(self) -> list[Route]:
        """Starlette routes of the API."""
        return [
            Route("/api/config", self.config),
            Route("/api/studies", self.studies),
            Route("/api/study", self.study),
            Route("/api/trial", self.trial),
            Route("/api/curves", self.curves),
            Route("/api/nudge", self.nudge, methods=["POST"]),
            Route("/api/stop", self.stop, methods=["POST"]),
        ]

    async def _guard(self, call: Any, *args: Any) -> Response:
        """Run a blocking storage call in a worker thread, mapping user errors to 4xx answers."""
        from starlette.concurrency import run_in_threadpool

        try:
            return await run_in_threadpool(call, *args)
        except (StudyNotFoundError, TrialNotFoundError) as error:
            return _error(404, str(error))
        except ZoomtuneError as error:
            return _error(400, str(error))
        except ValueError as error:
            return _error(400, str(error))

    async def config(self, request: Request) -> Response:
        return JSONResponse({"control": self.token is not None, "version": _version()})

    async def studies(self, request: Request) -> Response:
        return await self._guard(lambda: JSONResponse(summaries(self.cache.storage),
                                                      headers={"Cache-Control": "no-store"}))

    async def study(self, request: Request) -> Response:
        name = request.query_params.get("name")
        if not name:
            return _error(400, "name: the study's name is required")
        rev = request.query_params.get("rev")

        def read() -> Response:
            return _json(self.cache.study_json(name, _int(rev, "rev") if rev else None)[1])

        return await self._guard(read)

    async def trial(self, request: Request) -> Response:
        name = request.query_params.get("study")
        if not name:
            return _error(400, "study: the study's name is required")

        def read() -> Response:
            record = self.cache.trial(name, _int(request.query_params.get("number"), "number"))
            data = trial_payload(record)
            data["control"] = self.token is not None
            return _json(json.dumps(data, allow_nan=False).encode())

        return await self._guard(read)

    async def curves(self, request: Request) -> Response:
        name = request.query_params.get("study")
        if not name:
            return _error(400, "study: the study's name is required")
        raw = request.query_params.get("numbers", "")

        def read() -> Response:
            numbers = [_int(x, "numbers") for x in raw.split(",") if x.strip()][:MAX_CURVES_PER_CALL]
            return _json(json.dumps(self.cache.curves(name, numbers), allow_nan=False).encode())

        return await self._guard(read)

    # -- control -----------------------------------------------------------------------------
    def _authorised(self, request: Request) -> bool:
        if self.token is None:
            return False
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    async def _control_body(self, request: Request) -> dict[str, Any] | Response:
        if self.token is None:
            return _error(403, "this dashboard is read-only: start it with --control to nudge or stop trials")
        cross_site = self.hosts.cross_site(request.headers)
        if cross_site is not None:
            return _error(403, cross_site)
        if not self._authorised(request):
            return _error(401 if "authorization" not in request.headers else 403,
                          "a valid 'Authorization: Bearer <token>' header is required")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(415, "send the body as application/json")
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _error(413, "body too large")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return _error(400, "the body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("study"), str):
            return _error(400, "study: the study's name is required")
        trial = body.get("trial")
        if not isinstance(trial, int) or isinstance(trial, bool) or not 0 <= trial <= MAX_INT:
            return _error(400, f"trial: must be a trial number from 0 to {MAX_INT}; got {repr(trial)[:40]}")
        return body

    async def nudge(self, request: Request) -> Response:
        body = await self._control_body(request)
        if isinstance(body, Response):
            return body
        params = body.get("params")
        if not isinstance(params, dict) or not params:
            return _error(400, f"params: must be a non-empty mapping of names to new values; got {params!r}")
        return await self._guard(self._call, body["study"], "nudge", body["trial"], params)

    async def stop(self, request: Request) -> Response:
        body = await self._control_body(request)
        if isinstance(body, Response):
            return body
        return await self._guard(self._call, body["study"], "stop_trial", body["trial"])

    def _call(self, name: str, method: str, *args: Any) -> Response:
        study = self.cache.study(name)
        action = getattr(study, method, None)
        if action is None:
            return _error(501, f"this zoomtune has no Study.{method} yet")
        result = action(*args)
        return JSONResponse({"ok": True, "result": clean(result) if result is not None else None})


def _version() -> str:
    from zoomtune import __version__

    return __version__


__all__ = ["DashboardAPI"]
