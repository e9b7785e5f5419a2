"""Creating, opening, listing and deleting studies: the checks on what a study is created with, and what
it keeps in storage for the processes that open it later.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import Any

from zoomtune.errors import ConfigError, DuplicatedStudyError
from zoomtune.records import Direction, StudySummary
from zoomtune.samplers.base import Sampler
from zoomtune.samplers.random import RandomSampler
from zoomtune.schedulers.base import Scheduler
from zoomtune.space import Space
from zoomtune.storage import Storage, get_storage
from zoomtune.study.core import DEFAULT_HEARTBEAT_S, HEARTBEAT_ATTR, SAMPLER_SEED_ATTR, Study, check_settings


def _space_of(space: Space | Mapping[str, Any] | None) -> Space | None:
    if space is None or isinstance(space, Space):
        return space
    return Space.from_dict(space)


def _direction(direction: str | Direction, what: str = "direction") -> Direction:
    try:
        return Direction(direction)
    except ValueError:
        raise ConfigError(what, "must be 'minimize' or 'maximize'", direction) from None


def _objectives(direction: str | Direction | None, directions: Sequence[str | Direction] | None,
                metric_names: Sequence[str] | None) -> tuple[tuple[Direction, ...], tuple[str, ...]]:
    """The study's directions (one per objective) and objective names, checked."""
    if direction is not None and directions is not None:
        raise ConfigError("directions", "give either direction= (one objective) or directions= (several), not both",
                          directions)
    if directions is None:
        wanted: tuple[Direction, ...] = (_direction(direction or Direction.MINIMIZE),)
    else:
        if isinstance(directions, (str, bytes)) or not isinstance(directions, Sequence) or not directions:
            raise ConfigError("directions", "must be a non-empty list such as ['maximize', 'minimize']", directions)
        wanted = tuple(_direction(d, "directions") for d in directions)
    if metric_names is None:
        return wanted, ()
    if isinstance(metric_names, (str, bytes)) or not isinstance(metric_names, Sequence):
        raise ConfigError("metric_names", "must be a list of names, one per objective", metric_names)
    names = tuple(metric_names)
    if len(names) != len(wanted):
        raise ConfigError("metric_names", f"needs one name per objective ({len(wanted)})", list(names))
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError("metric_names", "must be non-empty strings", list(names))
    if len(set(names)) != len(names):
        raise ConfigError("metric_names", "must be unique", list(names))
    return wanted, names


def create_study(name: str | None = None, direction: str | Direction | None = None,
                 storage: str | Storage | None = None, sampler: Sampler | None = None,
                 scheduler: Scheduler | None = None, space: Space | Mapping[str, Any] | None = None,
                 load_if_exists: bool = False, artifacts: str | os.PathLike[str] | None = None,
                 heartbeat_interval: float | EllipsisType | None = ..., max_retries: int = 0,
                 attrs: Mapping[str, Any] | None = None, *, directions: Sequence[str | Direction] | None = None,
                 metric_names: Sequence[str] | None = None) -> Study:
    """Create a study (in memory unless `storage` is a URL such as ``sqlite:///zoomtune.db``).

    `direction` ("minimize", the default, or "maximize") is the objective's; a study of several objectives
    gives `directions` instead (one each; the objective then returns one number per objective) and may name
    them with `metric_names`. Samplers and schedulers built for one objective watch the first.

    With `load_if_exists=True` an existing study of that name is continued instead. `artifacts`
    is the folder for checkpoints (default: `zoomtune-artifacts` beside the SQLite file). Running
    trials send a heartbeat every `heartbeat_interval` seconds (default 30; None: off); one silent
    for three intervals is FAILED by the next process that touches the study, and re-queued up to
    `max_retries` times, resuming from its last checkpoint. The interval and the sampler's seed
    are stored with the study, so every process that opens it later uses the same.
    """
    interval = DEFAULT_HEARTBEAT_S if heartbeat_interval is ... else heartbeat_interval
    check_settings(interval, max_retries)  # before anything is written
    declared = _space_of(space)
    wanted, names = _objectives(direction, directions, metric_names)
    backend = get_storage(storage)
    name = name or f"study-{uuid.uuid4().hex[:8]}"
    chosen = sampler or RandomSampler()
    stored = {**(attrs or {}), HEARTBEAT_ATTR: interval, SAMPLER_SEED_ATTR: chosen.seed}
    try:
        info = backend.create_study(name, wanted[0], declared.to_dict() if declared is not None else None, stored,
                                    directions=wanted if len(wanted) > 1 else (), metric_names=names)
    except DuplicatedStudyError:
        if not load_if_exists:
            raise
        return load_study(name, backend, sampler=sampler, scheduler=scheduler, space=declared, directions=wanted,
                          artifacts=artifacts, heartbeat_interval=heartbeat_interval, max_retries=max_retries)
    return Study(info, backend, chosen, scheduler, declared, artifacts, interval, max_retries)


def load_study(name: str, storage: str | Storage | None = None, sampler: Sampler | None = None,
               scheduler: Scheduler | None = None, space: Space | Mapping[str, Any] | None = None,
               direction: str | Direction | None = None, artifacts: str | os.PathLike[str] | None = None,
               heartbeat_interval: float | EllipsisType | None = ..., max_retries: int = 0, *,
               directions: Sequence[str | Direction] | None = None) -> Study:
    """Open an existing study; raises `StudyNotFoundError` (a KeyError) when there is none.

    By default it keeps the heartbeat interval the study was created with, and without a
    `sampler` it samples at random with the study's stored seed.
    """
    backend = get_storage(storage)
    info = backend.get_study(name)
    if direction is not None or directions is not None:
        wanted, _ = _objectives(direction, directions, None)
        if wanted != info.directions:
            raise ConfigError("direction", f"study {name!r} was created to "
                              f"{', '.join(d.value for d in info.directions)}", ", ".join(d.value for d in wanted))
    interval = stored_heartbeat(info.attrs) if heartbeat_interval is ... else heartbeat_interval
    declared = _space_of(space)
    if declared is None and info.space is not None:
        declared = Space.from_dict(info.space)
    if sampler is None:
        sampler = RandomSampler(seed=info.attrs.get(SAMPLER_SEED_ATTR))
    return Study(info, backend, sampler, scheduler, declared, artifacts, interval, max_retries)


def stored_heartbeat(attrs: Mapping[str, Any]) -> float | None:
    """The heartbeat interval a study was created with (studies older than that setting: 30 s)."""
    value = attrs.get(HEARTBEAT_ATTR, DEFAULT_HEARTBEAT_S)
    return None if value is None else float(value)


def list_studies(storage: str | Storage | None = None) -> list[StudySummary]:
    """Every study in the storage with its trial counts and best value."""
    return get_storage(storage).list_studies()


def delete_study(name: str, storage: str | Storage | None = None) -> None:
    """Remove a study and all its trials."""
    get_storage(storage).delete_study(name)


__all__ = ["create_study", "delete_study", "list_studies", "load_study", "stored_heartbeat"]
