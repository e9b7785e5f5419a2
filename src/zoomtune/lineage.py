"""The lineage of a study: which trial was branched from which (by hand, by PBT, by a retry),
and every nudge along the way, as a forest of trees.

>>> import zoomtune as zt
>>> study = zt.create_study()
>>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
>>> child = study.branch(0, overrides={"x": 0.5})
>>> [(n.number, [c.number for c in n.children]) for n in lineage(study.trials, study.events())]
[(0, [1])]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoomtune.records import BranchPayload, BranchReason, Event, NudgePayload, TrialRecord, TrialState


@dataclass
class LineageNode:
    """A trial in the tree: how it came to be, what was changed while it ran, its children."""

    number: int
    state: TrialState
    value: float | None
    parent: int | None = None
    reason: BranchReason | None = None  # why it was branched
    step: int | None = None  # the parent's step whose checkpoint it started from (None: from scratch)
    overrides: dict[str, Any] = field(default_factory=dict)
    nudges: list[Nudge] = field(default_factory=list)
    children: list[LineageNode] = field(default_factory=list)
    first_step: int | None = None  # the span of its own reports
    last_step: int | None = None


@dataclass(frozen=True)
class Nudge:
    """A nudge a trial took: at which step, and the old and new values."""

    step: int | None
    old: dict[str, Any]
    new: dict[str, Any]


def lineage(trials: list[TrialRecord], events: list[Event]) -> list[LineageNode]:
    """The roots of the study's lineage forest, for trials that branched, were branched from, or
    were nudged; trials with no history of either are left out."""
    nodes = {t.number: LineageNode(t.number, t.state, t.value, t.parent,
                                   first_step=min(t.intermediate_values, default=None),
                                   last_step=t.last_step) for t in trials}
    for event in events:
        node = nodes.get(event.trial_number) if event.trial_number is not None else None
        payload = event.payload
        if node is None:
            continue
        if isinstance(payload, BranchPayload):
            node.reason, node.overrides, node.step = payload.reason, dict(payload.overrides), payload.from_step
        elif isinstance(payload, NudgePayload):
            node.nudges.append(Nudge(event.step, dict(payload.old), dict(payload.new)))
    for node in nodes.values():
        if node.parent is not None and node.parent in nodes:
            nodes[node.parent].children.append(node)
    return [n for n in nodes.values()
            if (n.parent is None or n.parent not in nodes) and (n.children or n.nudges or n.parent is not None)]


__all__ = ["LineageNode", "Nudge", "lineage"]
