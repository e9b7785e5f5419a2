"""The progress display in a real Jupyter kernel (nbclient runs a notebook), and its detection outside one."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

import zoomtune as zt  # noqa: E402
from zoomtune.notebook_progress import in_jupyter_kernel  # noqa: E402

KERNEL = "zoomtune-test-python"

# Trials 3 and 7 fail, so the status line has something to count besides completions; the sleep makes the run
# last about a second, long enough for the display to be redrawn while it runs.
STUDY = """
import time
import zoomtune as zt

def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    time.sleep(0.05)
    if trial.number in (3, 7):
        raise ValueError("boom")
    return x * x

study = zt.create_study(direction="minimize", sampler=zt.samplers.RandomSampler(seed=0))
study.optimize(objective, n_trials=20, show_progress_bar=True)
print(f"BEST {study.best_value:.6g} (trial {study.best_trial.number})")
"""
WITHOUT_WIDGETS = "import sys\nsys.modules['ipywidgets'] = None  # import ipywidgets now raises ImportError\n" + STUDY


class RecordingClient(nbclient.NotebookClient):  # type: ignore[misc]
    """Runs the notebook as nbclient does, keeping each cell's iopub message types to see updates in place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: dict[int, list[str]] = {}

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        self.messages.setdefault(cell_index, []).append(msg["msg_type"])
        return super().process_message(msg, cell, cell_index)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, RecordingClient]:
    """Both cells run in one kernel of this interpreter (its own kernelspec, so no other Python is picked up)."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL, "language": "python"}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(root))
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(STUDY),
                                                   nbformat.v4.new_code_cell(WITHOUT_WIDGETS)])
        client = RecordingClient(notebook, kernel_name=KERNEL, timeout=60,
                                 resources={"metadata": {"path": str(root)}})
        client.execute()
    return notebook, client


def best_line(cell: Any) -> str:
    """What the cell printed as its study's best, "0.00123 (trial 5)"."""
    printed = "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout")
    match = re.search(r"BEST (.+)", printed)
    assert match, printed
    return match.group(1)


def assert_clean(cell: Any) -> None:
    """Nothing of the progress on stderr (only the two failed trials' log lines), no terminal escape codes
    anywhere in the cell."""
    err = "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stderr")
    assert [line.split(":")[0] for line in err.splitlines()] == ["trial 3 failed", "trial 7 failed"]
    assert "\x1b[" not in json.dumps(cell.outputs, ensure_ascii=False)


def test_not_in_a_kernel_under_pytest_and_ipython_not_imported() -> None:
    loaded = "IPython" in sys.modules
    assert in_jupyter_kernel() is False
    assert ("IPython" in sys.modules) == loaded


def test_terminal_still_draws_rich_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    study = zt.create_study()
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=5, show_progress_bar=True)
    err = capfd.readouterr().err
    assert "trials 5/5" in err
    assert f"best {study.best_value:.6g} (trial {study.best_trial.number})" in err


def test_widget_bar_and_status_line_updated_in_place(executed: tuple[Any, RecordingClient]) -> None:
    notebook, client = executed
    cell = notebook.cells[0]
    displays = [o for o in cell.outputs if o["output_type"] == "display_data"]
    assert len(displays) == 1
    assert "application/vnd.jupyter.widget-view+json" in displays[0]["data"]
    assert_clean(cell)
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {m["model_name"]: m["state"] for m in state.values()}
    bar, label = models["FloatProgressModel"], models["HTMLModel"]["value"]
    assert (bar["value"], bar["max"], bar["bar_style"]) == (20.0, 20.0, "success")
    assert "trials 20/20 | running 0 | failed 2 |" in label
    assert f"best {best_line(cell)}" in label
    assert re.search(r"elapsed \d:\d\d:\d\d \| eta 0:00:00", label)
    assert client.messages[0].count("comm_msg") >= 2  # the widgets were changed after being shown


def test_without_ipywidgets_one_output_replaced_in_place(executed: tuple[Any, RecordingClient]) -> None:
    notebook, client = executed
    cell = notebook.cells[1]
    displays = [o for o in cell.outputs if o["output_type"] == "display_data"]
    assert len(displays) == 1
    assert_clean(cell)
    text, page = displays[0]["data"]["text/plain"], displays[0]["data"]["text/html"]
    assert text.startswith("trials 20/20 | running 0 | failed 2 |")
    assert f"best {best_line(cell)}" in text
    assert '<progress value="20" max="20"></progress>' in page
    assert client.messages[1].count("update_display_data") >= 1
