"""`zoomtune dashboard`: the web UI (Starlette + uvicorn), on 127.0.0.1 by default."""

from __future__ import annotations

import click

from zoomtune.cli.common import open_existing_storage, storage_option


@click.command()
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes your studies to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port.")
@click.option("--token", envvar="ZOOMTUNE_DASHBOARD_TOKEN", default=None, metavar="T",
              help="Allow the page to nudge and stop running trials when it sends this token "
                   "($ZOOMTUNE_DASHBOARD_TOKEN). Without it the dashboard changes nothing.")
def dashboard(storage: str | None, host: str, port: int, token: str | None) -> None:
    """Serve the web dashboard: studies, plots on each parameter's own scale, live curves."""
    from zoomtune.errors import ConfigError

    try:
        from zoomtune.dashboard.app import serve
    except ImportError as error:
        raise ConfigError("dashboard", "needs the dashboard extra: pip install 'zoomtune[dashboard]'",
                          str(error)) from None
    backend = open_existing_storage(storage)
    if token is not None and not token.strip():
        raise ConfigError("--token", "must not be empty", token)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"zoomtune dashboard on http://{shown}:{port}/ ({backend.url}); Ctrl-C stops it")
    if token:
        click.echo(f"control enabled: open http://{shown}:{port}/#token={token} to nudge and stop trials")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.secho(f"warning: listening on {host}: anyone who can reach this address sees your studies",
                    fg="yellow", err=True)
    serve(backend, host=host, port=port, token=token)
