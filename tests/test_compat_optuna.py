"""zoomtune.compat.optuna runs Optuna scripts unchanged: each script below is written in Optuna's documented style
as a function of the `optuna` module, and runs once with the real Optuna and once with the shim; both must work
and give the same kind of results (trial counts, states, parameter ranges and types, data-frame columns).
Then: what each Optuna argument becomes in zoomtune, and the error each unmappable thing raises."""

from __future__ import annotations

import threading
import warnings
from types import ModuleType

import pytest

real_optuna = pytest.importorskip("optuna")
pytest.importorskip("pandas")

import zoomtune as zt  # noqa: E402
import zoomtune.compat.optuna as shim  # noqa: E402

real_optuna.logging.set_verbosity(real_optuna.logging.WARNING)
shim.logging.set_verbosity(shim.logging.WARNING)

BOTH = pytest.mark.parametrize("optuna", [real_optuna, shim], ids=["optuna", "zoomtune"])


def states(study) -> list[str]:
    return [t.state.name for t in study.trials]


SCRIPT = """
{import_line}

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


study = optuna.create_study()
study.optimize(objective, n_trials=20)
best = study.best_params
"""


@pytest.mark.parametrize("import_line", ["import optuna", "import zoomtune.compat.optuna as optuna"])
def test_a_script_runs_with_only_its_import_line_changed(import_line):
    names: dict = {}
    exec(SCRIPT.format(import_line=import_line), names)
    assert len(names["study"].trials) == 20 and -10 <= names["best"]["x"] <= 10


# -- the scripts ---------------------------------------------------------------------------------------
def quickstart(optuna: ModuleType):
    """Optuna's quickstart: minimise (x - 2)^2."""
    def objective(trial):
        x = trial.suggest_float("x", -10, 10)
        return (x - 2) ** 2

    study = optuna.create_study()
    study.optimize(objective, n_trials=30)
    return study


def pruned(optuna: ModuleType, pruner):
    """Optuna's pruning example: report a learning curve, prune when told."""
    def objective(trial):
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        units = trial.suggest_int("units", 4, 64, log=True)
        trial.suggest_categorical("activation", ["relu", "tanh"])
        loss = 1.0
        for step in range(9):
            loss *= 1.0 - 0.5 * lr
            trial.report(loss + 1.0 / units, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return loss + 1.0 / units

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0), pruner=pruner)
    study.optimize(objective, n_trials=20)
    return study


@BOTH
def test_quickstart(optuna):
    study = quickstart(optuna)
    assert len(study.trials) == 30 and set(states(study)) == {"COMPLETE"}
    assert set(study.best_params) == {"x"} and isinstance(study.best_params["x"], float)
    assert -10 <= study.best_params["x"] <= 10
    assert study.best_value == min(t.value for t in study.trials) < 4
    assert study.best_trial.number in range(30) and study.direction == optuna.study.StudyDirection.MINIMIZE


@BOTH
@pytest.mark.parametrize("make", [
    lambda o: o.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
    lambda o: o.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    lambda o: o.pruners.SuccessiveHalvingPruner(),
    lambda o: o.pruners.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3),
    lambda o: o.pruners.HyperbandPruner(),
], ids=["median", "sha", "sha-auto", "hyperband", "hyperband-auto"])
def test_pruning(optuna, make):
    study = pruned(optuna, make(optuna))
    assert len(study.trials) == 20 and set(states(study)) <= {"COMPLETE", "PRUNED"}
    for t in study.trials:
        assert 1e-3 <= t.params["lr"] <= 1.0 and isinstance(t.params["units"], int)
        assert t.params["activation"] in ("relu", "tanh")
        if t.state.name == "PRUNED":
            assert len(t.intermediate_values) < 9 and t.value == t.intermediate_values[t.last_step]
    assert states(study).count("PRUNED") > 0


@BOTH
def test_no_pruner_means_median(optuna):
    study = pruned(optuna, None)
    assert "PRUNED" in states(study) and "COMPLETE" in states(study)


@BOTH
def test_nop_pruner_never_prunes(optuna):
    assert set(states(pruned(optuna, optuna.pruners.NopPruner()))) == {"COMPLETE"}


