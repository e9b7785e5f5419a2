"""One function per figure for notebooks: each takes a Study (or a study's name and its storage) and returns a
`plotly.graph_objects.Figure` wrapping the very spec the dashboard serves for that study (`zoomtune.plot.page`).
Plotly is imported only when a figure is made (the `notebook` or `dashboard` extra)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from zoomtune.importance import MIN_TRIALS
from zoomtune.plot.data import StudyData, curve, data_of
from zoomtune.plot.errors import NotPlottableError
from zoomtune.plot.figures.common import FigureSpec
from zoomtune.plot.figures.curves import curves_figure
from zoomtune.plot.figures.history import history_figure
from zoomtune.plot.figures.pair import pair_figure
from zoomtune.plot.page import BUILDERS, FigureKind
from zoomtune.storage import Storage
from zoomtune.study import Study, load_study

if TYPE_CHECKING:
    import plotly.graph_objects as go

StudyLike = Study | str
#: a curves figure chosen by trial numbers names them in its title up to this many
MAX_NAMED_CURVES = 10


def to_figure(spec: FigureSpec) -> go.Figure:
    """A plotly Figure of a spec (its data and layout, as they are)."""
    import plotly.graph_objects as go

    return go.Figure(data=spec["data"], layout=spec["layout"])


def _study(study: StudyLike, storage: str | Storage | None) -> Study:
    return load_study(study, storage) if isinstance(study, str) else study


def _data(study: StudyLike, storage: str | Storage | None) -> StudyData:
    return data_of(_study(study, storage))


def _page_figure(kind: FigureKind, study: StudyLike, storage: str | Storage | None, missing: str) -> go.Figure:
    """The page's figure of `kind`; NotPlottableError saying `missing` when the study has none."""
    data = _data(study, storage)
    spec = BUILDERS[kind](data)
    if spec is None:
        raise NotPlottableError(f"{kind.value}: study {data['name']!r} {missing}")
    return to_figure(spec)


def history(study: StudyLike, storage: str | Storage | None = None) -> go.Figure:
    """Every scored trial's value by trial number and the best so far."""
    return to_figure(history_figure(_data(study, storage)))


def params(study: StudyLike, storage: str | Storage | None = None) -> go.Figure:
    """Each parameter against the objective on its own scale (log axes for log parameters, 1-x reversed for
    log1m), the boxes of each coarse-to-fine round drawn as bands."""
    return _page_figure(FigureKind.PARAMS, study, storage, "has no parameters yet")


def contour(study: StudyLike, x: str | None = None, y: str | None = None,
            storage: str | Storage | None = None) -> go.Figure:
    """Parameter `x` against `y`, coloured by the objective, with the zoom boxes; by default the two numeric
    parameters that mattered most (a scatter of the trials, not an interpolated surface)."""
    data = _data(study, storage)
    spec = pair_figure(data, x, y)
    if spec is None:
        raise NotPlottableError(f"contour: study {data['name']!r} has fewer than two numeric parameters")
    return to_figure(spec)


def parallel_coordinates(study: StudyLike, storage: str | Storage | None = None) -> go.Figure:
    """One line per scored trial over every parameter on its own scale, then the objective."""
    return _page_figure(FigureKind.PARCOORDS, study, storage, "has no parameters yet")


def curves(study: StudyLike, trials: Iterable[int] | None = None, storage: str | Storage | None = None) -> go.Figure:
    """Learning curves: of `trials` (numbers) when given, else of the dashboard's set (running, best, latest)."""
    loaded = _study(study, storage)
    data = data_of(loaded)
    if trials is None:
        return to_figure(curves_figure(data))
    wanted = list(trials)
    by_number = {t.number: t for t in loaded.trials}
    unknown = [n for n in wanted if n not in by_number]
    if unknown:
        raise NotPlottableError(f"curves: study {loaded.name!r} has no trial {unknown[0]!r}")
    chosen: dict[str, Any] = {**data, "curves": {str(n): curve(by_number[n]) for n in wanted}}
    named = ", ".join(f"#{n}" for n in wanted) if len(wanted) <= MAX_NAMED_CURVES else f"{len(wanted)} chosen trials"
    return to_figure(curves_figure(chosen, f"Learning curves of {named}"))


def lineage(study: StudyLike, storage: str | Storage | None = None) -> go.Figure:
    """The panda branch tree: one lane per trial, its branches and nudges."""
    return _page_figure(FigureKind.LINEAGE, study, storage, "has no branched or nudged trial")


def importance(study: StudyLike, storage: str | Storage | None = None) -> go.Figure:
    """Each parameter's PED-ANOVA importance (see `zoomtune.importance`)."""
    return _page_figure(FigureKind.IMPORTANCE, study, storage,
                        f"has no importance yet: it needs at least {MIN_TRIALS} COMPLETE trials with a finite "
                        "value whose best ones differ from the rest in some parameter")


def front(study: StudyLike, storage: str | Storage | None = None) -> go.Figure:
    """The Pareto front of a multi-objective study: every COMPLETE trial over the objectives, the feasible
    non-dominated ones highlighted."""
    return _page_figure(FigureKind.FRONT, study, storage,
                        "has a single objective: a Pareto front needs a study of several (directions=[...])")


def hypervolume(study: StudyLike, storage: str | Storage | None = None) -> go.Figure:
    """The normalised hypervolume of the feasible front after each trial (up to three objectives)."""
    return _page_figure(FigureKind.HYPERVOLUME, study, storage,
                        "has no hypervolume: it needs 2 or 3 objectives and a feasible COMPLETE trial")


__all__ = ["contour", "curves", "front", "history", "hypervolume", "importance", "lineage", "parallel_coordinates",
           "params", "to_figure"]
