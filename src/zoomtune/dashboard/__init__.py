"""The web dashboard: `zoomtune dashboard` (needs the `dashboard` extra: Starlette, uvicorn, plotly).

`payload` turns studies into JSON-ready dicts and `assets` finds the page's files and
plotly.js (both shared with `zoomtune.report`), `cache` keeps them fresh incrementally, `api`
answers the JSON API, `security` keeps the server to its own users (Host allow-list, same-origin
control, the headers of every response), `app` serves the page and its assets, and `static/`
holds the page itself (plain ES modules, no build step). Importing this package, `payload`,
`assets` or `security` imports no web server; `zoomtune.dashboard.app` and `api` do.
"""
