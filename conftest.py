"""Repository-wide test set-up: the README's ```python blocks run as tests.

pytest-markdown-docs (`--markdown-docs` in pyproject.toml's addopts) turns every ```python fence
into a test. Left alone it would also collect the fences in every .py docstring and every other
markdown file; here only README.md and docs/*.md are kept. Each block runs in its own temporary
working directory, so `sqlite:///zoomtune.db` and checkpoints never land in the repository.
A block that needs the reader's own code names a fixture in its info string
(```python fixture:train_one_epoch); the stand-ins are defined below.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# Keras 3 falls back to TensorFlow, which the extras do not install: the integration runs on the torch backend.
os.environ.setdefault("KERAS_BACKEND", "torch")

# --doctest-modules imports every module; an integration whose library is not installed is left out.
_INTEGRATION_LIBRARIES = {"lightning": "lightning", "keras": "keras", "transformers": "transformers",
                          "sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "mlflow": "mlflow"}
collect_ignore = [f"src/zoomtune/integrations/{module}.py" for module, library in _INTEGRATION_LIBRARIES.items()
                  if importlib.util.find_spec(library) is None]
MARKDOWN_MARKER = "markdown-docs"  # the marker pytest-markdown-docs puts on its items

try:
    from pytest_markdown_docs.plugin import MarkdownDocstringCodeModule, MarkdownTextFile
except ImportError:  # the plugin is in the `test` extra; without it nothing here applies
    MarkdownDocstringCodeModule = MarkdownTextFile = None


def is_tested_markdown(path: Path) -> bool:
    """README.md at the root and the markdown files directly in docs/."""
    path = Path(path).resolve()
    return path == ROOT / "README.md" or (path.parent == ROOT / "docs" and path.suffix == ".md")


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    collectors = yield
    if MarkdownTextFile is None:
        return collectors
    return [c for c in collectors
            if not isinstance(c, MarkdownDocstringCodeModule)
            and not (isinstance(c, MarkdownTextFile) and not is_tested_markdown(c.path))]


@pytest.fixture(autouse=True)
def _markdown_block_in_a_temporary_directory(request):
    """A README block runs with a fresh temporary directory as its working directory."""
    if request.node.get_closest_marker(MARKDOWN_MARKER) is None:
        yield
        return
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    yield


@pytest.fixture
def train_one_epoch():
    """The README quickstart's "your code": a deterministic, instant stand-in for one epoch of training.

    Accuracy rises with the epoch and is best near lr = 0.01, beta = 0.99, 256 units, relu.
    """
    epochs: dict[tuple, int] = {}

    def train_one_epoch(lr: float, beta: float, units: int, activation: str) -> float:
        key = (lr, beta, units, activation)
        epochs[key] = epoch = epochs.get(key, 0) + 1
        distance = (math.log10(lr) + 2) ** 2 + (math.log10(1 - beta) + 2) ** 2 + math.log2(units / 256) ** 2 / 9
        ceiling = 0.95 - 0.05 * (activation != "relu")
        return ceiling * math.exp(-distance / 4) * (1 - 0.5 ** epoch)

    return train_one_epoch


@pytest.fixture
def trial():
    """A running trial of a fresh in-memory study: what an objective receives (README's `fit(..., trial=trial)`)."""
    import zoomtune as zt

    study = zt.create_study("readme", direction="maximize", sampler=zt.samplers.RandomSampler(seed=0))
    return study.ask()
