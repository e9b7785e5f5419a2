"""Dashboard security: the Host allow-list (against DNS rebinding) on every interface, control
requests from another site refused even with the token, the headers of every response, the
page's CSP in real Chromium, and where `zoomtune dashboard` takes its control token from."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("httpx")

import zoomtune as zt
from click.testing import CliRunner
from starlette.testclient import TestClient

from zoomtune.cli import cli
from zoomtune.dashboard.app import create_app
from zoomtune.dashboard.security import CSP, DATA_CSP

from conftest import LiveServer
from helpers import wait_for

TOKEN = "s3cret"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file with one small finished study, `tiny`."""
    url = f"sqlite:///{tmp_path_factory.mktemp('security') / 'z.db'}"
    zt.create_study("tiny", storage=url).optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    return url


@pytest.fixture(scope="module")
def control(db_url: str) -> TestClient:
    return TestClient(create_app(db_url, token=TOKEN, prewarm=False), base_url="http://127.0.0.1")


@pytest.fixture
def running(db_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[zt.Study, zt.Trial]]:
    """A study of its own (named after the test) with one RUNNING trial, told when the test ends."""
    study = zt.create_study(f"running-{request.node.name}", storage=db_url)
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    trial.report(1.0, 0)
    yield study, trial
    if study.storage.get_trial(study.study_id, trial.number).state is zt.TrialState.RUNNING:
        study.tell(trial, 0.5)


def _stopped(trial: zt.Trial) -> bool:
    """Whether a stop request reached `trial` (it sees one at its next report)."""
    trial.report(0.9, len(trial.intermediate_values))
    return trial.should_stop()


# -- Host ------------------------------------------------------------------------------------------

