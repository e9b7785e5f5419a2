"""The web dashboard: `zoomtune dashboard` (needs the `dashboard` extra: Starlette, uvicorn, plotly).

`payload` turns studies into JSON-ready dicts and `assets` finds the page's files and
plotly.js (both shared with `zoomtune.report`), `cache` keeps them fresh incrementally, `api`
answers the JSON API, `app` serves the page and its assets, and `static/` holds the page itself
(plain ES modules, no build step). Importing this package, `payload` or `assets` imports no web
server; `zoomtune.dashboard.app` and `api` do.
"""
