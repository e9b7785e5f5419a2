"""Coarse to fine: sample the whole cube, find where the best trials lie, zoom in, repeat.

Trials are grouped in rounds of `round_size` by trial number. Round 0 samples the whole unit
cube at random. At the start of each later round, the best `top_fraction` of the finished
trials (`top_fraction` of a round's size, at least three) are boxed in unit-cube coordinates,
so `log` and `log1m` parameters zoom on their own scale; each box is widened by `margin` of
its width on both sides, categorical parameters keep only the choices the best trials use,
and when the best trials form two separate clusters each gets its own box. The round's boxes
are stored in the study as a ZOOM event, so every worker process samples the same boxes and a
report can say "round 2 searched lr in [3e-3, 4e-2]". A share `explore` of every later round
still samples the whole cube, so a wrong zoom can recover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from zoomtune.errors import require_int, require_number
from zoomtune.records import Event, EventKind, ZoomPayload
from zoomtune.samplers.base import SampleContext, Sampler, history_points
from zoomtune.space import Categorical, Space

Box = dict[str, Any]  # {"unit": {name: [lo, hi]}, "choices": {name: [index, ...]}}


def _fit_box(points: np.ndarray, space: Space, margin: float, min_width: float) -> Box:
    """The widened bounding box of `points`, categorical dimensions as the set of indices used."""
    unit: dict[str, list[float]] = {}
    choices: dict[str, list[int]] = {}
    for j, (name, dist) in enumerate(space.items()):
        column = points[:, j]
        if isinstance(dist, Categorical):
            n = len(dist.choices)
            choices[name] = sorted({min(n - 1, int(u * n)) for u in column})
            continue
        lo, hi = float(column.min()), float(column.max())
        pad = max(margin * (hi - lo), (min_width - (hi - lo)) / 2, 0.0)
        unit[name] = [max(0.0, lo - pad), min(1.0, hi + pad)]
    return {"unit": unit, "choices": choices}


def _volume(box: Box) -> float:
    return float(math.prod(hi - lo for lo, hi in box["unit"].values()))


def _two_clusters(points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Split `points` in two by 2-means started from the farthest pair (deterministic)."""
    if len(points) < 4:
        return None
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    i, j = np.unravel_index(int(np.argmax(distances)), distances.shape)
    centres = points[[i, j]]
    labels = np.zeros(len(points), dtype=int)
    for _ in range(20):
        labels = np.argmin(np.linalg.norm(points[:, None, :] - centres[None], axis=-1), axis=1)
        if labels.min() == labels.max():
            return None
        new = np.array([points[labels == k].mean(axis=0) for k in (0, 1)])
        if np.allclose(new, centres):
            break
        centres = new
    a, b = points[labels == 0], points[labels == 1]
    return (a, b) if min(len(a), len(b)) >= 2 else None


def describe_box(box: Box, space: Space) -> str:
    """A box in the parameters' own values: "lr in [0.003, 0.04], act in {relu}"."""
    parts = []
    for name, dist in space.items():
        if name in box["unit"]:
            lo, hi = (dist.from_unit(u) for u in box["unit"][name])
            parts.append(f"{name} in [{lo:.4g}, {hi:.4g}]")
        elif name in box["choices"] and isinstance(dist, Categorical):
            parts.append(f"{name} in {{{', '.join(str(dist.choices[i]) for i in box['choices'][name])}}}")
    return ", ".join(parts)


class CoarseToFineSampler(Sampler):
    """Random in the whole space, then denser and denser around the best trials.

    >>> import zoomtune as zt
    >>> study = zt.create_study(sampler=CoarseToFineSampler(seed=0, round_size=10))
    >>> study.optimize(lambda t: (t.suggest_float("lr", 1e-5, 1, scale="log") - 1e-3) ** 2, n_trials=30)
    >>> [e.payload.round for e in study.events(zt.EventKind.ZOOM)]
    [1, 2]
    """

    uses_history = True

    def __init__(self, seed: int | None = None, round_size: int = 15, top_fraction: float = 0.2,
                 margin: float = 0.5, explore: float = 0.1, max_boxes: int = 2, min_width: float = 0.02) -> None:
        super().__init__(seed)
        owner = "CoarseToFineSampler"
        self.round_size: int = require_int(owner, "round_size", round_size, 2)
        self.top_fraction = require_number(owner, "top_fraction", top_fraction, 0, 1, low_open=True)
        self.margin = require_number(owner, "margin", margin, 0)
        self.explore = require_number(owner, "explore", explore, 0, 1, high_open=True)
        self.max_boxes: int = require_int(owner, "max_boxes", max_boxes, 1)
        self.min_width = require_number(owner, "min_width", min_width, 0, 1)

    def n_top(self, n_finished: int) -> int:
        """How many of the best trials a box is fitted to: `top_fraction` of a round, at least 3."""
        return min(n_finished, max(3, math.ceil(self.top_fraction * self.round_size)))

    def round_of(self, number: int) -> int:
        return number // self.round_size

    def boxes_for(self, space: Space, context: SampleContext) -> list[Box] | None:
        """The boxes of this trial's round: read from the study, or fitted now and stored."""
        round_ = self.round_of(context.number)
        if round_ == 0:
            return None
        names = sorted(space)
        for event in context.events(EventKind.ZOOM):  # the first stored box of a round wins
            zoom = event.payload
            if isinstance(zoom, ZoomPayload) and zoom.round == round_ and zoom.names == names:
                return list(zoom.boxes)
        points, values = history_points(space, context.history(), context.direction)
        if len(values) < 2:
            return None
        top = points[np.argsort(values, kind="stable")[:self.n_top(len(values))]]
        boxes = [_fit_box(top, space, self.margin, self.min_width)]
        split = _two_clusters(top) if self.max_boxes > 1 and len(space) else None
        if split is not None:
            pair = [_fit_box(part, space, self.margin, self.min_width) for part in split]
            if sum(_volume(b) for b in pair) < 0.5 * _volume(boxes[0]):
                boxes = pair
        context.add_event(Event(ZoomPayload(
            round=round_, names=names, boxes=boxes, n_trials=len(values),
            best=float(-values.min() if context.direction.value == "maximize" else values.min()),
            described=[describe_box(b, space) for b in boxes])))
        return self.boxes_for(space, context)

    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        rng = self.rng(context.number, "coarse-to-fine")
        boxes = self.boxes_for(space, context)
        if boxes is None or rng.random() < self.explore:
            return [float(u) for u in rng.random(len(space))]
        box = boxes[int(rng.integers(len(boxes)))]
        point = []
        for name, dist in space.items():
            if name in box["unit"]:
                lo, hi = box["unit"][name]
                point.append(float(lo + (hi - lo) * rng.random()))
            elif name in box["choices"]:
                allowed = box["choices"][name]
                point.append((allowed[int(rng.integers(len(allowed)))] + 0.5) / len(dist.choices))  # type: ignore
            else:
                point.append(float(rng.random()))
        return point

    def sample_one(self, name: str, dist: Any, context: SampleContext) -> float:
        return self.uniform(context.number, name)


__all__ = ["CoarseToFineSampler", "describe_box"]
