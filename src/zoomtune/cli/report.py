"""`zoomtune report STUDY -o FILE.html`: a self-contained HTML report that opens offline."""

from __future__ import annotations

import click

from zoomtune.cli.common import open_existing_storage, storage_option


@click.command()
@click.argument("study")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, writable=True), default="report.html",
              show_default=True, help="Where to write the HTML file.")
@storage_option
def report(study: str, output: str, storage: str | None) -> None:
    """Write one HTML file with STUDY's plots and tables (plotly.js and the data inlined)."""
    from zoomtune.errors import ConfigError

    try:
        from zoomtune.dashboard.assets import plotly_js_path
        from zoomtune.report import write_report
    except ImportError as error:
        raise ConfigError("report", "needs the dashboard extra: pip install 'zoomtune[dashboard]'",
                          str(error)) from None
    if plotly_js_path() is None:
        raise ConfigError("report", "needs plotly for plotly.js: pip install 'zoomtune[dashboard]'")
    backend = open_existing_storage(storage)
    path = write_report(study, output, storage=backend)
    size = path.stat().st_size / 1e6
    click.echo(f"wrote {path} ({size:.1f} MB): open it in a browser, no network needed")
