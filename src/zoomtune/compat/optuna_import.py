"""Copy Optuna studies into a zoomtune storage: `import_optuna(source, storage)`.

The source is an Optuna RDB URL (``sqlite:///optuna.db``, ``postgresql://...``) or an Optuna journal file
(``journal:PATH``, or a path ending in ``.log``, ``.jsonl`` or ``.journal``). Each Optuna study becomes the
zoomtune study of the same name, with the same directions (and objective names); an existing zoomtune study
of that name and directions is added to, one whose directions differ is refused.

What each Optuna trial becomes:

- params and their distributions: ``FloatDistribution`` -> `Float` on scale ``log`` or ``linear``,
  ``IntDistribution`` -> `Int` (``log`` or ``linear``), ``CategoricalDistribution`` -> `Categorical`. zoomtune
  has no step: a stepped Float or Int keeps its range (every value on Optuna's grid lies in it) and the step is
  kept in the trial's `IMPORT_ATTR`, so samplers of a continued study sample between the grid points. A
  one-value range (``low == high``, which Optuna allows) becomes a one-choice `Categorical`.
- states: COMPLETE -> COMPLETE, PRUNED -> STOPPED (with Optuna's value, its last report), FAIL -> FAILED
  (cause ERROR; Optuna keeps no error message). RUNNING and WAITING trials are not copied but counted as
  unfinished: a later run copies them once they have finished. A COMPLETE trial with an infinite value
  (which Optuna accepts) becomes FAILED (cause BAD_VALUE), as zoomtune's rule for non-finite values says.
- values (one per objective), intermediate values, user attributes, and Optuna's constraints (by their
  names; those of a sampler's ``constraints_func`` are named "0", "1", ...).
- its start and end times: Optuna's `datetime_start` / `datetime_complete` (Optuna writes local time without a
  zone; it is read as this machine's local time), so durations are Optuna's. The user attribute `IMPORT_ATTR`
  keeps the trial's identity: Optuna's trial number, state, steps, and its times as Optuna wrote them.

Each copy is written whole in one commit (`Storage.add_finished_trial`): an import stopped midway leaves only
whole copies, and running it again copies only what is new (a trial whose Optuna number is already in the
zoomtune study is skipped). The Optuna study's user attributes become the zoomtune study's (`study.user_attrs`)
on every run, so attributes set in Optuna since the last run arrive too. Optuna is an optional extra
(``pip install "zoomtune[optuna]"``) imported only when this runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from zoomtune.errors import SearchSpaceError, StudyNotFoundError, ZoomtuneError
from zoomtune.records import Direction, FailureCause, StudyInfo, TrialRecord, TrialState
from zoomtune.space import Categorical, Distribution, Float, Int
from zoomtune.storage import FinishedTrial, Storage, get_storage
from zoomtune.storage.base import user_attrs_of
from zoomtune.storage.faults import shown_url
from zoomtune.study import create_study

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

#: the user attribute (of each copied trial) and study attribute (of each study an import created) that say
#: where it came from
IMPORT_ATTR = "optuna_import"
#: the source prefix that names an Optuna journal file whatever its name ends with
JOURNAL_PREFIX = "journal:"
#: file names read as Optuna journal files without the prefix
JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")
#: what a failed Optuna trial's error says (Optuna stores no message with it)
FAILED_IN_OPTUNA = "failed in Optuna (Optuna keeps no error message)"

ProgressCallback = Callable[[str, int, int], None]


class OptunaImportError(ZoomtuneError):
    """An Optuna source cannot be read or copied as asked (missing, unreadable, no such study, directions
    that differ): one line that says which and what to do."""


@dataclass
class StudyImport:
    """What one run did with one Optuna study."""

    name: str
    created: bool  # whether this run created the zoomtune study
    copied: dict[TrialState, int] = field(default_factory=lambda: dict.fromkeys(
        (TrialState.COMPLETE, TrialState.STOPPED, TrialState.FAILED), 0))
    already_copied: int = 0  # copied by an earlier run
    unfinished: int = 0  # RUNNING or WAITING in Optuna: left for a later run

    @property
    def n_copied(self) -> int:
        return sum(self.copied.values())

    def describe(self) -> str:
        """One line: "study 'a': copied 5 trials (3 complete, 1 stopped, 1 failed), 2 already there"."""
        kinds = ", ".join(f"{n} {state.value.lower()}" for state, n in self.copied.items() if n)
        line = f"study {self.name!r}{' (new)' if self.created else ''}: copied {self.n_copied} " \
               f"trial{'' if self.n_copied == 1 else 's'}" + (f" ({kinds})" if kinds else "")
        if self.already_copied:
            line += f", {self.already_copied} already there"
        if self.unfinished:
            line += f", {self.unfinished} running or waiting in Optuna not copied (run again once they finish)"
        return line


@dataclass
class ImportSummary:
    """What one run of `import_optuna` copied, study by study."""

    source: str
    studies: list[StudyImport] = field(default_factory=list)

    @property
    def n_copied(self) -> int:
        return sum(s.n_copied for s in self.studies)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise OptunaImportError("importing Optuna studies needs Optuna: pip install 'zoomtune[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _first_line(error: BaseException) -> str:
    """The first line of the error that started it all (Optuna wraps a driver's error in a vaguer one)."""
    while error.__cause__ is not None or (error.__context__ is not None and not error.__suppress_context__):
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def journal_path(source: str) -> str | None:
    """The journal file `source` names (``journal:PATH`` or a path with a journal suffix), else None."""
    if source.startswith(JOURNAL_PREFIX):
        return source[len(JOURNAL_PREFIX):]
    if "://" not in source and source.endswith(JOURNAL_SUFFIXES):
        return source
    return None


def open_optuna_storage(source: str) -> BaseStorage:
    """The Optuna storage at `source`, read as it is: a missing file is an error, never created."""
    optuna = _optuna()
    shown = shown_url(source)
    path = journal_path(source)
    if path is None and "://" not in source:
        raise OptunaImportError(f"cannot tell what kind of Optuna storage {source!r} is: give an RDB URL "
                                f"(sqlite:///{source}) or a journal file ({JOURNAL_PREFIX}{source}, or a path ending "
                                f"in {', '.join(JOURNAL_SUFFIXES)})")
    if path is not None:
        if not os.path.isfile(path):
            raise OptunaImportError(f"no Optuna journal file at {path!r}")
        opener: Callable[[], BaseStorage] = lambda: optuna.storages.JournalStorage(  # noqa: E731
            optuna.storages.journal.JournalFileBackend(path))
    else:
        _check_sqlite_file(source)
        opener = lambda: optuna.storages.RDBStorage(source, skip_table_creation=True)  # noqa: E731
    try:
        return opener()
    except Exception as error:  # whatever the driver or Optuna raises, the user sees one line
        raise OptunaImportError(f"cannot read Optuna storage {shown}: {_first_line(error)}") from error


def _check_sqlite_file(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist (SQLite would create an empty one)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise OptunaImportError(f"cannot read Optuna storage URL {url!r}; expected e.g. sqlite:///optuna.db") from None
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:" and not os.path.isfile(database):
        raise OptunaImportError(f"no Optuna database at {database!r} ({shown_url(url)})")


def map_distribution(dist: BaseDistribution) -> tuple[Distribution, float | int | None]:
    """zoomtune's distribution for an Optuna one, and the step zoomtune cannot keep (None when there is none)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return Categorical(tuple(dist.choices)), None
    if isinstance(dist, IntDistribution):
        step = dist.step if dist.step != 1 else None
        if dist.low == dist.high:
            return Categorical((int(dist.low),)), step
        return Int(dist.low, dist.high, scale="log" if dist.log else "linear"), step
    if isinstance(dist, FloatDistribution):
        if dist.low == dist.high:
            return Categorical((float(dist.low),)), dist.step
        return Float(dist.low, dist.high, scale="log" if dist.log else "linear"), dist.step
    raise OptunaImportError(f"unknown Optuna distribution {dist!r}")


def _directions(optuna_directions: Sequence[Any], name: str) -> tuple[Direction, ...]:
    out = []
    for direction in optuna_directions:
        try:
            out.append(Direction(direction.name.lower()))
        except ValueError:
            raise OptunaImportError(f"Optuna study {name!r} has direction {direction.name}, not minimize or "
                                    "maximize") from None
    return tuple(out)


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class _Result:
    """A finished trial's outcome as zoomtune stores it."""

    state: TrialState
    value: float | None = None
    values: tuple[float, ...] | None = None
    error: str | None = None
    cause: FailureCause | None = None


def _result(frozen: FrozenTrial, n_objectives: int) -> _Result:
    from optuna.trial import TrialState as OptunaState

    values = tuple(float(v) for v in frozen.values or ())
    if frozen.state is OptunaState.FAIL:
        reason = frozen.system_attrs.get("fail_reason")  # kept by Optuna before 3.0, in databases upgraded since
        return _Result(TrialState.FAILED, error=reason if isinstance(reason, str) else FAILED_IN_OPTUNA,
                       cause=FailureCause.ERROR)
    finite = bool(values) and all(math.isfinite(v) for v in values)
    kept = values if n_objectives > 1 else None
    if frozen.state is OptunaState.PRUNED:
        return _Result(TrialState.STOPPED, values[0], kept) if finite else _Result(TrialState.STOPPED)
    if not finite:
        return _Result(TrialState.FAILED, error=f"Optuna's values {list(values)} are not all finite; zoomtune "
                                                "counts a trial without finite values as FAILED",
                       cause=FailureCause.BAD_VALUE)
    return _Result(TrialState.COMPLETE, values[0], kept)


def _constraints(frozen: FrozenTrial) -> dict[str, float]:
    """The trial's constraints by name: Optuna 5's `constraints` (`trial.set_constraint`, and the list a
    `constraints_func` gave, named "0", "1", ...); before Optuna 5, only that list."""
    if hasattr(frozen, "constraints"):
        return {str(k): float(v) for k, v in frozen.constraints.items()}
    listed = frozen.system_attrs.get("constraints") or []
    return {str(i): float(c) for i, c in enumerate(listed)}


def _marker(study_name: str, frozen: FrozenTrial, steps: dict[str, float | int]) -> dict[str, Any]:
    marker: dict[str, Any] = {"study": study_name, "number": frozen.number, "state": frozen.state.name,
                              "datetime_start": _time(frozen.datetime_start),
                              "datetime_complete": _time(frozen.datetime_complete)}
    if steps:
        marker["steps"] = steps
    return marker


def _copy_trial(storage: Storage, info: StudyInfo, frozen: FrozenTrial) -> TrialState:
    """Write one finished Optuna trial into the study, whole and in one commit; its state."""
    where = f"Optuna study {info.name!r}, trial {frozen.number}"
    if IMPORT_ATTR in frozen.user_attrs:
        raise OptunaImportError(f"{where}: its user attribute {IMPORT_ATTR!r} is the one zoomtune keeps the "
                                "trial's origin in; rename it in Optuna first")
    params: dict[str, tuple[Distribution, Any]] = {}
    steps: dict[str, float | int] = {}
    for name, dist in frozen.distributions.items():
        try:
            mapped, step = map_distribution(dist)
        except SearchSpaceError as error:
            raise OptunaImportError(f"{where}: {error.named(name)}") from None
        params[name] = (mapped, frozen.params[name])
        if step is not None:
            steps[name] = step
    result = _result(frozen, len(info.directions))
    storage.add_finished_trial(info.study_id, FinishedTrial(
        result.state, params=params, value=result.value, objective_values=result.values,
        intermediate_values=dict(frozen.intermediate_values),
        user_attrs={**frozen.user_attrs, IMPORT_ATTR: _marker(info.name, frozen, steps)},
        constraints=_constraints(frozen), error=result.error, cause=result.cause,
        datetime_start=frozen.datetime_start, datetime_complete=frozen.datetime_complete))
    return result.state


def _target(storage: Storage, source: str, name: str, directions: tuple[Direction, ...],
            metric_names: Sequence[str] | None) -> tuple[StudyInfo, bool]:
    """The zoomtune study to copy Optuna's study `name` into, and whether it was created now (with where it
    came from in its attribute `IMPORT_ATTR`)."""
    try:
        info = storage.get_study(name)
    except StudyNotFoundError:
        study = create_study(name, storage=storage, directions=list(directions), metric_names=metric_names,
                             attrs={IMPORT_ATTR: {"source": shown_url(source), "study": name}})
        return storage.get_study(study.name), True
    if info.directions != directions:
        wanted = ", ".join(d.value for d in directions)
        raise OptunaImportError(f"study {name!r} in {storage.url} is to {', '.join(d.value for d in info.directions)}"
                                f", but Optuna's is to {wanted}: import into another storage, or delete or rename "
                                "the zoomtune study")
    return info, False


def _copy_user_attrs(storage: Storage, info: StudyInfo, user_attrs: dict[str, Any]) -> None:
    """Give the zoomtune study the Optuna study's user attributes (only those new or changed are written)."""
    kept = user_attrs_of(info.attrs)
    for key, value in user_attrs.items():
        if key not in kept or kept[key] != value:
            storage.set_study_attr(info.study_id, key, value)


def _earlier_copies(storage: Storage, info: StudyInfo) -> dict[int, TrialRecord]:
    """The study's trials copied by earlier imports, by Optuna trial number."""
    out = {}
    for record in storage.get_trials(info.study_id):
        marker = record.user_attrs.get(IMPORT_ATTR)
        if isinstance(marker, dict) and marker.get("study") == info.name and isinstance(marker.get("number"), int):
            out[marker["number"]] = record
    return out


def _import_study(optuna_storage: BaseStorage, source: str, storage: Storage, name: str,
                  on_progress: ProgressCallback | None) -> StudyImport:
    optuna = _optuna()
    from optuna.trial import TrialState as OptunaState

    loaded = optuna.load_study(study_name=name, storage=optuna_storage, sampler=optuna.samplers.RandomSampler())
    info, created = _target(storage, source, name, _directions(loaded.directions, name), loaded.metric_names)
    _copy_user_attrs(storage, info, loaded.user_attrs)
    done = StudyImport(name, created)
    earlier = _earlier_copies(storage, info)
    trials = sorted(loaded.get_trials(deepcopy=False), key=lambda t: t.number)
    for i, frozen in enumerate(trials):
        copy = earlier.get(frozen.number)
        if frozen.state in (OptunaState.RUNNING, OptunaState.WAITING):
            done.unfinished += 1
        elif copy is not None:
            if copy.user_attrs[IMPORT_ATTR].get("datetime_start") != _time(frozen.datetime_start):
                raise OptunaImportError(
                    f"trial {copy.number} of study {name!r} in {storage.url} was copied from another Optuna trial "
                    f"{frozen.number} (started {copy.user_attrs[IMPORT_ATTR].get('datetime_start')}, this one "
                    f"{_time(frozen.datetime_start)}): import this Optuna study into another storage")
            done.already_copied += 1
        else:
            done.copied[_copy_trial(storage, info, frozen)] += 1
        if on_progress is not None:
            on_progress(name, i + 1, len(trials))
    return done


def optuna_study_names(optuna_storage: BaseStorage) -> list[str]:
    """The names of the studies in an Optuna storage, oldest first."""
    return list(_optuna().get_all_study_names(optuna_storage))  # unlike study summaries, reads no trials


def import_optuna(source: str, storage: str | Storage, study_names: Sequence[str] | None = None, *,
                  on_progress: ProgressCallback | None = None) -> ImportSummary:
    """Copy the Optuna studies `study_names` (default: all) from `source` into `storage`; what was copied.

    `source` is an Optuna RDB URL or journal file (see the module's doc); every study named is checked to exist
    before anything is copied. `on_progress(study, trials_done, trials_in_study)` follows a long import.
    """
    optuna_storage = open_optuna_storage(source)
    try:
        names = optuna_study_names(optuna_storage)
    except Exception as error:  # as when opening: one line, whatever the driver raised
        raise OptunaImportError(f"cannot read Optuna storage {shown_url(source)}: {_first_line(error)}") from error
    wanted = list(dict.fromkeys(study_names)) if study_names is not None else names
    missing = [n for n in wanted if n not in names]
    if missing:
        raise OptunaImportError(f"no Optuna study named {', '.join(map(repr, missing))} in {shown_url(source)} "
                                f"(it has: {', '.join(map(repr, names)) or 'no studies'})")
    target = get_storage(storage)
    summary = ImportSummary(shown_url(source))
    for name in wanted:
        summary.studies.append(_import_study(optuna_storage, source, target, name, on_progress))
    return summary


__all__ = ["FAILED_IN_OPTUNA", "IMPORT_ATTR", "JOURNAL_PREFIX", "JOURNAL_SUFFIXES", "ImportSummary",
           "OptunaImportError", "ProgressCallback", "StudyImport", "import_optuna", "journal_path",
           "map_distribution", "open_optuna_storage", "optuna_study_names"]