@BOTH
def test_ask_tell(optuna):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=1, n_startup_trials=4))
    for _ in range(8):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        y = trial.suggest_int("y", 0, 10, step=2)
        z = trial.suggest_float("z", 0.0, 1.0, step=0.25)
        frozen = study.tell(trial, x + y + z)
        assert frozen.state == optuna.trial.TrialState.COMPLETE and frozen.value == pytest.approx(x + y + z)
    failed = study.ask()
    study.tell(failed.number, state=optuna.trial.TrialState.FAIL)
    stopped = study.ask()
    stopped.suggest_float("x", 0, 1)
    stopped.report(0.5, 0)
    with pytest.warns(UserWarning, match="step=0` is already reported"):
        stopped.report(0.7, 0)
    study.tell(stopped, state=optuna.trial.TrialState.PRUNED)
    fixed = study.ask(fixed_distributions={"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(fixed, fixed.params["x"])
    assert states(study) == ["COMPLETE"] * 8 + ["FAIL", "PRUNED", "COMPLETE"]
    assert study.trials[9].value == 0.5
    for t in study.trials[:8]:
        assert t.params["y"] in range(0, 11, 2) and isinstance(t.params["y"], int)
        assert t.params["z"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert study.best_value == max(t.value for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    assert len(study.get_trials(states=[optuna.trial.TrialState.FAIL])) == 1
    with pytest.raises(ValueError, match="Cannot tell a FAIL trial"):
        study.tell(failed.number, 1.0)
    assert study.tell(failed.number, 1.0, skip_if_finished=True).state == optuna.trial.TrialState.FAIL


@BOTH
def test_enqueue_trial(optuna):
    def objective(trial):
        return trial.suggest_float("x", -5, 5) ** 2 + trial.suggest_int("n", 1, 4)

    study = optuna.create_study()
    study.enqueue_trial({"x": 1.5, "n": 3})
    study.enqueue_trial({"x": 2, "n": 1})  # an int for a float parameter: the objective gets 2.0
    study.enqueue_trial({"x": 2.0}, user_attrs={"why": "a hunch"})
    study.enqueue_trial({"x": 2.0}, skip_if_exists=True)  # the same params are queued already: skipped
    study.optimize(objective, n_trials=5)
    assert len(study.trials) == 5 and set(states(study)) == {"COMPLETE"}
    assert study.trials[0].params == {"x": 1.5, "n": 3} and study.trials[0].value == pytest.approx(5.25)
    assert study.trials[1].value == 5.0 and isinstance(study.trials[1].value, float)
    assert study.trials[2].params["x"] == 2.0 and study.trials[2].user_attrs == {"why": "a hunch"}


@BOTH
@pytest.mark.parametrize("make", [lambda o: o.samplers.TPESampler(seed=0, n_startup_trials=3),
                                  lambda o: o.samplers.NSGAIISampler(seed=0, population_size=4)], ids=["tpe", "nsga2"])
def test_a_conditional_space_keeps_only_the_asked_parameters(optuna, make):
    def objective(trial):
        if trial.suggest_categorical("model", ["linear", "tree"]) == "linear":
            return trial.suggest_float("alpha", 1e-3, 1.0, log=True)
        return 1.0 + trial.suggest_int("depth", 1, 5)

    study = optuna.create_study(sampler=make(optuna))
    study.optimize(objective, n_trials=14)
    for t in study.trials:
        assert set(t.params) == {"model", "alpha" if t.params["model"] == "linear" else "depth"}
    assert set(study.best_params) == {"model", "alpha"}


@BOTH
def test_callbacks_and_stop(optuna):
    seen = []

    def stop_after_five(study, frozen):
        assert isinstance(frozen, optuna.trial.FrozenTrial)
        seen.append((frozen.number, frozen.state.name, frozen.datetime_complete is not None))
        if len(seen) == 5:
            study.stop()

    study = optuna.create_study()
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=50, callbacks=[stop_after_five])
    assert len(study.trials) == 5 and seen == [(n, "COMPLETE", True) for n in range(5)]


def failing_on_odd(trial):
    x = trial.suggest_int("x", 0, 9)
    if trial.number % 2:
        raise ValueError("odd trial")
    return x


@BOTH
def test_catch(optuna):
    study = optuna.create_study()
    study.optimize(failing_on_odd, n_trials=6, catch=(ValueError,))
    assert states(study) == ["COMPLETE", "FAIL"] * 3
    strict = optuna.create_study()  # Optuna's default catch=(): the error goes up, its trial FAIL
    with pytest.raises(ValueError, match="odd trial"):
        strict.optimize(failing_on_odd, n_trials=6)
    assert states(strict) == ["COMPLETE", "FAIL"]


@BOTH
def test_n_jobs_runs_threads_of_this_process(optuna):
    threads = set()

    def objective(trial):
        threads.add(threading.current_thread().name)  # a closure over local state works, as in Optuna
        return trial.suggest_float("x", -1, 1) ** 2

    study = optuna.create_study()
    study.optimize(objective, n_trials=10, n_jobs=2)
    assert len(study.trials) == 10 and set(states(study)) == {"COMPLETE"} and threads


def user_attrs_study(optuna: ModuleType):
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.set_user_attr("double", 2 * x)
        trial.report(x, 0)
        if trial.number == 2:
            raise optuna.TrialPruned()
        return x

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3), pruner=optuna.pruners.NopPruner())
    study.optimize(objective, n_trials=4)
    return study


@pytest.mark.parametrize("script", ["one", "two"])
def test_trials_dataframe_has_optunas_columns(script):
    def run(optuna):
        if script == "one":
            return user_attrs_study(optuna).trials_dataframe()
        study = optuna.create_study(directions=["minimize", "maximize"],
                                    sampler=optuna.samplers.NSGAIISampler(seed=0, population_size=4))
        study.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_int("b", 0, 3)), n_trials=6)
        assert len(study.best_trials) >= 1 and all(len(t.values) == 2 for t in study.best_trials)
        return study.trials_dataframe()

    real, ours = run(real_optuna), run(shim)
    assert list(ours.columns) == [c for c in real.columns if not c.startswith("system_attrs_")]  # we keep none
    assert list(ours["state"]) == list(real["state"])
    assert str(ours["duration"].dtype).startswith("timedelta64")
    assert list(real_optuna.create_study().trials_dataframe().columns) == list(shim.create_study()
                                                                              .trials_dataframe().columns) == []


