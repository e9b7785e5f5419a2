"""Studies described in YAML: what `zoomtune run study.yaml` reads.

```yaml
study: quickstart                 # the study's name
objective: objectives:quadratic   # module:function, the module found beside this file or on sys.path
direction: minimize               # or, for several objectives: directions: [maximize, minimize]
                                  # (the objective returns one number each) with metric_names: [accuracy, size]
constraints: {size: {max: 1.0e6}} # optional: limits on an objective or a user attribute the objective sets
n_trials: 50                      # the study's total; optional: timeout (seconds), jobs, storage, seed,
                                  # heartbeat_interval (seconds, default 30)
sampler: random                   # or {name: coarse_to_fine, round_size: 15}; random, sobol, tpe, gp, grid
                                  # (points: 5, needs a space)
scheduler: {name: asha, min_resource: 1}   # optional early stopping: median, asha, hyperband, pbt
space:                            # optional: declared parameters, sampled before the objective runs
  lr: {type: float, low: 1e-4, high: 1, scale: log}
  beta: {type: float, low: 0.9, high: 0.999, scale: log1m}
  units: {type: int, low: 32, high: 512, scale: log}
  activation: [relu, tanh]        # a list is a categorical
```
Every mistake is reported as one `ConfigError` naming the file, the field and the value.

A constraint `{metric: {max: limit}}` (or `min:`, or both) becomes, after each trial's objective returns,
`trial.set_constraint("metric <= limit", value - limit)` (`limit - value` for `min`), where the value is the
objective of that name (`metric_names`) or else the user attribute the objective set
(`trial.set_user_attr`): feasible trials then dominate infeasible ones, and only feasible ones are best.

A study remembers what its file said (objective, sampler, scheduler, seeds, n_trials, heartbeat
interval): `open_study` reopens it from that, the one way `zoomtune run`, `worker`, `resume` and
`babysit` do, so every process samples and stops trials alike.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoomtune.errors import ConfigError, DuplicatedStudyError, SearchSpaceError, require, require_int, require_number, \
    require_seed
from zoomtune.records import Direction
from zoomtune.samplers import (CoarseToFineSampler, GPSampler, GridSampler, NSGA2Sampler, RandomSampler, Sampler,
                               SobolSampler, TPESampler)
from zoomtune.samplers.multi_fidelity import MultiFidelitySampler
from zoomtune.schedulers import ASHA, PBT, Hyperband, MedianStopping, Scheduler
from zoomtune.space import Space, read_yaml
from zoomtune.studyfile.objectives import (Bound, ConstrainedObjective, Limit, constraints_to_dict, parse_constraints,
                                           parse_objectives)

if TYPE_CHECKING:
    from zoomtune.storage import Storage
    from zoomtune.study import Study

SAMPLERS: dict[str, Callable[..., Sampler]] = {"random": RandomSampler, "grid": GridSampler, "sobol": SobolSampler,
                                               "coarse_to_fine": CoarseToFineSampler, "tpe": TPESampler,
                                               "gp": GPSampler, "nsga2": NSGA2Sampler}
SCHEDULERS: dict[str, Callable[..., Scheduler]] = {"median": MedianStopping, "asha": ASHA, "hyperband": Hyperband,
                                                   "pbt": PBT}


def _multi_fidelity(base: Any = "tpe", seed: int | None = None, **options: Any) -> Sampler:
    """`sampler: {name: multi_fidelity, base: tpe, min_trials: 8}`; `base` may carry options
    (`{name: gp, n_startup_trials: 5}`) and gets the seed."""
    spec = {"name": base} if isinstance(base, str) else dict(base) if isinstance(base, Mapping) else {}
    bases = [name for name in SAMPLERS if name not in ("grid", "multi_fidelity", "nsga2")]
    if spec.get("name") not in bases:
        raise ValueError(f"base must be one of {', '.join(bases)} (or a mapping with 'name' and options); got {base!r}")
    return MultiFidelitySampler(SAMPLERS[spec.pop("name")](seed=seed, **spec), seed=seed, **options)


SAMPLERS["multi_fidelity"] = _multi_fidelity

_KEYS = {"study", "objective", "direction", "directions", "metric_names", "constraints", "n_trials", "timeout", "jobs",
         "storage", "seed", "sampler", "scheduler", "space", "heartbeat_interval"}
#: the largest n_trials: what a 64-bit integer (storage, NumPy) holds
MAX_TRIALS = 2**63 - 1
#: the most worker processes a file may ask for: each is a process of its own, started at once
MAX_JOBS = 1024
#: the longest study name: what the storage's name column holds
MAX_STUDY_NAME = 512
#: what a study keeps of its file, checked against the file when `zoomtune run` continues it
_KEPT = ("objective", "sampler", "scheduler", "seed", "constraints")
SCHEDULER_SEED_ATTR = "scheduler_seed"


@dataclass
class StudySpec:
    """A validated study file."""

    name: str
    objective: str
    source: Path
    directions: tuple[Direction, ...] = (Direction.MINIMIZE,)
    metric_names: tuple[str, ...] = ()  # the objectives' names, or none
    constraints: tuple[Limit, ...] = ()
    space: Space | None = None
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "random"})
    scheduler: dict[str, Any] | None = None
    n_trials: int | None = None
    timeout: float | None = None
    jobs: int = 1
    storage: str | None = None
    seed: int | None = None
    heartbeat_interval: float | None = None  # None: the library's default (30 s)
    sampler_seed: int | None = None  # the seeds a study drew for an unseeded sampler / scheduler, once
    scheduler_seed: int | None = None

    def build_sampler(self) -> Sampler:
        """The sampler the file names, with its options (a grid gets the declared space)."""
        extra = {"space": self.space} if self.sampler["name"] == "grid" else {}
        sampler: Sampler = self._build("sampler", self.sampler, SAMPLERS, extra)
        return sampler

    def build_scheduler(self) -> Scheduler | None:
        """The scheduler the file names, or None."""
        if self.scheduler is None:
            return None
        scheduler: Scheduler = self._build("scheduler", self.scheduler, SCHEDULERS, {})
        return scheduler

    def _build(self, key: str, spec: dict[str, Any], registry: Mapping[str, Callable[..., Any]],
               extra: dict[str, Any]) -> Any:
        options = {k: v for k, v in spec.items() if k != "name"}
        options.setdefault("seed", self.seed if self.seed is not None else
                           self.sampler_seed if key == "sampler" else self.scheduler_seed)
        for name, value in extra.items():
            options.setdefault(name, value)
        try:
            return registry[spec["name"]](**options)
        except (TypeError, ValueError) as error:
            raise ConfigError(key, f"bad option for {spec['name']!r} ({error})", options, str(self.source)) from None

    def attrs(self) -> dict[str, Any]:
        """What a worker on another machine needs to join this study (stored with the study)."""
        return {"objective": self.objective, "study_file": str(self.source.resolve()), "sampler": self.sampler,
                "scheduler": self.scheduler, "seed": self.seed, "n_trials": self.n_trials,
                "constraints": constraints_to_dict(self.constraints)}

    @classmethod
    def from_attrs(cls, name: str, attrs: dict[str, Any], directions: tuple[Direction, ...],
                   space: Mapping[str, Any] | None = None, metric_names: tuple[str, ...] = ()) -> StudySpec:
        """The spec a `zoomtune run` stored with its study (`space`: the study's stored space)."""
        from zoomtune.study import HEARTBEAT_ATTR, SAMPLER_SEED_ATTR, stored_heartbeat

        if not attrs.get("objective"):
            raise ConfigError("--objective", f"study {name!r} was not created from a study file: pass "
                                             "--objective module:function")
        source = Path(attrs.get("study_file") or "study.yaml")
        return cls(name=name, objective=attrs["objective"], source=source, directions=directions,
                   metric_names=metric_names, constraints=parse_constraints(attrs.get("constraints"), str(source)),
                   space=Space.from_dict(space) if space is not None else None,
                   sampler=attrs.get("sampler") or {"name": "random"}, scheduler=attrs.get("scheduler"),
                   seed=attrs.get("seed"), n_trials=attrs.get("n_trials"),
                   heartbeat_interval=stored_heartbeat(attrs) if HEARTBEAT_ATTR in attrs else None,
                   sampler_seed=attrs.get(SAMPLER_SEED_ATTR), scheduler_seed=attrs.get(SCHEDULER_SEED_ATTR))

    def load_objective(self) -> Callable[..., Any]:
        """Import `module:function`, looking beside the study file first; with constraints, wrapped so that
        every trial gets them (`ConstrainedObjective`)."""
        function = import_objective(self.objective, self.source.parent, str(self.source))
        if not self.constraints:
            return function
        names = self.metric_names or tuple(str(i) for i in range(len(self.directions)))
        return ConstrainedObjective(function, self.constraints, names, str(self.source))


@dataclass
class OpenedStudy:
    """A study reopened from what it stored: the `Study` (its stored sampler, scheduler, seeds and
    heartbeat interval), its `spec` and its `objective`."""

    study: Study
    spec: StudySpec
    objective: Callable[..., Any]


def open_study(storage: str | Storage, name: str | None = None, *, spec: StudySpec | None = None,
               objective: str | None = None, max_retries: int = 0) -> OpenedStudy:
    """The one way the CLI opens a study to run its trials (`run`, `worker`, `resume`, `babysit`).

    With a study file's `spec`, the study is created from it when the storage has none of that
    name; an existing one must have been created with the same objective, sampler, scheduler,
    seed and space (`ConfigError` naming the field otherwise: every process of a study samples
    and stops trials alike), and the file's n_trials, timeout and jobs apply. Then, either way,
    the study is reopened from what it stored: its sampler and scheduler with the seeds drawn
    when it was created, its heartbeat interval and space. `objective` (module:function) stands
    in for a study that was not created from a file; `max_retries` re-queues trials whose worker
    died.
    """
    from zoomtune.storage import get_storage
    from zoomtune.study import load_study

    backend = get_storage(storage)
    function: Callable[..., Any] | None = None
    if spec is not None:
        name = spec.name
        function = spec.load_objective()  # a bad objective is refused before the study is created
        _create_or_check(backend, spec)
    if name is None:
        raise ConfigError("study", "give a study name or a study file")
    info = backend.get_study(name)
    attrs = dict(info.attrs)
    if spec is not None:
        attrs = {**spec.attrs(), **attrs}  # a study made in Python gets the file's settings
    if objective:
        attrs["objective"] = objective
    stored = StudySpec.from_attrs(info.name, attrs, info.directions, info.space, info.metric_names)
    if spec is not None:
        stored.source, stored.jobs = spec.source, spec.jobs  # the file at hand says how many and how
        stored.n_trials, stored.timeout = spec.n_trials, spec.timeout
    study = load_study(info.name, backend, sampler=stored.build_sampler(), scheduler=stored.build_scheduler(),
                       max_retries=max_retries)
    return OpenedStudy(study, stored, function or stored.load_objective())


def _create_or_check(backend: Storage, spec: StudySpec) -> None:
    """Create the study `spec` describes, or check that the existing one was created alike."""
    from zoomtune.study import create_study

    sampler, scheduler = spec.build_sampler(), spec.build_scheduler()  # the file's options are checked first
    attrs = {**spec.attrs(), SCHEDULER_SEED_ATTR: scheduler.seed if scheduler is not None else None}
    interval: Any = spec.heartbeat_interval if spec.heartbeat_interval is not None else ...
    try:
        create_study(spec.name, directions=list(spec.directions), metric_names=spec.metric_names or None,
                     storage=backend, sampler=sampler, scheduler=scheduler, space=spec.space,
                     heartbeat_interval=interval, attrs=attrs)
        return
    except DuplicatedStudyError:
        pass
    info = backend.get_study(spec.name)
    mine = spec.attrs()
    kept = [(key, info.attrs[key], mine[key]) for key in _KEPT if key in info.attrs]
    if info.directions != spec.directions:
        if len(spec.directions) == len(info.directions) == 1:
            kept.append(("direction", info.direction.value, spec.directions[0].value))
        else:
            kept.append(("directions", [d.value for d in info.directions], [d.value for d in spec.directions]))
    if spec.metric_names and info.metric_names != spec.metric_names:
        kept.append(("metric_names", list(info.metric_names), list(spec.metric_names)))
    if spec.space is not None:
        kept.append(("space", info.space, spec.space.to_dict()))
    if spec.heartbeat_interval is not None:
        from zoomtune.study import stored_heartbeat

        kept.append(("heartbeat_interval", stored_heartbeat(info.attrs), spec.heartbeat_interval))
    for key, theirs, ours in kept:
        if theirs != ours:
            raise ConfigError(key, f"study {spec.name!r} in {backend.url} was created with {theirs!r}, and a study "
                                   "keeps it (so that every worker runs it alike): put the old value back, or "
                                   "give the file a new study name", ours, str(spec.source))


def import_objective(target: str, folder: Path | None = None, source: str | None = None) -> Callable[..., Any]:
    """The callable named by ``module:function`` (or ``module.sub:Class.method``)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError("objective", "must look like module:function", target, source)
    if folder is not None and str(folder.resolve()) not in sys.path:
        sys.path.insert(0, str(folder.resolve()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise ConfigError("objective", f"cannot find module {module_name!r}", target, source) from None
        raise ConfigError("objective", f"importing {module_name!r} failed: {error}", target, source) from None
    except Exception as error:  # noqa: BLE001 - the user's module failed at import: report it in one line
        raise ConfigError("objective", f"importing {module_name!r} failed: {type(error).__name__}: {error}",
                          target, source) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError("objective", f"module {module_name!r} has no {attr!r}", target, source)
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError("objective", "must name a callable", target, source)
    return obj  # type: ignore[no-any-return]


def _count(data: Mapping[str, Any], key: str, source: str) -> int | None:
    """An optional whole-number field (n_trials) as an int in [1, MAX_TRIALS]."""
    value = data.get(key)
    return None if value is None else int(require_int(source, key, value, 1, maximum=MAX_TRIALS))


def _seconds(data: Mapping[str, Any], key: str, source: str) -> float | None:
    """An optional duration (timeout, heartbeat_interval) of the file."""
    value = data.get(key)
    return None if value is None else check_seconds(key, value, source)


def check_seconds(field_name: str, value: Any, source: str) -> float:
    """A duration as a finite float > 0, else `ConfigError` ("source: field: must be a finite number > 0;
    got inf"): an infinite timeout would run forever, and NaN compares false with every time."""
    return require_number(source, field_name, value, 0, low_open=True)


def check_jobs(value: Any, source: str, field_name: str = "jobs") -> int:
    """Trials in parallel as -1 (all cores) or an int in [1, MAX_JOBS], else `ConfigError`."""
    require(isinstance(value, int) and not isinstance(value, bool) and (value == -1 or 1 <= value <= MAX_JOBS),
            source, field_name, f"must be -1 (all cores) or an integer in [1, {MAX_JOBS}]", value)
    return int(value)


def _named(data: Mapping[str, Any], key: str, registry: Mapping[str, Any], default: str | None,
           where: str) -> dict[str, Any] | None:
    """A `name` or `{name: ..., option: ...}` field, checked against the registry."""
    spec = data.get(key, default)
    if spec is None:
        return None
    spec = {"name": spec} if isinstance(spec, str) else spec
    if not isinstance(spec, Mapping) or spec.get("name") not in registry:
        raise ConfigError(key, f"must be one of {', '.join(registry)} (or a mapping with 'name' and options)",
                          spec, where)
    return dict(spec)


def parse_study(data: Any, source: Path) -> StudySpec:
    """Validate a study mapping (already read from YAML)."""
    where = str(source)
    if not isinstance(data, Mapping):
        raise ConfigError("study file", "must be a YAML mapping with at least 'study' and 'objective'", None, where)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(unknown[0], f"unknown field (expected one of {', '.join(sorted(_KEYS))})", None, where)
    for key in ("study", "objective"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ConfigError(key, "is required and must be a string", data.get(key), where)
    require(len(data["study"]) <= MAX_STUDY_NAME, where, "study", f"must have at most {MAX_STUDY_NAME} characters",
            data["study"])
    directions, metric_names = parse_objectives(data, where)
    constraints = parse_constraints(data.get("constraints"), where)
    sampler = _named(data, "sampler", SAMPLERS, "random", where)
    scheduler = _named(data, "scheduler", SCHEDULERS, None, where)
    space = None
    if data.get("space") is not None:
        try:
            space = Space.from_dict(data["space"])
        except SearchSpaceError as error:
            raise ConfigError("space", str(error), None, where) from None
    seed = require_seed(where, data.get("seed"))
    jobs = check_jobs(data.get("jobs", 1), where)
    storage = data.get("storage")
    if storage is not None and not isinstance(storage, str):
        raise ConfigError("storage", "must be a URL such as sqlite:///zoomtune.db", storage, where)
    return StudySpec(name=data["study"], objective=data["objective"], source=source, directions=directions,
                     metric_names=metric_names, constraints=constraints, space=space, sampler=sampler,  # type: ignore[arg-type]
                     scheduler=scheduler,
                     n_trials=_count(data, "n_trials", where), timeout=_seconds(data, "timeout", where), jobs=jobs,
                     storage=storage, seed=seed, heartbeat_interval=_seconds(data, "heartbeat_interval", where))


def load_study_file(path: str | Path) -> StudySpec:
    """Read and validate a YAML study file."""
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as error:
        raise ConfigError("study file", f"cannot read it ({error.strerror})", str(source)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ConfigError("study file", f"is not UTF-8 text (line {line}: byte {error.start} is "
                                        f"0x{raw[error.start]:02x}); save it as UTF-8", None, str(source)) from None
    data = read_yaml(text, str(source))
    spec = parse_study(data, source)
    if spec.sampler["name"] == "grid" and spec.space is None:  # refused now, before any study or trial exists
        raise ConfigError("sampler", "grid needs a declared space: add a 'space:' section listing its parameters",
                          "grid", str(source))
    return spec


__all__ = ["MAX_JOBS", "MAX_STUDY_NAME", "MAX_TRIALS", "SAMPLERS", "SCHEDULERS", "SCHEDULER_SEED_ATTR", "Bound",
           "ConstrainedObjective", "Limit", "OpenedStudy", "StudySpec", "check_jobs", "check_seconds",
           "constraints_to_dict", "import_objective", "load_study_file", "open_study", "parse_constraints",
           "parse_study"]
