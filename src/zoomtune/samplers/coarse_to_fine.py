"""Coarse to fine with a model: trust-region boxes in the unit cube, the GP proposing inside them.

Trials are grouped in rounds of `round_size` by trial number. Round 0 searches the whole cube:
Sobol points, then the GP's proposals once it has enough trials (`GPSampler.n_startup`). Each
later round searches the boxes stored for it in a ZOOM event; they are in unit-cube coordinates,
so `log` and `log1m` parameters zoom on their own scale. A trial's box is fixed by its number
(round robin), except a seeded share `explore` of the trials, which the GP proposes in the whole
cube so that a wrong box can recover. Inside a box the GP maximises expected improvement over
the box (`GPSampler.propose_in`); until the GP has enough trials a box is sampled uniformly.

The boxes are trust regions (TuRBO, Eriksson et al. 2019), one per basin:

- round 1 boxes the best `top_fraction` of a round's size (at least three) of the finished trials:
  each box is centred on its best trial, each numeric side is the spread of those trials on that
  parameter widened by `margin` on both sides (at least `min_width`; so the box is long where the
  good trials disagree and short where they agree), each categorical parameter keeps the choices
  they use; when they form two separate clusters (and `max_boxes` > 1) each gets its own box;
- at the start of every later round each box is updated from the previous round's box and the
  finished trials that round assigned to it, replayed in number order: a trial that beats the
  box's best (by 0.1 %) is a success, any other a failure; 3 successes in a row double every side
  (a categorical parameter admits twice as many choices, the best-scoring ones first), max(4,
  number of parameters) failures in a row halve them (TuRBO's tolerances for one trial a batch);
  the box is then re-centred on the best trial inside it;
- a box restarts, refitted as in round 1 to the best trials outside every box, when it
  collapses (every numeric side under `min_width` and one choice per categorical parameter),
  when it has the same best trial as an earlier box, or, for the box whose best is worst, when
  the study's best trial lies outside every box.

With several objectives (`SampleContext.directions`) "best" is Pareto's: round 1 boxes the current
Pareto set (the non-dominated feasible trials, at least the best three by constrained non-domination
rank), a box is centred on its trial with the largest hypervolume contribution, and a trial succeeds
when no earlier trial of its box dominates it (it joins the box's front). Inside a box the GP then
maximises expected hypervolume improvement.

What is stored, per round and box (`ZoomPayload.boxes`): "unit" (bounds) and "choices" (as
before, what the dashboard draws), "centre" and "width" (the numeric sides before clipping to
the cube), "successes" / "failures" (the counters in a row), and "change" / "why" (new, grew,
shrank, kept or restarted, and the counts that made it so). A round's boxes are a function of the
previous round's stored boxes and the history when the round's first trial is proposed; the first
stored event of a round wins, so every worker searches the same boxes (a trial of the previous
round that finishes later still enters the GP and the box's best, but not the counters).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from zoomtune.errors import require_int, require_number
from zoomtune.pareto import non_dominated_ranks, pareto_front_mask
from zoomtune.records import Direction, Event, EventKind, ZoomPayload
from zoomtune.samplers.base import SampleContext, Sampler, history_points
from zoomtune.samplers.gp import GPSampler, front_contributions, observations
from zoomtune.space import Categorical, Space

if TYPE_CHECKING:
    from zoomtune.samplers._gp_acquisition import Region

_OWNER = "CoarseToFineSampler"
_MAX_WIDTH = 2.0  # a side this long covers the whole range from any centre
_MARGIN = 1e-3  # an improvement smaller than this share of the best value is no success (TuRBO's)
_GROW_AFTER = 3  # successes in a row that double a box (TuRBO's)


@dataclass
class _Box:
    """A trust region: numeric centre and sides (unit cube), allowed choices, and its counters."""

    centre: dict[str, float]
    width: dict[str, float]
    choices: dict[str, list[int]]
    successes: int = 0
    failures: int = 0
    change: str = "new"
    why: str = ""
    bounds: dict[str, list[float]] = field(init=False)

    def __post_init__(self) -> None:
        self.bounds = {name: [max(0.0, c - self.width[name] / 2), min(1.0, c + self.width[name] / 2)]
                       for name, c in self.centre.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Box:
        """A stored box; one stored before boxes had a centre gets its bounds' middle and length."""
        unit = data.get("unit", {})
        centre = data.get("centre") or {name: (lo + hi) / 2 for name, (lo, hi) in unit.items()}
        width = data.get("width") or {name: hi - lo for name, (lo, hi) in unit.items()}
        return cls(dict(centre), dict(width), {k: list(v) for k, v in data.get("choices", {}).items()},
                   int(data.get("successes", 0)), int(data.get("failures", 0)), str(data.get("change", "new")),
                   str(data.get("why", "")))

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.bounds, "choices": self.choices, "centre": self.centre, "width": self.width,
                "successes": self.successes, "failures": self.failures, "change": self.change, "why": self.why}

    def contains(self, points: np.ndarray, space: Space) -> np.ndarray:
        """Which rows of `points` (unit cube) lie in the box; a parameter the box lacks is unconstrained."""
        inside = np.ones(len(points), dtype=bool)
        for j, (name, dist) in enumerate(space.items()):
            if name in self.bounds:
                lo, hi = self.bounds[name]
                inside &= (points[:, j] >= lo - 1e-12) & (points[:, j] <= hi + 1e-12)
            elif name in self.choices and isinstance(dist, Categorical):
                inside &= np.isin(_indices(points[:, j], len(dist.choices)), self.choices[name])
        return inside

    def region(self, space: Space) -> Region:
        from zoomtune.samplers._gp_acquisition import Region  # SciPy, only once a box is searched

        low, high, allowed = np.zeros(len(space)), np.ones(len(space)), {}
        for j, name in enumerate(space):
            if name in self.bounds:
                low[j], high[j] = self.bounds[name]
            elif name in self.choices:
                allowed[j] = np.array(self.choices[name])
        return Region(low, high, allowed)

    def collapsed(self, space: Space, min_width: float) -> bool:
        return (all(w < min_width for w in self.width.values())
                and all(len(self.choices.get(name, [0, 1])) == 1 for name, d in space.items()
                        if isinstance(d, Categorical)))