@BOTH
def test_sqlite_storage_and_load_study_in_a_second_call(optuna, tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"

    def objective(trial):
        return -(trial.suggest_float("x", -3, 3) ** 2)

    def first():
        study = optuna.create_study(study_name="bowl", storage=url, direction="maximize")
        study.optimize(objective, n_trials=5)

    def second():
        study = optuna.load_study(study_name="bowl", storage=url)
        study.optimize(objective, n_trials=3)
        return study

    first()
    study = second()
    assert len(study.trials) == 8 and study.study_name == "bowl"
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    again = optuna.create_study(study_name="bowl", storage=url, load_if_exists=True)
    assert len(again.trials) == 8 and optuna.load_study(study_name=None, storage=url).study_name == "bowl"
    assert optuna.get_all_study_names(url) == ["bowl"]
    optuna.delete_study(study_name="bowl", storage=url)
    assert optuna.get_all_study_names(url) == []
    assert optuna.create_study(storage=url).study_name  # no name: a generated one


@BOTH
def test_study_user_attrs_are_kept_and_seen_by_every_handle_on_the_study(optuna, tmp_path):
    url = f"sqlite:///{tmp_path / 'attrs.db'}"
    study = optuna.create_study(study_name="noted", storage=url)
    assert study.user_attrs == {}
    study.set_user_attr("dataset", "mnist-v2")
    study.set_user_attr("folds", [1, 2, 3])
    study.set_user_attr("dataset", "mnist-v3")
    assert study.user_attrs == {"dataset": "mnist-v3", "folds": [1, 2, 3]}
    loaded = optuna.load_study(study_name="noted", storage=url)
    assert loaded.user_attrs == {"dataset": "mnist-v3", "folds": [1, 2, 3]}
    loaded.set_user_attr("by", "ana")
    assert study.user_attrs["by"] == "ana"  # the first handle sees what the second one set
    with pytest.raises(TypeError):
        study.set_user_attr("bad", object())
    assert optuna.load_study(study_name="noted", storage=url).user_attrs == {
        "dataset": "mnist-v3", "folds": [1, 2, 3], "by": "ana"}
    memory = optuna.create_study()
    memory.set_user_attr("k", {"nested": True})
    assert memory.user_attrs == {"k": {"nested": True}}


@BOTH
def test_grid_sampler_stops_when_the_grid_is_done(optuna):
    def objective(trial):
        return trial.suggest_int("x", -1, 1) + len(trial.suggest_categorical("y", ["a", "bb"]))

    study = optuna.create_study(sampler=optuna.samplers.GridSampler({"x": [-1, 0, 1], "y": ["a", "bb"]}, seed=0))
    study.optimize(objective, n_trials=100)
    assert len(study.trials) == 6
    assert sorted((t.params["x"], t.params["y"]) for t in study.trials) == [
        (x, y) for x in (-1, 0, 1) for y in ("a", "bb")]


@BOTH
@pytest.mark.parametrize("make", [lambda o: o.samplers.QMCSampler(seed=0),
                                  lambda o: o.samplers.TPESampler(seed=0, n_startup_trials=4),
                                  lambda o: o.samplers.RandomSampler(seed=0),
                                  lambda o: o.samplers.GPSampler(seed=0, n_startup_trials=5)],
                         ids=["qmc", "tpe", "random", "gp"])
def test_samplers_keep_the_ranges(optuna, make):
    def objective(trial):
        return trial.suggest_float("lr", 1e-4, 1e-1, log=True) * trial.suggest_int("k", 1, 5)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental / seeding warnings
        study = optuna.create_study(sampler=make(optuna))
        study.optimize(objective, n_trials=10)
    assert len(study.trials) == 10 and set(states(study)) == {"COMPLETE"}
    assert all(1e-4 <= t.params["lr"] <= 1e-1 and t.params["k"] in range(1, 6) for t in study.trials)
    assert isinstance(study.best_params["k"], int) and isinstance(study.best_params["lr"], float)


@BOTH
def test_old_suggest_api_and_reusing_the_best_trial(optuna):
    def objective(trial):
        a = trial.suggest_uniform("a", 0, 1)
        b = trial.suggest_loguniform("b", 1e-3, 1)
        c = trial.suggest_discrete_uniform("c", 0, 1, 0.5)
        d = trial.suggest_int("d", 0, 8, step=4)
        return a + b + c + d

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Optuna deprecates the old names
        study = optuna.create_study()
        study.optimize(objective, n_trials=6)
        assert objective(study.best_trial) == pytest.approx(study.best_value)  # a FrozenTrial as a trial
    for t in study.trials:
        assert t.params["c"] in (0.0, 0.5, 1.0) and t.params["d"] in (0, 4, 8) and 1e-3 <= t.params["b"] <= 1


# -- what maps to what ----------------------------------------------------------------------------------
def test_samplers_and_pruners_map_argument_by_argument():
    tpe = shim.samplers.TPESampler(seed=3, n_startup_trials=7, n_ei_candidates=5, prior_weight=2.0).zoomtune
    assert isinstance(tpe, zt.samplers.TPESampler)
    assert (tpe.seed, tpe.n_startup_trials, tpe.n_candidates, tpe.prior_weight) == (3, 7, 5, 2.0)
    nsga = shim.samplers.NSGAIISampler(population_size=8, crossover_prob=0.7, swapping_prob=0.3, seed=1).zoomtune
    assert (nsga.population_size, nsga.crossover_prob, nsga.swap_prob) == (8, 0.7, 0.3)
    gp = shim.samplers.GPSampler(seed=2, n_startup_trials=4, deterministic_objective=True).zoomtune
    assert isinstance(gp, zt.samplers.GPSampler) and (gp.n_startup_trials, gp.deterministic_objective) == (4, True)
    assert isinstance(shim.samplers.QMCSampler(seed=0).zoomtune, zt.samplers.SobolSampler)
    median = shim.pruners.MedianPruner(2, 3, 4).zoomtune
    assert (median.n_startup_trials, median.n_warmup_steps, median.interval_steps) == (2, 3, 4)
    sha = shim.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3, min_early_stopping_rate=2).zoomtune
    assert isinstance(sha, zt.schedulers.ASHA) and (sha.min_resource, sha.reduction_factor) == (18, 3)
    hb = shim.pruners.HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3).zoomtune
    assert (hb.min_resource, hb.max_resource, hb.reduction_factor) == (1, 27, 3)
    assert shim.pruners.NopPruner().zoomtune is None


