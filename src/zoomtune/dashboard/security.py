"""What keeps the dashboard to its own users: the Host allow-list (against DNS rebinding), the
same-origin rule of control requests (against cross-site requests), and the headers that every
response carries. Plain ASGI and the standard library: no web framework is imported here.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# The page keeps 'unsafe-eval': plotly.js draws its WebGL traces (scattergl above 1,500 trials,
# parcoords always) with regl, which compiles each draw call with `Function.apply`; the bundle of
# the plotly package (plotly.js 4.1) precompiles none of the dashboard's, so without it those plots
# show "WebGL is not supported" (tests/dashboard/test_dashboard_security.py renders both ways).
# Plotly inserts <style> elements, hence style-src 'unsafe-inline'. Scripts still come only from
# the server's own assets: no inline script runs.
CSP = ("default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; worker-src blob:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: the policy of every other response (JSON, assets, errors): nothing in it may run or load anything
DATA_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#: sent with every response that does not set its own (the page sets `CSP`)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", DATA_CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: listen addresses that mean "every interface"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
#: Sec-Fetch-Site values of a request the page itself made, or one a user typed (absent: not a browser)
OWN_FETCH_SITES = ("same-origin", "none")
DEFAULT_PORTS = {"http": 80, "https": 443}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def split_host(value: str) -> tuple[str, int | None]:
    """The name (lower case, without IPv6 brackets or a trailing dot) and the port, if any, of a
    Host header or an ``--allow-host`` value: ``Example.org:8080`` -> ``("example.org", 8080)``,
    ``[::1]:80`` -> ``("::1", 80)``, ``::1`` -> ``("::1", None)``."""
    value = value.strip()
    port_text = ""
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"not a bracketed address: {value!r}")
        port_text = rest[1:]
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
    else:
        name = value
    port = int(port_text) if port_text.isdigit() else None
    if port_text and port is None:
        raise ValueError(f"not a port: {port_text!r}")
    return name.rstrip(".").lower(), port


#: documentation addresses (never routed anywhere) that `_machine_names` asks the routing table about
_ROUTE_PROBES = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))


def _machine_names() -> set[str]:
    """This machine's host name, its fully qualified name, the addresses they resolve to, and the
    address of its default route (the LAN address users type, which the host name often is not)."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:
            continue
    for family, probe in _ROUTE_PROBES:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))  # a UDP connect sends nothing: it only picks the local address
                names.add(str(udp.getsockname()[0]))
        except OSError:
            continue
    return names


@dataclass(frozen=True)
class HostPolicy:
    """The names a request's Host header may carry (ports are not compared: DNS rebinding
    changes the name, never the port)."""

    names: frozenset[str]

    @classmethod
    def for_listen(cls, host: str, extra: Iterable[str] = ()) -> HostPolicy:
        """The loopback names, the listen address (or, for a wildcard, this machine's names and
        addresses), and `extra` (what ``--allow-host`` added)."""
        listen = _machine_names() if host.strip("[]") in WILDCARD_HOSTS else {host}
        return cls(frozenset(split_host(name)[0] for name in (*LOOPBACK_HOSTS, *listen, *extra)))

    def allows(self, host_header: str) -> bool:
        """Whether a request with this Host header is meant for this server."""
        try:
            return split_host(host_header)[0] in self.names
        except ValueError:
            return False

    def cross_site(self, headers: Mapping[str, str]) -> str | None:
        """Why a request with these headers comes from another site's page (None when it does not):
        its ``Sec-Fetch-Site`` says so, or its ``Origin`` is not one of this server's own (an
        allowed name, on the port the request was sent to). A request without either (curl, a
        script) is not cross-site."""
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in OWN_FETCH_SITES:
            return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
        origin = headers.get("origin")
        if origin is None:
            return None
        refused = f"cross-site request refused (Origin: {origin[:100]})"
        parts = urlsplit(origin)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            return refused
        try:
            origin_port = parts.port or DEFAULT_PORTS[parts.scheme]
            host_port = split_host(headers.get("host", ""))[1] or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            return refused
        return None if parts.hostname.rstrip(".") in self.names and origin_port == host_port else refused


class SecurityMiddleware:
    """Pure ASGI: answers 400 to a request whose Host is not allowed, and adds `SECURITY_HEADERS`
    to every response that lacks them (errors from the app included)."""

    def __init__(self, app: ASGIApp, hosts: HostPolicy) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in SECURITY_HEADERS if h[0] not in present)]
            await send(message)

        host = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), "")
        if self.hosts.allows(host):
            await self.app(scope, receive, send_secured)
            return
        body = b"Host not allowed: the dashboard's owner can accept it with --allow-host\n"
        await send_secured({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
        await send_secured({"type": "http.response.body", "body": body})


__all__ = ["CSP", "DATA_CSP", "LOOPBACK_HOSTS", "SECURITY_HEADERS", "WILDCARD_HOSTS", "HostPolicy",
           "SecurityMiddleware", "split_host"]
