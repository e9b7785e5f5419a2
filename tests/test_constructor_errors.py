"""Every constructor argument of every sampler and scheduler is checked at once, one argument per
check, with the one message template of `zoomtune.errors.require`: "Owner: field: rule; got value"."""

import inspect
import math
from pathlib import Path

import numpy as np
import pytest

import zoomtune as zt
from zoomtune.errors import ConfigError, require_int, require_number, require_seed
from zoomtune.samplers import CoarseToFineSampler, GridSampler, RandomSampler, SobolSampler, TPESampler
from zoomtune.schedulers import ASHA, PBT, Hyperband, MedianStopping
from zoomtune.studyfile import load_study_file, parse_study

NAN, INF = math.nan, math.inf
CLASSES = [RandomSampler, SobolSampler, GridSampler, CoarseToFineSampler, TPESampler,
           MedianStopping, ASHA, Hyperband, PBT]


def bad_ints(minimum):
    """Values an "integer >= minimum" argument refuses: too small, floats (even whole ones), a bool,
    a string, NaN."""
    return [minimum - 1, minimum + 0.5, float(minimum + 1), True, str(minimum + 1), NAN]


BAD_SEEDS = [1.5, 0.0, True, False, "0", NAN, [0], -1]
BAD_UNIT = [-0.1, 1.1, NAN, INF, "0.5", True]  # for a number in [0, 1]; True is 1 but a bool
BAD_OBJECTIVES = [-1, 1.0, True, "", " ", ["acc"], NAN]  # a scheduler's objective: a name, an index >= 0 or None

# (class, field, bad values); every argument of every class appears here (see the completeness test).
BAD = [
    (RandomSampler, "seed", BAD_SEEDS),
    (SobolSampler, "seed", BAD_SEEDS),
    (GridSampler, "seed", BAD_SEEDS),
    (GridSampler, "space", [[1], "lr", 5, (zt.Float(0, 1),)]),
    (GridSampler, "points", bad_ints(2)),
    (CoarseToFineSampler, "seed", BAD_SEEDS),
    (CoarseToFineSampler, "round_size", bad_ints(2)),
    (CoarseToFineSampler, "top_fraction", [0, -0.5, 1.5, NAN, INF, "0.2", True]),
    (CoarseToFineSampler, "margin", [-0.1, NAN, INF, "0.5", False]),
    (CoarseToFineSampler, "explore", [-0.1, 1, 1.0, NAN, "0.1", False]),
    (CoarseToFineSampler, "max_boxes", bad_ints(1)),
    (CoarseToFineSampler, "min_width", BAD_UNIT),
    (TPESampler, "seed", BAD_SEEDS),
    (TPESampler, "n_startup_trials", bad_ints(0)),
    (TPESampler, "n_candidates", bad_ints(1)),
    (TPESampler, "gamma", [0.25, 10, "default"]),
    (TPESampler, "prior_weight", [0, -1.0, NAN, INF, "1", True]),
    (TPESampler, "max_observations", bad_ints(1)),
    (TPESampler, "weigh_by_hypervolume", [1, 0, "yes"]),
    (TPESampler, "multivariate", [1, 0, "yes"]),
    (TPESampler, "model_constraints", [1, 0, "yes"]),
    (MedianStopping, "seed", BAD_SEEDS),
    (MedianStopping, "n_startup_trials", bad_ints(0)),
    (MedianStopping, "n_warmup_steps", bad_ints(0)),
    (MedianStopping, "interval_steps", bad_ints(1)),
    (ASHA, "seed", BAD_SEEDS),
    (ASHA, "min_resource", bad_ints(1)),
    (ASHA, "reduction_factor", bad_ints(2)),
    (ASHA, "max_resource", bad_ints(1)),
    (Hyperband, "seed", BAD_SEEDS),
    (Hyperband, "min_resource", bad_ints(1)),
    (Hyperband, "reduction_factor", bad_ints(2)),
    (Hyperband, "max_resource", bad_ints(1)),
    (PBT, "seed", BAD_SEEDS),
    (PBT, "interval", bad_ints(1)),
    (PBT, "quantile", [0, 0.6, -0.1, NAN, INF, "0.25", True]),
    (PBT, "resample_probability", BAD_UNIT),
    (PBT, "step", BAD_UNIT),
    (PBT, "min_population", bad_ints(2)),
    *[(cls, "objective", BAD_OBJECTIVES) for cls in (MedianStopping, ASHA, Hyperband, PBT)],
]
CASES = [pytest.param(cls, field, value, id=f"{cls.__name__}-{field}-{value!r}")
         for cls, field, values in BAD for value in values]