@dataclass(frozen=True)
class _Scores:
    """The finished trials boxes are made from: unit-cube `points`, `values` (lower is better: the sign-flipped
    value with one objective; with several, the constrained non-domination rank, less half the share of the
    largest hypervolume contribution for the front's trials) and `numbers`; with several objectives, the
    minimised `objectives` and the `violations`, which decide whether a trial joins its box's front."""

    points: np.ndarray
    values: np.ndarray
    numbers: np.ndarray
    objectives: np.ndarray | None = None
    violations: np.ndarray | None = None

    def top_count(self, keep: np.ndarray, n_top: int) -> int:
        """How many of the rows in `keep` a box is fitted to: `n_top`, or all of the front's among them."""
        return n_top if self.objectives is None else max(n_top, int(np.sum(keep & (self.values <= 0))))

    def improves(self, row: int, earlier: list[int], best: float) -> bool:
        """Whether trial `row` is a success after the box's `earlier` rows (their best value `best`): it beats
        `best` by `_MARGIN`, or with several objectives no earlier row dominates it."""
        if self.objectives is None or self.violations is None:
            return bool(self.values[row] < best - _MARGIN * abs(best))
        rows = [*earlier, row]
        return bool(pareto_front_mask(self.objectives[rows], self.violations[rows])[-1])


