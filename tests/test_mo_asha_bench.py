"""The MO-ASHA Fashion-MNIST benchmark: its hypervolume-vs-epochs bookkeeping on hand-made trials, and one
tiny --quick run of the whole command on 8x8 digits."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import mo_asha_fashion as bench

from zoomtune.records import TrialRecord, TrialState


def trial(number: int, curve: list[tuple[float, float]], state: TrialState, times: list[float]) -> TrialRecord:
    """A two-objective record: (accuracy, params) per epoch, the report times the benchmark stores."""
    return TrialRecord(number, state, {}, {}, value=curve[-1][0] if state is TrialState.COMPLETE else None,
                       objective_values=curve[-1] if state is TrialState.COMPLETE else None,
                       intermediate_values={s: a for s, (a, _) in enumerate(curve)},
                       intermediate_vectors=dict(enumerate(curve)), user_attrs={"report_times": times},
                       datetime_start=datetime.fromtimestamp(times[0] - 1, timezone.utc))


def test_the_hypervolume_curve_counts_epochs_in_time_order_and_only_complete_trials() -> None:
    big = trial(0, [(0.5, 900.0), (0.9, 900.0)], TrialState.COMPLETE, [1.0, 4.0])
    small = trial(1, [(0.6, 100.0), (0.7, 100.0)], TrialState.COMPLETE, [2.0, 3.0])
    cut = trial(2, [(0.1, 500.0)], TrialState.STOPPED, [5.0])
    run = bench.Run("moasha", "MO-ASHA", 1.0, [big, small, cut])
    ideal, reference = bench.normalisation([run])
    # in (1 - accuracy, params): trial 0 is (0.1, 900), trial 1 (0.3, 100); the reference is 10% past the worst
    assert ideal == pytest.approx([0.1, 100.0]) and reference == pytest.approx([0.32, 980.0])
    bench.analyse(run, ideal, reference, target=1.0)
    assert run.epochs_total == 5 and run.counts == {"COMPLETE": 2, "STOPPED": 1}
    # epoch 3 (time 3) completes trial 1, epoch 4 trial 0; the stopped trial's epoch 5 adds nothing. Each
    # point alone covers a 1 x 1/11 strip of the unit box; together, two strips overlapping in a 1/11 square.
    strip = 1 / 11
    assert [c for c, _ in run.curve] == [0, 3, 4, 5]
    assert [v for _, v in run.curve] == pytest.approx([0.0, strip, 2 * strip - strip**2, 2 * strip - strip**2])
    assert run.final_hv == run.curve[-1][1] > run.curve[1][1]
    assert [n for n, _, _ in run.front] == [0, 1] and run.epochs_to_target is None
    bench.analyse(run, ideal, reference, target=run.final_hv)
    assert run.epochs_to_target == 4


def test_one_quick_run_prints_the_table_and_writes_the_report(tmp_path: Path) -> None:
    text = bench.main(["--quick", "--trials", "6", "--epochs", "3", "--schedulers", "none,moasha",
                       "--out-dir", str(tmp_path)])
    rows = {r[0]: r for r in ([c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
                              if line.startswith("| ") and not line.startswith("| run"))}
    assert set(rows) == {"no stopping", "MO-ASHA"}
    assert rows["no stopping"][1] == "18" and rows["no stopping"][4] == "6 complete"
    assert "stopped" in rows["MO-ASHA"][4] and int(rows["MO-ASHA"][1]) < 18
    assert ("PASS" in text) != ("FAIL" in text)
    assert "largest |val accuracy difference| at the same (trial, epoch) = 0 (identical curves)" in text
    assert (tmp_path / "mo_asha_fashion.md").read_text() == text
    assert (tmp_path / "mo_asha_fashion.png").stat().st_size > 10_000
