"""How fast the dashboard opens a big study: 10,000 trials with 50 reports each.

Builds the study in SQLite with direct inserts into zoomtune's tables (seconds instead of
minutes through `optimize`), then times, cold and warm: `study.trials`, the JSON API
(`/api/studies`, `/api/study`, `/api/trial`, a live poll) and, when Playwright and Chromium are
there, a headless page load until every plot is drawn. Prints a table.

    python benchmarks/dashboard_load.py [--trials 10000] [--steps 50] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

STUDY = "big"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def build(url: str, n_trials: int, n_steps: int, seed: int = 0) -> None:
    """Create study `big`: CTF-like params (lr log, beta log1m, units int log, act categorical),
    `n_steps` reports per trial, a few RUNNING / FAILED trials, zoom and branch events."""
    from sqlalchemy import insert

    import zoomtune as zt
    from zoomtune.storage import schema as s

    study = zt.create_study(STUDY, storage=url, direction="minimize")
    storage, sid = study.storage, study.study_id
    dists = {"lr": zt.Float(1e-4, 1.0, scale="log"), "beta": zt.Float(0.9, 0.999, scale="log1m"),
             "units": zt.Int(32, 512, scale="log"), "act": zt.Categorical(("relu", "tanh", "gelu"))}
    dist_json = {name: json.dumps(d.to_dict()) for name, d in dists.items()}
    rng = random.Random(seed)
    now = time.time() - n_trials
    trial_rows, param_rows, value_rows, event_rows = [], [], [], []
    for number in range(n_trials):
        trial_id = number + 1
        params = {name: d.from_unit(rng.random()) for name, d in dists.items()}
        base = (math.log10(params["lr"]) + 2.5) ** 2 + rng.random() * 0.3
        state = "COMPLETE"
        if number % 97 == 5:
            state = "FAILED"
        if number >= n_trials - 4:
            state = "RUNNING"
        curve = [base + 2.0 / (1 + step) for step in range(n_steps)]
        trial_rows.append({"trial_id": trial_id, "study_id": sid, "number": number, "state": state,
                           "value": curve[-1] if state == "COMPLETE" else None,
                           "error": "ValueError: loss is NaN" if state == "FAILED" else None,
                           "parent": number - 50 if number % 500 == 499 else None, "fixed_params": None,
                           "user_attrs": "{}", "started": now + number, "finished":
                           None if state == "RUNNING" else now + number + 0.9, "heartbeat": now + number})
        param_rows += [{"trial_id": trial_id, "name": name, "value": json.dumps(v), "distribution": dist_json[name]}
                       for name, v in params.items()]
        value_rows += [{"trial_id": trial_id, "step": step, "value": v} for step, v in enumerate(curve)]
        if number % 500 == 499:
            event_rows.append({"study_id": sid, "trial_number": number, "kind": "branch", "step": 10,
                               "payload": json.dumps({"parent": number - 50, "overrides": {}, "reason": "pbt"}),
                               "created": now + number})
    for round_ in range(1, 6):
        event_rows.append({"study_id": sid, "trial_number": None, "kind": "zoom", "step": None, "created": now,
                           "payload": json.dumps({"round": round_, "names": sorted(dists), "n_trials": round_ * 100,
                                                  "best": 0.1, "described": [f"round {round_}"], "boxes": [
                                                      {"unit": {"lr": [0.3, 0.6 - 0.04 * round_],
                                                                "beta": [0.1, 0.9], "units": [0.2, 0.8]},
                                                       "choices": {"act": [0, 1]}}]})})
    with storage._write() as conn:
        conn.execute(insert(s.trials), trial_rows)
        conn.execute(insert(s.params), param_rows)
        conn.execute(insert(s.values), value_rows)
        conn.execute(insert(s.events), event_rows)


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeat` calls, in seconds, and the last result."""
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def page_load(base: str) -> list[tuple[str, float, str]]:
    """Rows for a study page load in headless Chromium: navigation to every plot drawn, and the
    page's own timings (fetch, first screen, each plot)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [("page load (Chromium)", math.nan, "skipped: playwright is not installed")]
    if not os.path.exists(CHROMIUM):
        return [("page load (Chromium)", math.nan, f"skipped: no {CHROMIUM}")]
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base + "/")  # plotly.js into the browser cache, like any second visit
        page.wait_for_selector("[data-testid=study-link]")
        start = time.perf_counter()
        page.goto(base + f"/?t=1#/study/{STUDY}")  # a fresh document: plotly.js parsed again
        page.wait_for_selector("body[data-ready=study]", timeout=120_000)
        rows.append(("page load: navigation to all plots drawn", time.perf_counter() - start,
                     "headless Chromium, software WebGL"))
        t = page.evaluate("() => window.__ztTimings")
        first = t["fetch"] + t["table"] + t["plot-history"] + t["plot-curves"] + t["plot-params"]
        rows.append(("  in page: fetch + JSON parse", t["fetch"] / 1000, ""))
        rows.append(("  in page: first screen drawn", first / 1000, "summary, table, history, curves, params"))
        for key in ("plot-history", "plot-curves", "plot-params", "plot-pair", "plot-parcoords", "plot-lineage"):
            if key in t:
                rows.append((f"  in page: {key}", t[key] / 1000, ""))
        rows.append(("  in page: everything drawn", t["total"] / 1000, ""))
        browser.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--db", default=None, help="SQLite file (default: a temporary one)")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="zt-dash-")
    path = args.db or os.path.join(folder, "big.db")
    url = f"sqlite:///{path}"

    import zoomtune as zt
    from starlette.testclient import TestClient

    from zoomtune.dashboard.app import create_app

    rows: list[tuple[str, float, str]] = []
    took, _ = timed(lambda: build(url, args.trials, args.steps))
    rows.append(("build the SQLite study", took, f"{args.trials} trials x {args.steps} reports"))
    study = zt.load_study(STUDY, storage=url)
    took, trials = timed(lambda: study.trials, repeat=2)
    rows.append(("study.trials (storage)", took, f"{len(trials)} records"))

    client = TestClient(create_app(url, prewarm=False), base_url="http://127.0.0.1")
    took, resp = timed(lambda: client.get("/api/studies"))
    rows.append(("GET /api/studies", took, f"{len(resp.content)} bytes"))
    took, resp = timed(lambda: client.get("/api/study", params={"name": STUDY}))
    figures = len(json.dumps(resp.json().get("figures"), separators=(",", ":")))
    rows.append(("GET /api/study (cold cache)", took,
                 f"{len(resp.content) / 1e6:.2f} MB, {figures / 1e6:.2f} MB of it the figures (zoomtune.plot)"))
    rev = resp.json()["rev"]
    took, resp = timed(lambda: client.get("/api/study", params={"name": STUDY}), repeat=3)
    rows.append(("GET /api/study (warm cache)", took, f"{len(resp.content) / 1e6:.2f} MB"))
    took, resp = timed(lambda: client.get("/api/study", params={"name": STUDY, "rev": rev}), repeat=3)
    rows.append(("GET /api/study?rev= (live poll)", took, f"{len(resp.content)} bytes"))
    took, resp = timed(lambda: client.get("/api/trial", params={"study": STUDY, "number": 1234}), repeat=3)
    rows.append(("GET /api/trial", took, f"{len(resp.content)} bytes"))

    import uvicorn

    from zoomtune.dashboard.app import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(url), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    start = time.perf_counter()
    import urllib.request

    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/study?name={STUDY}").read()  # waits for the warm-up
    rows.append(("server start: study warmed in background", time.perf_counter() - start, "then served from cache"))
    rows += page_load(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(5)

    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'seconds':>8}  note")
    print(f"{'-' * width}  {'-' * 8}  ----")
    for name, seconds, note in rows:
        print(f"{name:<{width}}  {seconds:8.3f}  {note}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
