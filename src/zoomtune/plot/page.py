"""Every figure of a study page, built from its data: what the dashboard serves and the report embeds, and
what the notebook functions of `zoomtune.plot` return (one source for all three)."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from zoomtune.plot.data import StudyData
from zoomtune.plot.figures.common import FigureSpec
from zoomtune.plot.figures.curves import curves_figure
from zoomtune.plot.figures.front import front_figure, hypervolume_figure
from zoomtune.plot.figures.history import history_figure
from zoomtune.plot.figures.importance import importance_figure
from zoomtune.plot.figures.lineage import lineage_figure
from zoomtune.plot.figures.pair import pair_figure
from zoomtune.plot.figures.params import params_figure
from zoomtune.plot.figures.parcoords import parcoords_figure


class FigureKind(str, Enum):
    """A figure of the study page; its value names it in the data's ``figures`` and the page's ``plot-VALUE``."""

    HISTORY = "history"
    CURVES = "curves"
    PARAMS = "params"
    PAIR = "pair"
    PARCOORDS = "parcoords"
    IMPORTANCE = "importance"
    LINEAGE = "lineage"
    FRONT = "front"
    HYPERVOLUME = "hypervolume"


BUILDERS: dict[FigureKind, Callable[[StudyData], FigureSpec | None]] = {
    FigureKind.HISTORY: history_figure,
    FigureKind.CURVES: curves_figure,
    FigureKind.PARAMS: params_figure,
    FigureKind.PAIR: pair_figure,
    FigureKind.PARCOORDS: parcoords_figure,
    FigureKind.IMPORTANCE: importance_figure,
    FigureKind.LINEAGE: lineage_figure,
    FigureKind.FRONT: front_figure,
    FigureKind.HYPERVOLUME: hypervolume_figure,
}


def figures(data: StudyData) -> dict[str, FigureSpec | None]:
    """Every figure of the page by its kind's value; None for one the study cannot have (no parameters, no
    lineage, a single objective, importance not estimated yet)."""
    return {kind.value: build(data) for kind, build in BUILDERS.items()}


__all__ = ["BUILDERS", "FigureKind", "figures"]
