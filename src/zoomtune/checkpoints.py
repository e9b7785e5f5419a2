"""Checkpoints: any picklable state, written atomically under an artifacts folder, referenced from
storage as CHECKPOINT events, pruned so disks do not fill up.

Layout: ``<root>/<study name>/trial-<number>/step-<step>.pkl``. A file is written to a temporary
name and renamed, so a crash never leaves a half-written checkpoint behind a reference. The
default root is a `zoomtune-artifacts` folder beside the SQLite file (or in the working
directory for other storages).
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from zoomtune.records import CheckpointPayload, Direction, Event

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_root(storage_url: str) -> Path:
    """`zoomtune-artifacts` beside a SQLite file, else in the working directory."""
    if storage_url.startswith("sqlite:///"):
        database = storage_url[len("sqlite:///"):]
        if database and database != ":memory:":
            return Path(database).resolve().parent / "zoomtune-artifacts"
    return Path.cwd() / "zoomtune-artifacts"


class CheckpointStore:
    """Writes, reads and prunes one study's checkpoint files."""

    def __init__(self, root: str | os.PathLike[str], study_name: str, keep_last: int = 2, keep_every: int = 10) -> None:
        if keep_last < 1 or keep_every < 0:
            raise ValueError(f"keep_last must be >= 1 and keep_every >= 0; got {keep_last}, {keep_every}")
        self.folder = Path(root) / _SAFE.sub("_", study_name)
        self.keep_last, self.keep_every = keep_last, keep_every

    def path(self, trial_number: int, step: int) -> Path:
        return self.folder / f"trial-{trial_number}" / f"step-{step}.pkl"

    def save(self, trial_number: int, step: int, state: Any) -> Path:
        """Write `state` atomically; returns its path."""
        target = self.path(trial_number, step)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump(state, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target

    def snapshot(self, source: str | os.PathLike[str]) -> Path:
        """A private copy of a checkpoint file (what a branch starts from), safe from the source
        trial's pruning; written atomically."""
        target = self.folder / "branches" / f"{uuid.uuid4().hex}.pkl"
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".tmp-{target.name}")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
        return target

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Any:
        with open(path, "rb") as handle:
            return pickle.load(handle)

    def prune(self, trial_number: int, values: dict[int, float], direction: Direction) -> list[int]:
        """Delete this trial's checkpoints except the last `keep_last`, the one of its best reported
        step, and every `keep_every`-th step (steps 9, 19, ...: places to branch from later);
        returns the steps kept."""
        folder = self.folder / f"trial-{trial_number}"
        steps = sorted(int(p.stem[len("step-"):]) for p in folder.glob("step-*.pkl"))
        keep = set(steps[-self.keep_last:])
        if self.keep_every:
            keep.update(s for s in steps if (s + 1) % self.keep_every == 0)
        scored = [s for s in steps if s in values and values[s] == values[s]]
        if scored:
            best = scored[0]
            for step in scored[1:]:
                if direction.better(values[step], values[best]):
                    best = step
            keep.add(best)
        for step in steps:
            if step not in keep:
                self.path(trial_number, step).unlink(missing_ok=True)
        return sorted(keep)


def latest_checkpoint(events: list[Event], trial_number: int, max_step: int | None = None) -> tuple[str, int] | None:
    """(path, step) of a trial's latest checkpoint at or before `max_step` whose file still exists."""
    candidates = [(e.step, e.payload.path) for e in events
                  if isinstance(e.payload, CheckpointPayload) and e.trial_number == trial_number
                  and e.step is not None and (max_step is None or e.step <= max_step)]
    for step, path in sorted(candidates, reverse=True):
        if os.path.exists(path):
            return path, step
    return None


__all__ = ["CheckpointStore", "default_root", "latest_checkpoint"]
