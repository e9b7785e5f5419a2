"""`zoomtune import-optuna` / `import_optuna`: real Optuna studies (SQLite and a journal file) copied into
zoomtune, every field checked, run twice, added to, and the one-line errors."""

import math
import sys
from datetime import timezone

import pytest

optuna = pytest.importorskip("optuna")

from click.testing import CliRunner  # noqa: E402
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402
from optuna.trial import TrialState as OptunaState  # noqa: E402

import zoomtune as zt  # noqa: E402
from zoomtune.cli import cli  # noqa: E402
from zoomtune.compat.optuna_import import (FAILED_IN_OPTUNA, IMPORT_ATTR, OptunaImportError,  # noqa: E402
                                           import_optuna)
from zoomtune.records import FailureCause, TrialState  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # set_metric_names

SPACE = {
    "lr": FloatDistribution(1e-4, 1.0, log=True),
    "dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "width": FloatDistribution(-1.0, 1.0),
    "units": IntDistribution(8, 256, log=True),
    "layers": IntDistribution(1, 9, step=2),
    "act": CategoricalDistribution(["relu", "tanh", None, True, 3]),
    "fixed": FloatDistribution(0.5, 0.5),
}
EXPECTED = {
    "lr": zt.Float(1e-4, 1.0, scale="log"),
    "dropout": zt.Float(0.0, 0.5),
    "width": zt.Float(-1.0, 1.0),
    "units": zt.Int(8, 256, scale="log"),
    "layers": zt.Int(1, 9),
    "act": zt.Categorical(("relu", "tanh", None, True, 3)),
    "fixed": zt.Categorical((0.5,)),
}