@pytest.mark.parametrize("cls, field, value", CASES)
def test_a_bad_argument_is_a_config_error_naming_class_field_and_value(cls, field, value):
    with pytest.raises(ConfigError) as raised:
        cls(**{field: value})
    assert type(raised.value) is ConfigError and isinstance(raised.value, ValueError)
    message = str(raised.value)
    assert message.startswith(f"{cls.__name__}: {field}: must be "), message
    assert message.endswith(f"; got {value!r}"), message
    assert message.count(": ") == 2 and "\n" not in message  # one field, one line


@pytest.mark.parametrize("cls, field", [(cls, field) for cls, field, _ in BAD if field not in ("seed", "space")])
def test_a_missing_value_names_class_and_field(cls, field):
    if (cls is ASHA and field == "max_resource") or field == "objective" or (cls is TPESampler
                                                                             and field == "multivariate"):
        # ASHA's max_resource may be None (no maximum); objective=None is the default one; TPE's multivariate=None
        # is the default (jointly for one objective, one by one for several)
        cls(**{field: None})
        return
    with pytest.raises(ConfigError, match=f"^{cls.__name__}: {field}: must be "):
        cls(**{field: None})


def test_every_argument_of_every_class_is_covered():
    covered: dict[type, set[str]] = {}
    for cls, field, _ in BAD:
        covered.setdefault(cls, set()).add(field)
    for cls in CLASSES:
        assert covered[cls] == set(inspect.signature(cls).parameters), cls.__name__


def test_messages_read_as_the_template():
    cases = [
        (lambda: ASHA(reduction_factor=1), "ASHA: reduction_factor: must be an integer >= 2; got 1"),
        (lambda: ASHA(min_resource=3, max_resource=2),
         "ASHA: max_resource: must be an integer >= min_resource (3) or None; got 2"),
        (lambda: Hyperband(min_resource=3, max_resource=2),
         "Hyperband: max_resource: must be an integer >= min_resource (3); got 2"),
        (lambda: CoarseToFineSampler(round_size=15.0), "CoarseToFineSampler: round_size: must be an integer >= 2; "
                                                       "got 15.0"),
        (lambda: CoarseToFineSampler(top_fraction=0), "CoarseToFineSampler: top_fraction: must be a number in (0, 1]; "
                                                      "got 0"),
        (lambda: CoarseToFineSampler(explore=1), "CoarseToFineSampler: explore: must be a number in [0, 1); got 1"),
        (lambda: CoarseToFineSampler(margin=-1), "CoarseToFineSampler: margin: must be a finite number >= 0; got -1"),
        (lambda: TPESampler(prior_weight=0), "TPESampler: prior_weight: must be a finite number > 0; got 0"),
        (lambda: PBT(quantile="0.2"), "PBT: quantile: must be a number in (0, 0.5]; got '0.2'"),
        (lambda: TPESampler(seed=True), "TPESampler: seed: must be an integer >= 0 or None; got True"),
        (lambda: GridSampler(points=1), "GridSampler: points: must be an integer >= 2; got 1"),
        (lambda: MedianStopping(interval_steps=0), "MedianStopping: interval_steps: must be an integer >= 1; got 0"),
    ]
    for build, expected in cases:
        with pytest.raises(ConfigError) as raised:
            build()
        assert str(raised.value) == expected