def _lan_address() -> list[str]:
    """The address of this machine's IPv4 default route, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(("192.0.2.1", 9))
        except OSError:
            return []
        return [str(udp.getsockname()[0])]


@pytest.mark.parametrize(("listen", "itself"), [("0.0.0.0", "0.0.0.0:8080"), ("::", "[::]:8080")])
def test_a_wildcard_listener_still_refuses_a_foreign_host(db_url: str, listen: str, itself: str) -> None:
    client = TestClient(create_app(db_url, host=listen, prewarm=False), base_url="http://127.0.0.1")
    refused = client.get("/api/studies", headers={"host": "evil.example"})
    assert refused.status_code == 400 and "--allow-host" in refused.text and "tiny" not in refused.text
    assert refused.headers["content-type"].startswith("text/plain")
    for host in ("localhost:8080", "127.0.0.1", "[::1]:8080", socket.gethostname(), f"{socket.gethostname()}:80",
                 *_lan_address()):
        assert client.get("/api/studies", headers={"host": host}).status_code == 200, host
    assert client.get("/api/studies", headers={"host": itself}).status_code == 400  # no browser should use it


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example",
                                  "evil.example:8080", "localhost:notaport", "[::1", "dash.example.evil"])
def test_allowed_hosts_add_names_and_nothing_else(db_url: str, host: str) -> None:
    client = TestClient(create_app(db_url, allowed_hosts=["dash.example"], prewarm=False), base_url="http://127.0.0.1")
    assert client.get("/api/studies", headers={"host": host}).status_code == 400
    for ok in ("dash.example", "DASH.example.:443", "localhost"):
        assert client.get("/api/studies", headers={"host": ok}).status_code == 200, ok


# -- Origin on control -----------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"origin": "http://evil.example"}, {"origin": "null"}, {"origin": "http://127.0.0.1:8081"},
    {"origin": "https://127.0.0.1.evil.example"}, {"origin": "file://"}, {"origin": "http://127.0.0.1:x"},
    {"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"},
    {"origin": "http://127.0.0.1", "sec-fetch-site": "cross-site"},
])
def test_cross_site_control_is_refused_with_a_valid_token(control: TestClient, running: tuple[zt.Study, zt.Trial],
                                                          headers: dict[str, str]) -> None:
    study, trial = running
    for action, body in (("nudge", {"params": {"lr": 0.003}}), ("stop", {})):
        response = control.post(f"/api/{action}", json={"study": study.name, "trial": trial.number, **body},
                                headers={**AUTH, **headers})
        assert response.status_code == 403 and "cross-site" in response.json()["error"], response.text
    assert not _stopped(trial) and trial.params["lr"] != pytest.approx(0.003)
    assert study.events(trial_number=trial.number) == []


@pytest.mark.parametrize("headers", [
    {}, {"origin": "http://127.0.0.1"}, {"origin": "http://localhost:80"},
    {"origin": "http://127.0.0.1", "sec-fetch-site": "same-origin"}, {"sec-fetch-site": "none"},
])
def test_same_origin_or_no_origin_control_works(control: TestClient, running: tuple[zt.Study, zt.Trial],
                                                headers: dict[str, str]) -> None:
    study, trial = running
    response = control.post("/api/stop", json={"study": study.name, "trial": trial.number}, headers={**AUTH, **headers})
    assert response.status_code == 200, response.text
    assert _stopped(trial)


# -- headers of every response ---------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("GET", "/", {}, 200), ("GET", "/api/studies", {}, 200), ("GET", "/api/study?name=tiny", {}, 200),
    ("GET", "/api/study?name=nope", {}, 404), ("GET", "/api/study", {}, 400), ("GET", "/static/main.js", {}, 200),
    ("GET", "/static/plotly.min.js", {}, 200), ("GET", "/static/style.css", {}, 200),
    ("GET", "/static/../app.py", {}, 404), ("GET", "/nope", {}, 404), ("GET", "/api/nudge", {}, 405),
    ("POST", "/api/stop", {}, 401), ("POST", "/api/stop", {**AUTH, "origin": "http://evil.example"}, 403),
    ("GET", "/api/studies", {"host": "evil.example"}, 400),
])
def test_every_response_carries_the_security_headers(control: TestClient, method: str, path: str,
                                                     headers: dict[str, str], status: int) -> None:
    response = control.request(method, path, headers=headers, json={"study": "tiny", "trial": 0}
                               if method == "POST" else None)
    assert response.status_code == status, response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == (CSP if path == "/" else DATA_CSP)
    assert len(response.headers.get_list("content-security-policy")) == 1


def test_hostile_numbers_and_bodies_get_a_400_not_a_500(control: TestClient) -> None:
    huge = "9" * 30  # beyond SQLite's 64-bit integers
    for path, params in (("/api/trial", {"study": "tiny", "number": huge}), ("/api/curves", {"study": "tiny",
                         "numbers": f"0,{huge}"}), ("/api/study", {"name": "tiny", "rev": huge}),
                         ("/api/trial", {"study": "tiny", "number": "-1"})):
        response = control.get(path, params=params)
        assert response.status_code == 400 and "from 0 to" in response.json()["error"], (path, response.text)
    for body in (b'{"study": "tiny", "trial": ' + huge.encode() + b"}", b"[" * 50_000,
                 b'{"study": "tiny", "trial": -1}'):
        response = control.post("/api/stop", content=body, headers={**AUTH, "content-type": "application/json"})
        assert response.status_code == 400, response.text


# -- a real server -----------------------------------------------------------------------------------

def _http(port: int, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None = None,
          address: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    """One request over a real socket, sending exactly `headers` (Host included when given)."""
    connection = http.client.HTTPConnection(address, port, timeout=60)
    try:
        data = json.dumps(body).encode() if body is not None else None
        sent = {**headers, **({"content-type": "application/json"} if data is not None else {})}
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_a_real_server_checks_host_and_origin_and_sends_the_headers(db_url: str,
                                                                     running: tuple[zt.Study, zt.Trial]) -> None:
    study, trial = running
    with LiveServer(db_url, token=TOKEN) as live:
        own = f"127.0.0.1:{live.port}"
        status, headers, body = _http(live.port, "GET", "/api/studies", {"Host": "evil.example"})
        assert status == 400 and b"tiny" not in body and headers["x-content-type-options"] == "nosniff"
        status, headers, body = _http(live.port, "GET", "/api/studies", {"Host": own})
        assert status == 200 and b"tiny" in body and headers["content-security-policy"] == DATA_CSP
        status, headers, _ = _http(live.port, "GET", "/favicon.ico", {"Host": own})
        assert status == 404 and headers["referrer-policy"] == "no-referrer"
        stop = {"study": study.name, "trial": trial.number}
        status, _, body = _http(live.port, "POST", "/api/stop", {"Host": own, "Origin": "http://evil.example", **AUTH},
                                stop)
        assert status == 403 and b"cross-site" in body and not _stopped(trial)
        status, _, body = _http(live.port, "POST", "/api/stop", {"Host": own, "Origin": f"http://{own}", **AUTH}, stop)
        assert status == 200, body
        assert _stopped(trial)


# -- the page's CSP in Chromium --------------------------------------------------------------------

VIOLATIONS = """document.addEventListener("securitypolicyviolation",
  (e) => console.error("CSP violation: " + e.violatedDirective + " " + e.sourceFile + ":" + e.lineNumber));"""
WEBGL_PLOTS = ("plot-params", "plot-pair", "plot-parcoords")
PARCOORDS = ("Plotly.newPlot('plot', [{type: 'parcoords', dimensions: [{values: [1, 2, 3]}, {values: [3, 1, 2]}]}])"
             ".then(() => { document.body.dataset.ready = 'plot'; });")


def _open(browser: Any, url: str, ready: str, plots: tuple[str, ...],
          fakes: dict[str, tuple[str, str]] | None = None, csp: str = "") -> tuple[list[str], dict[str, str]]:
    """Open `url` in a fresh page and wait for `ready` and each of `plots`: the console errors and
    uncaught errors met, and the text of each plot. Chromium answers each URL of `fakes` itself
    (content type, body, and `csp` as its policy)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(VIOLATIONS)
    for fake, (kind, body) in (fakes or {}).items():
        page.route(fake, lambda route, _, kind=kind, body=body: route.fulfill(
            status=200, content_type=kind, body=body, headers={"content-security-policy": csp}))
    try:
        page.goto(url)
        page.wait_for_selector(ready, timeout=60_000)
        for plot in plots:
            page.wait_for_selector(f"#{plot} .main-svg", timeout=60_000)
        return errors, {plot: page.inner_text(f"#{plot}") for plot in plots}
    finally:
        context.close()


