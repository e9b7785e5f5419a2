"""How much each parameter mattered (PED-ANOVA, `zoomtune.importance`), as horizontal bars, most important on
top; nothing to draw until the importances could be estimated."""

from __future__ import annotations

from zoomtune.plot.data import StudyData
from zoomtune.plot.figures.common import MARGIN, FigureSpec, fmt, objective_label, plot_text, title
from zoomtune.plot.figures.params import IMPORTANCE_HELP

BAR_COLOUR = "#2f6fdb"


def importance_figure(data: StudyData) -> FigureSpec | None:
    """One bar per parameter; None while every importance is 0 (too few trials, or none stand out)."""
    scores = data["importance"]
    if not any(v > 0 for v in scores.values()):
        return None
    ranked = sorted(scores.items(), key=lambda item: item[1])  # Plotly draws the first bar at the bottom
    names = [plot_text(name) for name, _ in ranked]
    return {"data": [{"type": "bar", "orientation": "h", "x": [v for _, v in ranked], "y": names, "name": "importance",
                      "text": [fmt(v) for _, v in ranked], "textposition": "auto", "marker": {"color": BAR_COLOUR},
                      "hovertemplate": f"%{{y}}: %{{x:.3f}}<br>{IMPORTANCE_HELP}<extra></extra>"}],
            "layout": {"title": title(f"What mattered for the {objective_label(data)}: PED-ANOVA importance"),
                       "margin": MARGIN, "height": max(260, 80 + 28 * len(ranked)),
                       "xaxis": {"title": {"text": "importance (sums to 1)"}, "range": [0, 1]},
                       "yaxis": {"type": "category", "automargin": True}}}


__all__ = ["importance_figure"]
