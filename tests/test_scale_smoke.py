"""The scale benchmark's code path on a tiny study (so it cannot rot), and `zoomtune status` reading only
what it shows (issue 12, "Scale")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import zoomtune as zt
from zoomtune.cli import cli
from zoomtune.cli import status as status_module

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "scale.py"


def test_quick_scale_run_prints_and_writes_every_table(tmp_path):
    output = tmp_path / "scale.md"
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--trials", "300", "--stage-trials", "20", "--workers", "4",
         "--worker-trials", "24", "--output", str(output)],
        capture_output=True, text=True, timeout=600, check=False, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    written = output.read_text(encoding="utf-8")
    for text in (result.stdout, written):
        assert "| study trials | real trials run | ms/real trial | runner RSS MB | runner peak MB |" in text
        assert "| at 300 trials x 20 reports" in text and "| CPU seconds | peak RSS MB |" in text
        for row in ("zoomtune status ", "zoomtune status scale ", "zoomtune report scale ",
                    "dashboard: first screen", "dashboard: study page, first /api/study"):
            assert f"| {row}" in text, row
        assert "| storage | workers | trials asked | trials stored | unique numbers |" in text
        # the 4 workers stored exactly the 24 trials asked for, each number once, all COMPLETE
        assert re.search(r"\| sqlite +\| +4 \| +24 \| +24 \| +24 \| COMPLETE \|.*PASS", text), text
        assert re.search(r"Flat-memory goal: (PASS|FAIL)", text) and "goals: " in text
    assert "command:  python" in written and "date:" in written and "machine:" in written
    steps = re.findall(r"^\| ([\d,]+) +\| +(\d+) \|", written, re.MULTILINE)
    assert [int(n.replace(",", "")) for n, _ in steps] == [75, 150, 225, 300]
    assert all(int(ran) == 20 for _, ran in steps)  # the runner ran its real trials at every step


def _words(text: str) -> str:
    """The output with its line breaks and padding collapsed (Rich wraps a title to the table's width)."""
    return " ".join(text.split())


def _study(url: str, n: int) -> zt.Study:
    study = zt.create_study("glance", storage=url, sampler=zt.samplers.RandomSampler(seed=0))

    def objective(trial: zt.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_float("noise", 0.0, 1.0)
        if trial.number % 10 == 9:
            raise ValueError("odd one out")
        return x

    study.optimize(objective, n_trials=n)
    return study


def test_status_shows_the_last_trials_and_the_studys_counts(sqlite_url):
    _study(sqlite_url, 40)
    out = CliRunner().invoke(cli, ["status", "glance", "--storage", sqlite_url, "--limit", "5"]).output
    shown = [int(n) for n in re.findall(r"^│ +(\d+) │", out, re.MULTILINE)]
    assert shown == [35, 36, 37, 38, 39]
    words = _words(out)
    assert "showing 5 of 40 trials" in words and "36 complete, 4 failed; best" in words
    assert "what mattered (PED-ANOVA over the top 10% of 36 complete trials)" in words


def test_status_of_a_big_study_ranks_parameters_only_when_asked(sqlite_url, monkeypatch):
    _study(sqlite_url, 40)
    monkeypatch.setattr(status_module, "IMPORTANCE_MAX_TRIALS", 30)  # "big" = more than 30 trials here
    glance = _words(CliRunner().invoke(cli, ["status", "glance", "--storage", sqlite_url]).output)
    assert "what mattered (PED-ANOVA" not in glance
    assert "`zoomtune status glance --importance` ranks the parameters (it reads all 40 trials)" in glance
    asked = _words(CliRunner().invoke(cli, ["status", "glance", "--storage", sqlite_url, "--importance"]).output)
    assert "what mattered (PED-ANOVA over the top 10% of 36 complete trials): x " in asked