def test_the_first_bad_argument_is_reported_and_the_seed_comes_first():
    with pytest.raises(ConfigError, match=r"^CoarseToFineSampler: seed: "):
        CoarseToFineSampler(seed="x", round_size=0)
    with pytest.raises(ConfigError, match=r"^PBT: interval: "):
        PBT(interval=0, quantile=2)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_defaults_and_good_seeds_still_construct(cls):
    assert isinstance(cls().seed, int)
    assert cls(seed=None).seed >= 0
    assert cls(seed=0).seed == 0
    numpy_seed = cls(seed=np.int64(7)).seed
    assert numpy_seed == 7 and type(numpy_seed) is int
    assert cls(seed=2**70).seed == 2**70


def test_edge_values_are_accepted_and_numpy_numbers_become_python_ones():
    ctf = CoarseToFineSampler(round_size=np.int64(2), top_fraction=1, margin=0, explore=0, max_boxes=1, min_width=0)
    assert (ctf.round_size, ctf.top_fraction, ctf.explore, ctf.min_width) == (2, 1.0, 0.0, 0.0)
    assert type(ctf.round_size) is int
    tpe = TPESampler(n_startup_trials=0, n_candidates=1, prior_weight=np.float32(0.5), max_observations=1,
                     gamma=lambda n: 1)
    assert tpe.n_startup_trials == 0 and tpe.prior_weight == 0.5
    assert GridSampler(points=np.int64(2)).points == 2
    assert MedianStopping(n_startup_trials=0, n_warmup_steps=0, interval_steps=1).interval_steps == 1
    asha = ASHA(min_resource=3, reduction_factor=2, max_resource=3)
    assert (asha.min_resource, asha.reduction_factor, asha.max_resource) == (3, 2, 3)
    assert ASHA(max_resource=None).max_resource is None
    assert Hyperband(min_resource=np.int32(2), max_resource=2, reduction_factor=2).s_max == 0
    pbt = PBT(interval=1, quantile=0.5, resample_probability=0, step=1, min_population=2)
    assert (pbt.quantile, pbt.resample_probability, pbt.step) == (0.5, 0.0, 1.0)


def test_grid_space_may_be_a_mapping_and_its_contents_stay_search_space_errors():
    assert GridSampler({"x": zt.Float(0, 1)}, points=3).size() == 3
    assert GridSampler(zt.Space(x=zt.Float(0, 1)), points=3).size() == 3
    with pytest.raises(zt.SearchSpaceError, match="parameter 'x'"):
        GridSampler({"x": (0, 1)})
    study = zt.create_study(sampler=GridSampler())  # no space: still the space error, when sampling
    with pytest.raises(zt.SearchSpaceError, match="needs a declared space"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)


def test_the_helpers_word_every_rule_the_same_way():
    assert require_seed("X", None) is None and require_seed("X", np.uint8(3)) == 3
    assert require_int("X", "n", 5, 2) == 5 and require_int("X", "n", None, 2, or_none=True) is None
    assert require_number("X", "f", 1, 0, 1) == 1.0
    for call, message in [
        (lambda: require_int("X", "n", 1, 2), "X: n: must be an integer >= 2; got 1"),
        (lambda: require_int("X", "n", 1, 2, or_none=True), "X: n: must be an integer >= 2 or None; got 1"),
        (lambda: require_number("X", "f", 2, 0, 1), "X: f: must be a number in [0, 1]; got 2"),
        (lambda: require_number("X", "f", 1, 0, 1, low_open=True, high_open=True),
         "X: f: must be a number in (0, 1); got 1"),
        (lambda: require_number("X", "f", 2, high=1), "X: f: must be a finite number <= 1; got 2"),
        (lambda: require_number("X", "f", INF), "X: f: must be a finite number; got inf"),
        (lambda: require_seed("X", "1"), "X: seed: must be an integer >= 0 or None; got '1'"),
    ]:
        with pytest.raises(ConfigError) as raised:
            call()
        assert str(raised.value) == message


# -- the study file still reports a bad option as a ConfigError naming the file ----------------------