def test_auto_resources_are_estimated_from_the_first_complete_trial():
    pruner = shim.pruners.HyperbandPruner(reduction_factor=3)
    study = pruned(shim, pruner)
    estimated = pruner.zoomtune.estimated
    assert isinstance(estimated, zt.schedulers.Hyperband) and estimated.max_resource == 9
    assert "PRUNED" in states(study)


def test_pruned_is_zoomtunes_stopped_and_a_zoomtune_sampler_passes_through():
    assert issubclass(shim.TrialPruned, zt.TrialStopped)
    study = shim.create_study(sampler=zt.samplers.CoarseToFineSampler(seed=0, round_size=4),
                              pruner=zt.schedulers.ASHA())
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=8)
    assert isinstance(study.zoomtune.sampler, zt.samplers.CoarseToFineSampler) and len(study.trials) == 8
    assert [t.state for t in study.zoomtune.trials] == [zt.TrialState.COMPLETE] * 8


def test_a_loaded_study_samples_with_its_stored_seed(tmp_path):
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    created = shim.create_study(study_name="s", storage=url, sampler=shim.samplers.RandomSampler(seed=42))
    loaded = shim.load_study(study_name="s", storage=url, sampler=shim.samplers.RandomSampler())
    assert created.zoomtune.sampler.seed == loaded.zoomtune.sampler.seed == 42


