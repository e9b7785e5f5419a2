"""`zoomtune report`: one self-contained HTML file that opens offline and draws the plots."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import zoomtune as zt
from conftest import ERROR_INJECTION, INJECTION
from zoomtune.cli import cli
from zoomtune.report import bundle_scripts, report_html


@pytest.fixture(scope="module")
def report_file(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(cli, ["report", "ctf", "-o", str(out), "--storage", db_url])
    assert result.exit_code == 0, result.output
    return out


def test_report_is_self_contained(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)  # nothing loaded from anywhere
    assert "plotly.js v" in text and 'id="zt-data"' in text
    data = text.split('id="zt-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and INJECTION not in data  # '<' escaped inside the JSON
    assert "import " not in bundle_scripts().split("\n", 3)[2]


def test_report_of_an_unknown_study_is_a_one_line_error(db_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "nope", "-o", str(tmp_path / "r.html"), "--storage", db_url])
    assert result.exit_code == 2 and "no study named 'nope'" in result.output


def test_a_hostile_study_name_cannot_end_the_script(tmp_path: Path) -> None:
    study = zt.create_study("</script><script>window.__pwned=3</script>", storage=None)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    text = report_html(study)
    assert text.count("</script>") == 3  # plotly, data and app scripts only


def test_report_opens_offline_and_shows_plots(browser: Any, report_file: Path) -> None:
    context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report_file.as_uri())
    page.wait_for_selector("body[data-ready=study]", timeout=20_000)
    for plot in ("plot-history", "plot-params", "plot-pair", "plot-parcoords", "plot-curves"):
        assert page.locator(f"#{plot} .main-svg").count() > 0, plot
    assert page.evaluate("() => document.getElementById('plot-params').layout.shapes.length") > 0
    assert INJECTION in page.locator("[data-testid=trial-row] td").all_inner_texts()
    page.click("[data-testid=trial-row][data-number='4']")
    page.wait_for_selector("body[data-ready=trial]")
    assert ERROR_INJECTION in page.inner_text("[data-testid=trial-error]")
    assert page.evaluate("() => [document.querySelectorAll('img').length, window.__pwned]") == [0, None]
    assert [u for u in requests if not u.startswith("file:")] == []
    assert errors == []
    context.close()


_WITHOUT_STARLETTE = r"""
import sys
sys.modules["starlette"] = None  # any `import starlette...` now raises ImportError
sys.modules["uvicorn"] = None
import zoomtune as zt
from zoomtune.report import write_report
study = zt.create_study("no-web", storage=sys.argv[1], sampler=zt.samplers.RandomSampler(seed=0))
study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)
study.branch(0, overrides={"x": 0.5})
path = write_report(study, sys.argv[2])
assert "zoomtune.dashboard.app" not in sys.modules and "zoomtune.dashboard.api" not in sys.modules
if sys.argv[3] == "cli":
    from click.testing import CliRunner
    from zoomtune.cli import cli
    result = CliRunner().invoke(cli, ["report", "no-web", "-o", sys.argv[2], "--storage", sys.argv[1]])
    assert result.exit_code == 0, result.output
    assert "zoomtune.dashboard.app" not in sys.modules
print("ok", path.stat().st_size)
"""


@pytest.mark.parametrize("via", ["module", "cli"])
def test_report_needs_no_web_server(tmp_path: Path, via: str) -> None:
    """The report (module and `zoomtune report`) works with Starlette and uvicorn unimportable."""
    out = tmp_path / "r.html"
    done = subprocess.run([sys.executable, "-c", _WITHOUT_STARLETTE, f"sqlite:///{tmp_path / 'z.db'}", str(out), via],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
    text = out.read_text(encoding="utf-8")
    assert "plotly.js v" in text and 'id="zt-data"' in text