def spec(**fields):
    return parse_study({"study": "s", "objective": "objectives:f", **fields}, Path("studies/s.yaml"))


@pytest.mark.parametrize("sampler, inner", [
    ({"name": "tpe", "n_candidates": 0}, "TPESampler: n_candidates: must be an integer >= 1; got 0"),
    ({"name": "coarse_to_fine", "round_size": "15"}, "CoarseToFineSampler: round_size: must be an integer >= 2; "
                                                     "got '15'"),
    ({"name": "coarse_to_fine", "top_fraction": 1.5}, "CoarseToFineSampler: top_fraction: must be a number in "
                                                      "(0, 1]; got 1.5"),
    ({"name": "grid", "points": 1}, "GridSampler: points: must be an integer >= 2; got 1"),
    ({"name": "random", "seed": "x"}, "RandomSampler: seed: must be an integer >= 0 or None; got 'x'"),
    ({"name": "sobol", "seed": 1.5}, "SobolSampler: seed: must be an integer >= 0 or None; got 1.5"),
])
def test_study_file_sampler_option_errors_name_the_file(sampler, inner):
    with pytest.raises(ConfigError) as raised:
        spec(sampler=sampler).build_sampler()
    message = str(raised.value)
    assert message.startswith(f"{Path('studies/s.yaml')}: sampler: bad option for {sampler['name']!r} ({inner}); got ")
    assert "\n" not in message


@pytest.mark.parametrize("scheduler, inner", [
    ({"name": "asha", "reduction_factor": 0}, "ASHA: reduction_factor: must be an integer >= 2; got 0"),
    ({"name": "hyperband", "max_resource": 9.0}, "Hyperband: max_resource: must be an integer >= min_resource (1); "
                                                 "got 9.0"),
    ({"name": "median", "n_warmup_steps": -1}, "MedianStopping: n_warmup_steps: must be an integer >= 0; got -1"),
    ({"name": "pbt", "quantile": 0.75}, "PBT: quantile: must be a number in (0, 0.5]; got 0.75"),
])
def test_study_file_scheduler_option_errors_name_the_file(scheduler, inner):
    with pytest.raises(ConfigError) as raised:
        spec(scheduler=scheduler).build_scheduler()
    assert str(raised.value).startswith(f"{Path('studies/s.yaml')}: scheduler: bad option for "
                                        f"{scheduler['name']!r} ({inner}); got ")


def test_study_file_read_from_yaml(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("study: s\nobjective: objectives:f\nseed: 3\n"
                    "sampler: {name: coarse_to_fine, round_size: 1.5}\nscheduler: {name: pbt, step: .nan}\n")
    loaded = load_study_file(path)
    with pytest.raises(ConfigError, match=r"study\.yaml: sampler: bad option for 'coarse_to_fine' \("
                                          r"CoarseToFineSampler: round_size: must be an integer >= 2; got 1\.5\)"):
        loaded.build_sampler()
    with pytest.raises(ConfigError, match=r"study\.yaml: scheduler: bad option for 'pbt' \(PBT: step: must be a "
                                          r"number in \[0, 1\]; got nan\)"):
        loaded.build_scheduler()
    with pytest.raises(ConfigError, match=r"s\.yaml: sampler: bad option for 'tpe' \(.*unexpected keyword"):
        spec(sampler={"name": "tpe", "round_size": 3}).build_sampler()  # an unknown option: still named


def test_study_file_good_options_still_build():
    space = {"x": {"type": "float", "low": 0, "high": 1}}
    grid = spec(space=space, seed=4, sampler={"name": "grid", "points": 3}).build_sampler()
    assert isinstance(grid, GridSampler) and grid.points == 3 and grid.seed == 4 and grid.size() == 3
    assert spec(sampler={"name": "coarse_to_fine", "round_size": 10}).build_sampler().round_size == 10
    assert spec(scheduler={"name": "asha", "min_resource": 1, "reduction_factor": 2}).build_scheduler().seed >= 0
    assert spec().build_scheduler() is None