def test_the_page_csp_lets_webgl_plots_draw_and_plotly_needs_its_unsafe_eval(browser: Any) -> None:
    big = zt.create_study("big", sampler=zt.samplers.RandomSampler(seed=0))
    big.optimize(lambda t: t.suggest_float("x", 1e-3, 1.0, scale="log") + t.suggest_float("y", 0.0, 1.0),
                 n_trials=1501)  # above the dashboard's 1,500: WebGL markers (and parcoords is WebGL always)
    with LiveServer(big.storage) as live:  # type: ignore[arg-type]
        errors, texts = _open(browser, f"{live.base}/#/study/big", "body[data-ready=study]", WEBGL_PLOTS)
        assert errors == [] and not any("WebGL is not supported" in text for text in texts.values()), errors
        # Why the page keeps 'unsafe-eval' (see security.CSP): without it this plotly draws no WebGL.
        # When this fails, the installed plotly needs no eval: drop 'unsafe-eval' from CSP.
        probe = {f"{live.base}/probe": ("text/html", '<div id="plot"></div><script src="static/plotly.min.js">'
                                                     '</script><script src="probe.js"></script>'),
                 f"{live.base}/probe.js": ("text/javascript", PARCOORDS)}
        errors, texts = _open(browser, f"{live.base}/probe", "body[data-ready=plot]", ("plot",), probe,
                              CSP.replace(" 'unsafe-eval'", ""))
        assert any(e.startswith("CSP violation: script-src") for e in errors), errors
        assert "WebGL is not supported" in texts["plot"], texts


# -- where the token comes from ---------------------------------------------------------------------

def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["dashboard", *args], env=env)


def test_token_options_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    empty, binary = tmp_path / "empty", tmp_path / "binary"
    empty.write_text("  \n")
    binary.write_bytes(b"\xff\xfe\x00")
    cases = [
        (["--token-file", str(empty)], "--token-file: the file is empty"),
        (["--token-file", str(tmp_path / "missing")], "--token-file: cannot read it (No such file or directory)"),
        (["--token-file", str(tmp_path)], "--token-file: cannot read it (Is a directory)"),
        (["--token-file", str(binary)], "--token-file: cannot read it"),
        (["--token", "a", "--control"], "give one of them at most"),
        (["--token-file", str(empty), "--control"], "give one of them at most"),
        (["--token", " "], "--token: must not be empty"),
        (["--allow-host", "http://dash.example"], "--allow-host: must be a host name or address"),
        (["--allow-host", "dash.example:8080"], "--allow-host: must be a host name or address"),
        (["--allow-host", "*"], "--allow-host: must be a host name or address"),
    ]
    for args, message in cases:
        result = _cli(*args, "--storage", "sqlite:///nowhere/z.db")
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output, result.output
    from_env = _cli("--control", env={"ZOOMTUNE_DASHBOARD_TOKEN": "x"})
    assert from_env.exit_code == 2 and "$ZOOMTUNE_DASHBOARD_TOKEN counts as --token" in from_env.stderr


