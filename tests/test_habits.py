"""The habits that keep the code in shape, checked on every test run: the layer contracts,
ruff on src/, tests/ and benchmarks/, and mypy on src/ (configured in pyproject.toml)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = BIN / tool
    if not executable.exists():
        pytest.fail(f"{tool} is not installed: pip install -e '.[lint]' (scripts/setup.sh does)")
    return subprocess.run([str(executable), *args], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")}, check=False)


def test_lower_layers_never_import_higher_ones():
    result = _run("lint-imports")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and " 0 broken" in result.stdout


def test_ruff_finds_nothing_in_src_tests_or_benchmarks():
    result = _run("ruff", "check", "src", "tests", "benchmarks", "conftest.py")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_mypy_finds_nothing_in_src():
    result = _run("mypy")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
