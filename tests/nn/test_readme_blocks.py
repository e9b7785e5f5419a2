"""The README's Python blocks are part of the normal test run (and nothing else markdown-docs could grab is).

The blocks themselves run as README.md::[CodeFence#N] items; these tests pin down the wiring
that makes plain `pytest` (= ./scripts/test.sh, CI) collect them, so the docs cannot silently
drop out of the suite again.
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^\s*```(py|python|python3)(?:[ \t]+(.*))?$")


def readme_python_blocks():
    """(line, info) of every ```python fence in README.md that is not marked notest."""
    blocks = []
    for number, line in enumerate((ROOT / "README.md").read_text("utf8").splitlines(), start=1):
        match = FENCE.match(line)
        if match and "notest" not in (match.group(2) or "").split():
            blocks.append((number, match.group(2) or ""))
    return blocks


def test_pytest_config_runs_the_readme_by_default():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf8"))
    options = config["tool"]["pytest"]["ini_options"]
    assert "--markdown-docs" in options["addopts"].split()
    assert "README.md" in options["testpaths"]
    extra = config["project"]["optional-dependencies"]["test"]
    assert any(re.match(r"pytest-markdown-docs\b", requirement) for requirement in extra)


def run_pytest(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_every_readme_python_block_is_collected():
    pytest.importorskip("pytest_markdown_docs")
    blocks = readme_python_blocks()
    assert len(blocks) >= 3  # quickstart, zoomtune.nn, samplers and schedulers
    done = run_pytest("--collect-only", "README.md")  # addopts has -q: one test id a line
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert [int(re.search(r"\[line:(\d+)\]", i).group(1)) for i in ids] == [line for line, _ in blocks]


def test_markdown_tests_are_kept_to_readme_and_docs_and_run_in_a_temporary_directory(tmp_path):
    """In a scratch project with this repository's conftest.py and pytest settings: a failing fence
    anywhere but README.md / docs/*.md must not be collected, and blocks must not write into the root."""
    pytest.importorskip("pytest_markdown_docs")
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text("utf8"), "utf8")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text("utf8"), "utf8")
    fence = "```"
    (tmp_path / "README.md").write_text(
        f"# r\n\n{fence}python\nimport os\nopen('zoomtune.db', 'w').close()\nassert os.path.exists('zoomtune.db')\n"
        f"{fence}\n\n{fence}python notest\nraise SystemExit('notest block ran')\n{fence}\n", "utf8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(f"{fence}python\nx = 1\n{fence}\n", "utf8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "notes.md").write_text(f"{fence}python\nraise SystemExit('notes ran')\n{fence}\n", "utf8")
    (tmp_path / "tests" / "test_mod.py").write_text(
        f'"""Doc.\n\n{fence}python\nraise SystemExit("docstring fence ran")\n{fence}\n"""\n\n\n'
        "def test_plain():\n    assert True\n", "utf8")
    done = run_pytest("-p", "no:randomly", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b3 passed\b", done.stdout), done.stdout  # README block 1, docs/guide.md, test_plain
    assert not (tmp_path / "zoomtune.db").exists()
    listed = run_pytest("--collect-only", cwd=tmp_path).stdout
    assert "README.md::[CodeFence#1][line:3]" in listed and "docs/guide.md::" in listed
    assert "notes.md" not in listed and "test_mod.py::test_plain" in listed
    assert sum("CodeFence" in line for line in listed.splitlines()) == 2


def test_only_readme_and_docs_markdown_are_tested():
    spec = importlib.util.spec_from_file_location("zoomtune_root_conftest", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    is_tested_markdown = root_conftest.is_tested_markdown
    assert is_tested_markdown(ROOT / "README.md") and is_tested_markdown(ROOT / "docs" / "parallel.md")
    assert not is_tested_markdown(ROOT / "tests" / "notes.md")
    assert not is_tested_markdown(ROOT / "docs" / "sub" / "notes.md")
    assert not is_tested_markdown(ROOT / "src" / "zoomtune" / "README.md")
