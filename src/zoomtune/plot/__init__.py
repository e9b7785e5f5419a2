"""Plotly figures of a study, one source for notebooks, the dashboard and the report.

`data` turns a study into the JSON-ready columns figures are built from, `figures/` holds one builder per
family (each returns a plain ``{"data", "layout"}`` dict), `page` lists every figure of the study page (what
the dashboard serves and the report embeds), and `notebook` wraps the same dicts in
``plotly.graph_objects.Figure`` objects. Importing this package imports no plotly.

>>> import zoomtune as zt
>>> study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=0))
>>> study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1.0, scale="log"), n_trials=5)
>>> zt.plot.params(study).layout.xaxis.type
'log'
"""

from zoomtune.plot.errors import NotPlottableError
from zoomtune.plot.notebook import (contour, curves, front, history, hypervolume, importance, lineage,
                                    parallel_coordinates, params, to_figure)

__all__ = ["NotPlottableError", "contour", "curves", "front", "history", "hypervolume", "importance", "lineage",
           "parallel_coordinates", "params", "to_figure"]