def _indices(column: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(np.minimum(n - 1, (column * n).astype(int)))


def _fit_box(points: np.ndarray, space: Space, margin: float, min_width: float) -> _Box:
    """The box around `points` (best first): centred on the first, each side the widened spread."""
    centre, width, choices = {}, {}, {}
    for j, (name, dist) in enumerate(space.items()):
        column = points[:, j]
        if isinstance(dist, Categorical):
            choices[name] = sorted({int(i) for i in _indices(column, len(dist.choices))})
            continue
        centre[name] = float(column[0])
        width[name] = min(_MAX_WIDTH, max(min_width, (1 + 2 * margin) * float(column.max() - column.min())))
    return _Box(centre, width, choices)


def _volume(box: _Box) -> float:
    return float(math.prod(hi - lo for lo, hi in box.bounds.values()))


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


def describe_box(box: dict[str, Any], space: Space) -> str:
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
    """The whole cube first, then trust-region boxes around the best trials, the GP proposing inside.

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
        self.round_size: int = require_int(_OWNER, "round_size", round_size, 2)
        self.top_fraction = require_number(_OWNER, "top_fraction", top_fraction, 0, 1, low_open=True)
        self.margin = require_number(_OWNER, "margin", margin, 0)
        self.explore = require_number(_OWNER, "explore", explore, 0, 1, high_open=True)
        self.max_boxes: int = require_int(_OWNER, "max_boxes", max_boxes, 1)
        self.min_width = require_number(_OWNER, "min_width", min_width, 0, 1)
        self._gp = GPSampler(self.seed)

    def n_top(self, n_finished: int) -> int:
        """How many of the best trials a box is fitted to: `top_fraction` of a round, at least 3."""
        return min(n_finished, max(3, math.ceil(self.top_fraction * self.round_size)))

    def round_of(self, number: int) -> int:
        return number // self.round_size

    def box_of(self, number: int, n_boxes: int) -> int | None:
        """The box trial `number` searches, or None for the whole cube (a seeded share `explore`)."""
        return None if self.uniform(number, "c2f:explore") < self.explore else number % n_boxes

    def boxes_for(self, space: Space, context: SampleContext) -> list[dict[str, Any]] | None:
        """The boxes of this trial's round: read from the study, or made now and stored."""
        round_ = self.round_of(context.number)
        if round_ == 0:
            return None
        stored = self._stored(space, context, round_)
        if stored is not None:
            return stored
        scores = self._scored(space, context)
        if len(scores.values) < 2:
            return None
        previous = self._stored(space, context, round_ - 1)
        if previous is None:
            boxes = self._first_boxes(space, scores)
        else:
            boxes = self._updated([_Box.from_dict(b) for b in previous], space, scores, round_ - 1)
        dicts = [b.to_dict() for b in boxes]
        first = scores.values if scores.objectives is None else scores.objectives[:, 0]  # minimised
        context.add_event(Event(ZoomPayload(
            round=round_, names=sorted(space), boxes=dicts, n_trials=len(scores.values),
            best=float(-first.min() if context.direction is Direction.MAXIMIZE else first.min()),
            described=[describe_box(b, space) for b in dicts])))
        return self._stored(space, context, round_)

    @staticmethod
    def _stored(space: Space, context: SampleContext, round_: int) -> list[dict[str, Any]] | None:
        names = sorted(space)
        for event in context.events(EventKind.ZOOM):  # the first stored box of a round wins
            zoom = event.payload
            if isinstance(zoom, ZoomPayload) and zoom.round == round_ and zoom.names == names:
                return list(zoom.boxes)
        return None

    @staticmethod
    def _scored(space: Space, context: SampleContext) -> _Scores:
        """The finished trials in `space` (`history_points`'s, or with several objectives `observations`'),
        scored."""
        history = context.history()
        if len(context.directions) == 1:
            points, values = history_points(space, history, context.direction)
            numbers = [t.number for t in history if len(history_points(space, [t], context.direction)[1])]
            return _Scores(points, values, np.array(numbers, dtype=int))
        trials = [t for t in history if len(observations(space, [t], context.directions))]
        observed = observations(space, trials, context.directions)
        violations = observed.violations()
        contributions = front_contributions(observed.y, violations)
        values = non_dominated_ranks(observed.y, violations) - 0.5 * contributions / max(contributions.max(), 1e-300)
        return _Scores(observed.x, values, np.array([t.number for t in trials], dtype=int), observed.y, violations)

    def _top(self, scores: _Scores, keep: np.ndarray) -> np.ndarray:
        """The best `n_top` of the rows in `keep` (all of the front's, with several objectives), best first."""
        order = [i for i in np.argsort(scores.values, kind="stable") if keep[i]]
        return scores.points[order[:scores.top_count(keep, self.n_top(len(scores.values)))]]

    def _first_boxes(self, space: Space, scores: _Scores) -> list[_Box]:
        """Round 1: the best trials boxed, one box per cluster when they form two."""
        top = self._top(scores, np.ones(len(scores.values), dtype=bool))
        boxes = [_fit_box(top, space, self.margin, self.min_width)]
        split = _two_clusters(top) if self.max_boxes > 1 and len(space) else None
        if split is not None:
            pair = [_fit_box(part, space, self.margin, self.min_width) for part in split]
            if sum(_volume(b) for b in pair) < 0.5 * _volume(boxes[0]):
                boxes = pair
        for box in boxes:
            box.why = f"around the best {len(top)} trials" + (" (one of two clusters)" if len(boxes) > 1 else "")
        return boxes

    def _updated(self, boxes: list[_Box], space: Space, scores: _Scores, last_round: int) -> list[_Box]:
        """The boxes of the round after `last_round`, from its boxes and the trials it assigned them."""
        points, values, numbers = scores.points, scores.values, scores.numbers
        start = last_round * self.round_size
        shrink_after = max(4, len(space))
        ranks = self._choice_ranks(space, points, values)
        new: list[_Box] = []
        for k, box in enumerate(boxes):
            inside = box.contains(points, space)
            before = inside & (numbers < start)
            best = float(values[before].min()) if before.any() else math.inf
            earlier = [int(i) for i in np.flatnonzero(before)]
            successes, failures, grew, shrank = box.successes, box.failures, 0, 0
            for i in np.argsort(numbers):
                n = int(numbers[i])
                if not start <= n < start + self.round_size or self.box_of(n, len(boxes)) != k or not inside[i]:
                    continue
                if scores.improves(int(i), earlier, best):
                    successes, failures = successes + 1, 0
                else:
                    successes, failures = 0, failures + 1
                best = min(best, float(values[i]))
                earlier.append(int(i))
                if successes >= _GROW_AFTER:
                    successes, grew = 0, grew + 1
                elif failures >= shrink_after:
                    failures, shrank = 0, shrank + 1
            factor = 2.0 ** (grew - shrank)
            centre_row = int(np.flatnonzero(inside)[np.argmin(values[inside])]) if inside.any() else None
            centre = ({name: float(points[centre_row, j]) for j, name in enumerate(space) if name in box.centre}
                      if centre_row is not None else box.centre)
            width = {name: min(_MAX_WIDTH, w * factor) for name, w in box.width.items()}
            choices = {}
            for j, name in enumerate(space):
                if name in box.choices and name in ranks:
                    n = len(ranks[name])
                    own = None if centre_row is None else int(_indices(points[centre_row, j:j + 1], n)[0])
                    choices[name] = self._rescaled(box.choices[name], factor, ranks[name], own)
            change = "grew" if factor > 1 else "shrank" if factor < 1 else "kept"
            why = (", ".join(f"{count} x {tol} {what} in a row" for count, tol, what in
                             ((grew, _GROW_AFTER, "improvements"), (shrank, shrink_after, "failures")) if count)
                   or f"{successes}/{_GROW_AFTER} improvements, {failures}/{shrink_after} failures in a row")
            new.append(_Box(centre, width, choices, successes, failures, change, why))
        return self._restarted(new, space, scores)

    def _restarted(self, boxes: list[_Box], space: Space, scores: _Scores) -> list[_Box]:
        """`boxes` with the collapsed, duplicated and worst-when-the-best-is-elsewhere ones refitted."""
        points, values = scores.points, scores.values
        reasons: dict[int, str] = {}
        bests: list[tuple[float, int]] = []
        for k, box in enumerate(boxes):
            inside = box.contains(points, space)
            best_row = int(np.flatnonzero(inside)[np.argmin(values[inside])]) if inside.any() else -1
            if box.collapsed(space, self.min_width):
                reasons[k] = f"collapsed (every side under {self.min_width:g})"
            elif best_row >= 0 and any(best_row == b for _, b in bests):
                reasons[k] = "same best trial as an earlier box"
            bests.append((float(values[best_row]) if best_row >= 0 else math.inf, best_row))
        if not any(box.contains(points[[int(np.argmin(values))]], space)[0] for box in boxes):
            worst = max((k for k in range(len(boxes)) if k not in reasons), key=lambda k: bests[k][0], default=None)
            if worst is not None:
                reasons[worst] = "the best trial lies outside every box"
        for k, reason in sorted(reasons.items()):
            outside = ~np.any([b.contains(points, space) for b in boxes], axis=0)
            top = self._top(scores, outside)
            if len(top):
                box = _fit_box(top, space, self.margin, self.min_width)
            else:  # every trial is in a box: search the whole cube
                box = _Box(dict.fromkeys(boxes[k].centre, 0.5), dict.fromkeys(boxes[k].centre, _MAX_WIDTH),
                           {name: list(range(len(d.choices))) for name, d in space.items()
                            if isinstance(d, Categorical)})
            box.change, box.why = "restarted", reason
            boxes[k] = box
        return boxes

    @staticmethod
    def _choice_ranks(space: Space, points: np.ndarray, values: np.ndarray) -> dict[str, list[int]]:
        """Each categorical parameter's choices, best first by the best value seen with them (untried last)."""
        ranks = {}
        for j, (name, dist) in enumerate(space.items()):
            if isinstance(dist, Categorical):
                n = len(dist.choices)
                column = _indices(points[:, j], n)
                best = [float(values[column == i].min()) if (column == i).any() else math.inf for i in range(n)]
                ranks[name] = sorted(range(n), key=lambda i: (best[i], i))
        return ranks

    @staticmethod
    def _rescaled(allowed: list[int], factor: float, ranks: list[int], centre: int | None) -> list[int]:
        """`allowed` with `factor` times as many choices (at least one): the centre's, then the best ranked,
        of the allowed ones when shrinking, of all when growing."""
        count = min(len(ranks), max(1, math.ceil(len(allowed) * factor)))
        pool = ranks if factor > 1 else [i for i in ranks if i in allowed]
        first = [centre] if centre is not None else []
        return sorted(list(dict.fromkeys(first + pool))[:count])

    def sample(self, space: Space, context: SampleContext) -> Sequence[float]:
        boxes = self.boxes_for(space, context)
        if boxes is None:  # round 0: Sobol points, then the GP in the whole cube
            return self._gp.sample(space, context)
        k = self.box_of(context.number, len(boxes))
        region = None if k is None else _Box.from_dict(boxes[k]).region(space)
        if len(observations(space, context.history(), context.directions)) >= self._gp.n_startup(space):
            return self._gp.propose_in(space, context, region)
        rng = self.rng(context.number, "coarse-to-fine")
        if region is None:
            return [float(u) for u in rng.random(len(space))]
        n_choices = np.array([len(d.choices) if isinstance(d, Categorical) else 0 for d in space.values()])
        point = region.place(rng.random((1, len(space))), n_choices)[0]
        return [(float(u) + 0.5) / k if k else float(u) for u, k in zip(point, n_choices, strict=True)]

    def sample_one(self, name: str, dist: Any, context: SampleContext) -> float:
        return self.uniform(context.number, name)


__all__ = ["CoarseToFineSampler", "describe_box"]
