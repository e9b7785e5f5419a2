"""One module per family of figures, each a function from `zoomtune.plot.data.StudyData` to a figure spec: a
plain JSON-ready dict ``{"data": [...], "layout": {...}}`` that plotly.js draws as it is (the dashboard and the
report) and `plotly.graph_objects.Figure` wraps (notebooks)."""
