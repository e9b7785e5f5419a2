"""The Pareto data of a multi-objective study now lives in `zoomtune.plot.front_data` (every figure is made in
`zoomtune.plot`); these names stay importable from here for scripts written against the dashboard."""

from zoomtune.plot.front_data import (MARGIN, MAX_HYPERVOLUME_OBJECTIVES, FrontHistory, ObservedBox, front_history,
                                      observed_box, pareto_payload, signs)

__all__ = ["MARGIN", "MAX_HYPERVOLUME_OBJECTIVES", "FrontHistory", "ObservedBox", "front_history", "observed_box",
           "pareto_payload", "signs"]
