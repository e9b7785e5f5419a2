"""Plotly figures of a study, one source for notebooks, the dashboard and the report."""