def test_a_token_on_the_command_line_warns_that_ps_shows_it() -> None:
    missing = ("--storage", "sqlite:///nowhere/z.db")  # stops after the token is read, before serving
    typed = _cli("--token", TOKEN, *missing)
    assert "visible to other users in `ps`" in typed.stderr and typed.exit_code == 2
    from_env = _cli(*missing, env={"ZOOMTUNE_DASHBOARD_TOKEN": TOKEN})
    assert "`ps`" not in from_env.stderr and "no database" in from_env.stderr and from_env.exit_code == 2


def test_help_names_every_way_to_give_the_token() -> None:
    result = _cli("--help")
    assert result.exit_code == 0
    for option in ("--control", "--token-file PATH", "--token T", "--allow-host NAME", "$ZOOMTUNE_DASHBOARD_TOKEN"):
        assert option in result.output, option


class Dashboard:
    """`zoomtune dashboard ARGS` in a process of its own, on a free port of `address`."""

    def __init__(self, db_url: str, address: str, *args: str) -> None:
        from zoomtune.dashboard.app import free_port

        self.address, self.port = address, free_port(address)
        command = [sys.executable, "-c", "from zoomtune.cli import main; main()", "dashboard", "--storage", db_url,
                   "--host", address, "--port", str(self.port), *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        #: the two lines it prints before serving: where it listens, and the URL that carries the token
        self.banner = [self.process.stdout.readline() for _ in range(2)]

    def ready(self) -> bool:
        """Whether the server answers (or the process ended, which `stop` then shows)."""
        if self.process.poll() is not None:
            return True
        try:
            return _http(self.port, "GET", "/api/config", {"Host": "localhost"}, address=self.address)[0] == 200
        except OSError:
            return False

    def token(self) -> str:
        """The token in the URL it printed."""
        found = re.search(r"#token=([A-Za-z0-9_-]+)", self.banner[1])
        assert found is not None, self.banner
        return found.group(1)

    def stop(self) -> tuple[str, str]:
        """Stop the server; everything it printed on stdout and stderr."""
        self.process.terminate()
        out, err = self.process.communicate(timeout=60)
        return "".join(self.banner) + out, err


def test_the_command_serves_with_a_generated_or_filed_token(db_url: str, tmp_path: Path,
                                                            running: tuple[zt.Study, zt.Trial]) -> None:
    study, trial = running
    (tmp_path / "token").write_text("from-a-file\n")
    # 127.0.0.2 is loopback, but not a name the dashboard takes for loopback: it warns, as for 0.0.0.0
    generated = Dashboard(db_url, "127.0.0.2", "--control", "--allow-host", "dash.example")
    filed = Dashboard(db_url, "127.0.0.1", "--token-file", str(tmp_path / "token"))
    try:
        for server in (generated, filed):
            wait_for(server.ready, "the dashboard to answer")
        assert filed.token() == "from-a-file" and len(generated.token()) == 32  # token_urlsafe(24)
        nudge = {"study": study.name, "trial": trial.number, "params": {"lr": 0.003}}
        status, _, _ = _http(generated.port, "POST", "/api/nudge", {"authorization": "Bearer wrong"}, nudge,
                             address="127.0.0.2")
        assert status == 403
        status, _, body = _http(generated.port, "POST", "/api/nudge",
                                {"authorization": f"Bearer {generated.token()}"}, nudge, address="127.0.0.2")
        assert status == 200, body
        stop = {"study": study.name, "trial": trial.number}
        status, _, _ = _http(filed.port, "POST", "/api/stop", {"authorization": "Bearer wrong"}, stop)
        assert status == 403
        status, _, body = _http(filed.port, "POST", "/api/stop", {"authorization": "Bearer from-a-file"}, stop)
        assert status == 200, body
        status, _, _ = _http(generated.port, "GET", "/api/studies", {"Host": "dash.example"}, address="127.0.0.2")
        assert status == 200
        status, _, _ = _http(generated.port, "GET", "/api/studies", {"Host": "evil.example"}, address="127.0.0.2")
        assert status == 400
    finally:
        (out, err), (_, filed_err) = generated.stop(), filed.stop()
    assert out.count(generated.token()) == 1, out  # printed once, in the URL
    assert f"http://127.0.0.2:{generated.port}/#token=" in out
    warning = next(line for line in err.splitlines() if line.startswith("warning: listening on 127.0.0.2"))
    assert all(name in warning for name in ("dash.example", "127.0.0.2", "localhost", "--allow-host NAME")), warning
    assert "`ps`" not in err + filed_err and "warning" not in filed_err
    assert _stopped(trial) and trial.params["lr"] == pytest.approx(0.003)
