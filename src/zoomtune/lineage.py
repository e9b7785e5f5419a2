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

from zoomtune.records import Event, EventKind, TrialRecord, TrialState


@dataclass
class LineageNode:
    """A trial in the tree: how it came to be, what was changed while it ran, its children."""

    number: int
    state: TrialState
    value: float | None
    parent: int | None = None
    reason: str | None = None  # why it was branched: "branch", "pbt", "retry", "resume"
    step: int | None = None  # the parent's step it started from
    overrides: dict[str, Any] = field(default_factory=dict)
    nudges: list[Event] = field(default_factory=list)
    children: list[LineageNode] = field(default_factory=list)


def lineage(trials: list[TrialRecord], events: list[Event]) -> list[LineageNode]:
    """The roots of the study's lineage forest, for trials that branched, were branched from, or
    were nudged; trials with no history of either are left out."""
    nodes = {t.number: LineageNode(t.number, t.state, t.value, t.parent) for t in trials}
    for event in events:
        node = nodes.get(event.trial_number) if event.trial_number is not None else None
        if node is None:
            continue
        if event.kind is EventKind.BRANCH:
            node.reason = event.payload.get("reason", "branch")
            node.overrides = dict(event.payload.get("overrides", {}))
            node.step = event.payload.get("at_step", event.step)
        elif event.kind is EventKind.NUDGE:
            node.nudges.append(event)
    for node in nodes.values():
        if node.parent is not None and node.parent in nodes:
            nodes[node.parent].children.append(node)
    return [n for n in nodes.values()
            if (n.parent is None or n.parent not in nodes) and (n.children or n.nudges or n.parent is not None)]


__all__ = ["LineageNode", "lineage"]
