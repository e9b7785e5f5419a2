"""Fixtures of the dashboard tests: small studies in SQLite, a live server, headless Chromium."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import zoomtune as zt

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
INJECTION = "<img src=x onerror=window.__pwned=1>"
ERROR_INJECTION = "<img src=x onerror=window.__pwned=2> diverged"


def ctf_objective(trial: zt.Trial) -> float:
    """A coarse-to-fine friendly objective with a log, a log1m, an int and a hostile categorical."""
    lr = trial.suggest_float("lr", 1e-4, 1.0, scale="log")
    beta = trial.suggest_float("beta", 0.9, 0.999, scale="log1m")
    units = trial.suggest_int("units", 16, 512, scale="log")
    act = trial.suggest_categorical("act", ["relu", "tanh", INJECTION])
    value = (math.log10(lr) + 2) ** 2 + 0.3 * (math.log10(1 - beta) + 2) ** 2 + (0.1 if act == "relu" else 0.3)
    value += 0.01 * math.log2(units)
    for step in range(5):
        trial.report(value + 1.0 / (1 + step), step)
    if trial.number % 9 == 4:
        raise RuntimeError(ERROR_INJECTION)
    return value


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file with study `ctf` (coarse to fine, 3 zoom rounds, a branch) and `plain`."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'z.db'}"
    study = zt.create_study("ctf", storage=url, sampler=zt.samplers.CoarseToFineSampler(seed=0, round_size=10))
    study.optimize(ctf_objective, n_trials=40)
    study.branch(5, step=2, overrides={"lr": 0.01})
    plain = zt.create_study("plain/with slash", storage=url, direction="maximize",
                            sampler=zt.samplers.RandomSampler(seed=1))
    plain.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=5)
    return url


class LiveServer:
    """uvicorn serving the dashboard app in a thread, on a free loopback port."""

    def __init__(self, url: str, token: str | None = None) -> None:
        import uvicorn

        from zoomtune.dashboard.app import create_app, free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(url, token=token), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture(scope="session")
def server(db_url: str) -> Iterator[LiveServer]:
    """A read-only dashboard over `db_url`."""
    with LiveServer(db_url) as live:
        yield live


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright (skips when either is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records uncaught script errors in `page.errors`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()