# -- what does not map ------------------------------------------------------------------------------------
def _study_with_one_trial():
    study = shim.create_study()
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    return study


@pytest.mark.parametrize(("make", "named"), [
    (lambda: shim.samplers.CmaEsSampler(), "CmaEsSampler"),
    (lambda: shim.samplers.BruteForceSampler(), "BruteForceSampler"),
    (lambda: shim.samplers.PartialFixedSampler({"x": 1}, None), "PartialFixedSampler"),
    (lambda: shim.samplers.TPESampler(constraints_func=lambda t: [0.0]), "constraints_func"),
    (lambda: shim.samplers.TPESampler(consider_prior=False), "consider_prior"),
    (lambda: shim.samplers.TPESampler(group=True), "group"),
    (lambda: shim.samplers.QMCSampler(qmc_type="halton"), "qmc_type='halton'"),
    (lambda: shim.samplers.NSGAIISampler(crossover=object()), "crossover"),
    (lambda: shim.samplers.GPSampler(independent_sampler=shim.samplers.RandomSampler()), "independent_sampler"),
    (lambda: shim.pruners.PercentilePruner(25.0), "PercentilePruner"),
    (lambda: shim.pruners.ThresholdPruner(upper=1.0), "ThresholdPruner"),
    (lambda: shim.pruners.PatientPruner(shim.pruners.MedianPruner(), patience=2), "PatientPruner"),
    (lambda: shim.pruners.WilcoxonPruner(), "WilcoxonPruner"),
    (lambda: shim.pruners.MedianPruner(n_min_trials=3), "n_min_trials"),
    (lambda: shim.pruners.SuccessiveHalvingPruner(bootstrap_count=2), "bootstrap_count"),
    (lambda: shim.pruners.HyperbandPruner(bootstrap_count=2, max_resource=9), "bootstrap_count"),
    (lambda: shim.create_study(storage=real_optuna.storages.InMemoryStorage()), "InMemoryStorage"),
    (lambda: shim.create_study(sampler=real_optuna.samplers.RandomSampler()), "sampler=RandomSampler"),
    (lambda: shim.create_study(pruner=real_optuna.pruners.MedianPruner()), "pruner=MedianPruner"),
    (lambda: shim.visualization, "optuna.visualization"),
    (lambda: shim.copy_study, "optuna.copy_study"),
    (lambda: _study_with_one_trial().add_trial(None), "Study.add_trial"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_what_has_no_faithful_mapping_raises_naming_it(make, named):
    with pytest.raises(NotImplementedError, match=r"not supported by zoomtune\.compat\.optuna: .+") as caught:
        make()
    assert named in str(caught.value)


def test_bad_suggestions_say_which_call_and_parameter():
    trial = shim.create_study().ask()
    with pytest.raises(ValueError, match=r"suggest_float\('lr'\).*step=0.1 and log=True cannot be combined"):
        trial.suggest_float("lr", 1e-3, 1.0, step=0.1, log=True)
    with pytest.raises(ValueError, match=r"suggest_int\('n'\).*cannot be combined"):
        trial.suggest_int("n", 1, 64, step=2, log=True)
    with pytest.raises(ValueError, match=r"suggest_float\('x'\).*makes 1000001 values.*coarser step"):
        trial.suggest_float("x", 0.0, 1.0, step=1e-6)
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_startup'"):
        shim.samplers.TPESampler(n_startup=3)
