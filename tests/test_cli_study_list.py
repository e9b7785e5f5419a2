"""`zoomtune status` without a study: the listing's "best" column, a value for one objective and the size of
the Pareto front for several."""

from __future__ import annotations

from click.testing import CliRunner

import zoomtune as zt
from zoomtune.cli import cli, status


def add(study, *results, constraint=None):
    """Finish one trial per result (a number or one per objective), each with `constraint` when given."""
    for result in results:
        trial = study.ask()
        if constraint is not None:
            trial.set_constraint("size", constraint)
        study.tell(trial, result)


def rows(url):
    """The listing's rows by study name: the cells after the name."""
    result = CliRunner().invoke(cli, ["status", "--storage", url])
    assert result.exit_code == 0, result.output
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines() if "│" in line]
    return {row[0]: row[1:] for row in cells if row and row[0] not in ("study", "")}, result.output


def test_the_listing_shows_the_best_value_or_the_size_of_the_front(sqlite_url):
    add(zt.create_study("single", storage=sqlite_url), 3.0, 1.0, 2.0)
    pair = zt.create_study("pair", storage=sqlite_url, directions=["minimize", "maximize"])
    add(pair, (1.0, 1.0), (2.0, 3.0), (3.0, 3.0), (1.5, 0.5))  # trials 0 and 1 are the front
    add(zt.create_study("lone", storage=sqlite_url, directions=["minimize", "minimize"]), (1.0, 2.0))
    zt.create_study("fresh", storage=sqlite_url, directions=["minimize", "minimize"])
    listing, output = rows(sqlite_url)
    assert listing["single"][-1] == "1", output
    assert listing["pair"][0] == "minimize, maximize" and listing["pair"][-1] == "front: 2 trials", output
    assert listing["lone"][-1] == "front: 1 trial", output
    assert listing["fresh"][-1] == "-", output
    assert "counts it" not in output  # every front was counted


def test_only_feasible_trials_make_the_front(sqlite_url):
    both = zt.create_study("both", storage=sqlite_url, directions=["minimize", "minimize"])
    add(both, (1.0, 1.0), constraint=2.0)  # would dominate, but breaks its constraint
    add(both, (2.0, 3.0), (3.0, 2.0), constraint=-1.0)
    banned = zt.create_study("banned", storage=sqlite_url, directions=["minimize", "minimize"])
    add(banned, (1.0, 1.0), constraint=1.0)
    listing, output = rows(sqlite_url)
    assert listing["both"][-1] == "front: 2 trials", output
    assert listing["banned"][-1] == "-", output


def test_a_big_front_is_left_to_the_study_view(sqlite_url, monkeypatch):
    add(zt.create_study("pair", storage=sqlite_url, directions=["minimize", "minimize"]),
        (1.0, 2.0), (2.0, 1.0), (3.0, 3.0))
    monkeypatch.setattr(status, "LISTING_FRONT_MAX_TRIALS", 2)
    listing, output = rows(sqlite_url)
    assert listing["pair"][-1] == "front: see status", output
    assert "more than 2 complete trials: `zoomtune status STUDY` counts it" in output