def make_single(url, name="mixed"):
    """A minimize study: 2 complete (one with a constraint), 1 pruned with reports, 1 failed, 1 with value
    inf, 1 running, 1 waiting."""
    study = optuna.create_study(study_name=name, storage=url, direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    study.set_user_attr("owner", "ana")
    for i, value in enumerate([0.3, 0.2]):
        trial = study.ask(SPACE)
        trial.set_user_attr("fold", {"k": i, "tags": ["a", "b"]})
        trial.set_constraint("memory", 0.5 * i)
        for step in range(3):
            trial.report(1.0 - 0.1 * step, step)
        study.tell(trial, value)
    pruned = study.ask(SPACE)
    pruned.report(0.9, 0)
    pruned.report(0.7, 4)
    study.tell(pruned, state=OptunaState.PRUNED)
    failed = study.ask(SPACE)
    failed.report(2.0, 0)
    study.tell(failed, state=OptunaState.FAIL)
    study.tell(study.ask(SPACE), math.inf)
    study.ask(SPACE)  # left RUNNING
    study.enqueue_trial({"lr": 0.01})  # WAITING
    return study


def make_multi(path, name="mo"):
    """A journal-file study of two named objectives: 2 complete, 1 failed, 1 pruned (without values: Optuna
    keeps none for several objectives)."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.create_study(study_name=name, storage=storage, directions=["minimize", "maximize"],
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.set_metric_names(["loss", "accuracy"])
    for values in ([0.4, 0.8], [0.3, 0.7]):
        trial = study.ask({"lr": SPACE["lr"], "act": SPACE["act"]})
        trial.set_user_attr("note", "mo")
        study.tell(trial, values)
    study.tell(study.ask({"lr": SPACE["lr"]}), state=OptunaState.FAIL)
    study.tell(study.ask({"lr": SPACE["lr"]}), state=OptunaState.PRUNED)
    return study


def copies(study):
    """The zoomtune study's trials by Optuna trial number."""
    return {t.user_attrs[IMPORT_ATTR]["number"]: t for t in study.trials}


def invoke(*args):
    return CliRunner().invoke(cli, ["import-optuna", *args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def source(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    return url, make_single(url)


@pytest.fixture
def target(tmp_path):
    return f"sqlite:///{tmp_path / 'zoomtune.db'}"


def test_rdb_study_every_field_copied(source, target):
    url, original = source
    seen = []
    summary = import_optuna(url, target, on_progress=lambda *args: seen.append(args))
    assert seen == [("mixed", i, 7) for i in range(1, 8)]  # every Optuna trial, the unfinished ones too
    [done] = summary.studies
    assert (done.name, done.created, done.already_copied, done.unfinished) == ("mixed", True, 0, 2)
    assert done.copied == {TrialState.COMPLETE: 2, TrialState.STOPPED: 1, TrialState.FAILED: 2}
    study = zt.load_study("mixed", storage=target)
    assert study.directions == (zt.Direction.MINIMIZE,)
    assert study.user_attrs == {"owner": "ana"}
    assert study.attrs[IMPORT_ATTR] == {"source": url, "study": "mixed"}
    copied = copies(study)
    frozen = {t.number: t for t in original.get_trials(deepcopy=False)}
    assert sorted(copied) == [0, 1, 2, 3, 4]
    states = {0: TrialState.COMPLETE, 1: TrialState.COMPLETE, 2: TrialState.STOPPED, 3: TrialState.FAILED,
              4: TrialState.FAILED}
    for number, record in copied.items():
        source_trial = frozen[number]
        assert record.state is states[number]
        assert record.params == source_trial.params
        assert record.distributions == {name: EXPECTED[name] for name in source_trial.params}
        assert record.intermediate_values == source_trial.intermediate_values
        # Optuna's own times (naive, this machine's local time), so durations are Optuna's
        assert record.datetime_start == source_trial.datetime_start.astimezone(timezone.utc)
        assert record.datetime_complete == source_trial.datetime_complete.astimezone(timezone.utc)
        assert record.duration == source_trial.duration.total_seconds()
        marker = record.user_attrs.pop(IMPORT_ATTR)
        assert record.user_attrs == source_trial.user_attrs
        assert marker == {"study": "mixed", "number": number, "state": source_trial.state.name,
                          "datetime_start": source_trial.datetime_start.isoformat(),
                          "datetime_complete": source_trial.datetime_complete.isoformat(),
                          "steps": {"dropout": 0.1, "layers": 2}}
    assert [copied[n].value for n in (0, 1, 2)] == [0.3, 0.2, 0.7]  # pruned: its last report, as Optuna keeps it
    assert copied[2].intermediate_values == {0: 0.9, 4: 0.7}
    assert copied[0].constraints == {"memory": 0.0} and copied[1].constraints == {"memory": 0.5}
    assert (copied[3].error, copied[3].cause, copied[3].value) == (FAILED_IN_OPTUNA, FailureCause.ERROR, None)
    assert copied[4].cause is FailureCause.BAD_VALUE and "inf" in copied[4].error
    assert study.best_trial.user_attrs[IMPORT_ATTR]["number"] == 0  # trial 1 (0.2) breaks its constraint


def test_journal_multi_objective_through_the_cli(tmp_path, target):
    journal = tmp_path / "optuna.jsonl"
    original = make_multi(journal)
    result = invoke(str(journal), "--storage", target)
    assert result.exit_code == 0, result.output
    assert "study 'mo' (new): copied 4 trials (2 complete, 1 stopped, 1 failed)" in result.stdout
    study = zt.load_study("mo", storage=target)
    assert study.directions == (zt.Direction.MINIMIZE, zt.Direction.MAXIMIZE)
    assert study.metric_names == ("loss", "accuracy")
    copied = copies(study)
    for frozen in original.get_trials(deepcopy=False):
        record = copied[frozen.number]
        assert record.params == frozen.params
        assert record.user_attrs.get("note") == frozen.user_attrs.get("note")
        if frozen.state is OptunaState.COMPLETE:
            assert record.state is TrialState.COMPLETE
            assert record.values == tuple(frozen.values) and record.value == frozen.values[0]
        else:
            expected = TrialState.STOPPED if frozen.state is OptunaState.PRUNED else TrialState.FAILED
            assert record.state is expected and record.values is None
    assert {t.user_attrs[IMPORT_ATTR]["number"] for t in study.best_trials} == {0, 1}  # neither dominates
    again = invoke(f"journal:{journal}", "--storage", target)  # the prefix names the same file
    assert "copied 0 trials, 4 already there" in again.stdout


def test_twice_copies_nothing_new_and_later_trials_are_copied_next_time(source, target):
    url, original = source
    first = invoke(url, "--study", "mixed", "--storage", target)
    assert first.exit_code == 0, first.output
    second = invoke(url, "--storage", target)
    assert second.exit_code == 0, second.output
    assert "study 'mixed': copied 0 trials, 5 already there, 2 running or waiting" in second.stdout
    assert len(zt.load_study("mixed", storage=target).trials) == 5

    running = next(t for t in original.get_trials(deepcopy=False) if t.state is OptunaState.RUNNING)
    original.tell(running.number, 0.1)  # the running trial finishes, the waiting one runs, and one more is added
    waiting = original.ask(SPACE)
    original.tell(waiting, 0.05)
    original.add_trial(optuna.trial.create_trial(params={"units": 32}, distributions={"units": SPACE["units"]},
                                                 value=0.5, user_attrs={"by": "hand"}))
    summary = import_optuna(url, target)
    [done] = summary.studies
    assert (done.n_copied, done.copied[TrialState.COMPLETE], done.already_copied, done.unfinished) == (3, 3, 5, 0)
    study = zt.load_study("mixed", storage=target)
    assert len(study.trials) == 8
    new = copies(study)
    assert new[running.number].value == 0.1 and new[waiting.number].params["lr"] == 0.01
    assert (new[7].params, new[7].user_attrs["by"], study.best_value) == ({"units": 32}, "hand", 0.05)
    original.set_user_attr("owner", "bo")  # study attributes set in Optuna since arrive on the next run
    original.set_user_attr("dataset", {"name": "mnist", "version": 2})
    third = invoke(url, "--storage", target)
    assert "copied 0 trials, 8 already there" in third.stdout
    assert zt.load_study("mixed", storage=target).user_attrs == {"owner": "bo",
                                                                 "dataset": {"name": "mnist", "version": 2}}


def test_an_import_stopped_midway_leaves_only_whole_copies_and_the_next_run_copies_the_rest(source, target):
    """Each copy is written in one commit: stopped after its third trial, an import leaves three finished
    copies (none RUNNING for the next run to mend), and running it again copies the other two."""
    url, original = source

    def stop_after_three(study, done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_optuna(url, target, on_progress=stop_after_three)
    study = zt.load_study("mixed", storage=target)
    assert sorted(copies(study)) == [0, 1, 2]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.STOPPED]
    [done] = import_optuna(url, target).studies
    assert (done.created, done.already_copied, done.n_copied) == (False, 3, 2)
    study = zt.load_study("mixed", storage=target)
    assert sorted(copies(study)) == [0, 1, 2, 3, 4]
    assert copies(study)[3].value is None and copies(study)[3].datetime_start == (
        original.trials[3].datetime_start.astimezone(timezone.utc))


def test_every_study_without_study_option(tmp_path, target):
    url = f"sqlite:///{tmp_path / 'two.db'}"
    for name, value in (("one", 1.0), ("two", 2.0)):
        optuna.create_study(study_name=name, storage=url).optimize(lambda t, v=value: v + t.suggest_float("x", 0, 1),
                                                                   n_trials=2)
    result = invoke(url, "--storage", target)
    assert result.exit_code == 0, result.output
    assert "study 'one' (new): copied 2 trials" in result.stdout
    assert "study 'two' (new): copied 2 trials" in result.stdout
    assert "copied 4 trials from" in result.stdout
    assert {s.name: s.n_trials for s in zt.list_studies(target)} == {"one": 2, "two": 2}


def test_errors_are_one_line(tmp_path, source, target):
    url, _ = source
    assert_one_line_error(invoke(f"sqlite:///{tmp_path / 'none.db'}", "--storage", target),
                          "no Optuna database at", "none.db")
    assert not (tmp_path / "none.db").exists()  # never created by looking
    assert_one_line_error(invoke(str(tmp_path / "none.log"), "--storage", target), "no Optuna journal file at")
    assert_one_line_error(invoke(str(tmp_path / "optuna.db"), "--storage", target),
                          "cannot tell what kind of Optuna storage", "sqlite:///")
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 100)
    assert_one_line_error(invoke(f"sqlite:///{text}", "--storage", target), "cannot read Optuna storage")
    garbage = tmp_path / "broken.jsonl"
    garbage.write_text("{this is not json\n" * 2)  # Optuna skips a last line cut short, not others
    assert_one_line_error(invoke(str(garbage), "--storage", target), "cannot read Optuna storage")
    assert_one_line_error(invoke(url, "--study", "nope", "--storage", target),
                          "no Optuna study named 'nope'", "(it has: 'mixed')")
    zt.create_study("mixed", storage=target, direction="maximize")
    assert_one_line_error(invoke(url, "--storage", target), "study 'mixed'", "is to maximize",
                          "Optuna's is to minimize")
    assert len(zt.load_study("mixed", storage=target).trials) == 0  # refused before anything was copied


def test_another_optuna_study_of_the_same_name_is_refused(tmp_path, target):
    for i, value in enumerate((1.0, 2.0)):
        url = f"sqlite:///{tmp_path / f'o{i}.db'}"
        optuna.create_study(study_name="same", storage=url).optimize(lambda t, v=value: v + t.suggest_float("x", 0, 1),
                                                                     n_trials=1)
        if i == 0:
            import_optuna(url, target)
    with pytest.raises(OptunaImportError, match="was copied from another Optuna trial 0"):
        import_optuna(url, target)


def test_without_optuna_a_clear_error(source, target, monkeypatch):
    url, _ = source
    monkeypatch.setitem(sys.modules, "optuna", None)  # what `import optuna` meets when it is not installed
    with pytest.raises(OptunaImportError, match=r"needs Optuna: pip install 'zoomtune\[optuna\]'"):
        import_optuna(url, target)


def test_an_interrupted_import_says_running_it_again_continues(tmp_path, monkeypatch):
    """Ctrl-C during an import: the message says what continues an import, not `zoomtune resume`."""
    from zoomtune.compat import optuna_import

    source = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="cut", storage=source).optimize(lambda t: t.suggest_float("x", 0, 1),
                                                                   n_trials=2)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(optuna_import, "import_optuna", interrupted)  # where Ctrl-C lands: inside the copy
    result = CliRunner().invoke(cli, ["import-optuna", source, "--storage", f"sqlite:///{tmp_path / 'zt.db'}"])
    assert result.exit_code == 130
    assert "running `zoomtune import-optuna` again copies the rest" in result.output
    assert "zoomtune resume" not in result.output
