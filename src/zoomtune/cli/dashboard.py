"""`zoomtune dashboard`: the web UI (Starlette + uvicorn), on 127.0.0.1 by default."""

from __future__ import annotations

import secrets
from pathlib import Path

import click
from click.core import ParameterSource

from zoomtune.cli.common import open_existing_storage, storage_option

#: what a browser opens for a server listening on every interface (the wildcard itself is not a Host it accepts)
_WILDCARD_URL_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@click.command()
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes your studies to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests addressed to NAME (the name a proxy or DNS gives this machine); "
                   "repeatable. Loopback and the --host address (for 0.0.0.0 or ::, this machine's names and "
                   "addresses) are always accepted; any other Host is refused, against DNS rebinding.")
@click.option("--control", is_flag=True,
              help="Let the page nudge and stop running trials: makes a random token and prints, once, "
                   "the URL that carries it. Without a token the dashboard changes nothing.")
@click.option("--token-file", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="As --control, with the token read from PATH.")
@click.option("--token", envvar="ZOOMTUNE_DASHBOARD_TOKEN", default=None, metavar="T",
              help="As --control, with this token (or $ZOOMTUNE_DASHBOARD_TOKEN). Given on the command line "
                   "it is visible to other users in `ps`.")
@click.pass_context
def dashboard(ctx: click.Context, storage: str | None, host: str, port: int, allow_hosts: tuple[str, ...],
              control: bool, token_file: Path | None, token: str | None) -> None:
    """Serve the web dashboard: studies, plots on each parameter's own scale, live curves."""
    from zoomtune.errors import ConfigError

    try:
        from zoomtune.dashboard.app import serve
        from zoomtune.dashboard.security import LOOPBACK_HOSTS, WILDCARD_HOSTS, HostPolicy
    except ImportError as error:
        raise ConfigError("dashboard", "needs the dashboard extra: pip install 'zoomtune[dashboard]'",
                          str(error)) from None
    for name in allow_hosts:
        _check_host_name(name)
    secret = _token(ctx, token, token_file, control)
    backend = open_existing_storage(storage)
    url_host = _WILDCARD_URL_HOSTS.get(host.strip("[]"), host.strip("[]"))
    url = f"http://{f'[{url_host}]' if ':' in url_host else url_host}:{port}/"
    click.echo(f"zoomtune dashboard on {url} ({backend.url}); Ctrl-C stops it")
    if secret:
        click.echo(f"control enabled: open {url}#token={secret} to nudge and stop trials")
    if host.strip("[]") not in LOOPBACK_HOSTS:
        every = " (every interface)" if host.strip("[]") in WILDCARD_HOSTS else ""
        accepted = ", ".join(sorted(HostPolicy.for_listen(host, allow_hosts).names))
        click.secho(f"warning: listening on {host}{every}: anyone who can reach it sees your studies; "
                    f"it answers requests addressed to {accepted} (add a name with --allow-host NAME)",
                    fg="yellow", err=True)
    serve(backend, host=host, port=port, token=secret, allowed_hosts=allow_hosts)


def _check_host_name(name: str) -> None:
    """Refuse an ``--allow-host`` value that is not a bare host name or address."""
    from zoomtune.dashboard.security import split_host
    from zoomtune.errors import ConfigError

    try:
        bare, port = split_host(name)
    except ValueError:
        bare, port = "", None
    if not bare or port is not None or any(c in bare for c in "/@* \t"):
        raise ConfigError("--allow-host", "must be a host name or address, without scheme or port", name)


def _token(ctx: click.Context, token: str | None, token_file: Path | None, control: bool) -> str | None:
    """The control token from the one of --token ($ZOOMTUNE_DASHBOARD_TOKEN), --token-file and
    --control that was given, or None (read-only)."""
    from zoomtune.errors import ConfigError

    if sum((token is not None, token_file is not None, control)) > 1:
        raise ConfigError("--token / --token-file / --control", "give one of them at most "
                          "($ZOOMTUNE_DASHBOARD_TOKEN counts as --token)")
    if control:
        return secrets.token_urlsafe(24)
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError("--token-file", f"cannot read it ({getattr(error, 'strerror', None) or error})",
                              str(token_file)) from None
        if not text:
            raise ConfigError("--token-file", "the file is empty", str(token_file))
        return text
    if token is None:
        return None
    if not token.strip():
        raise ConfigError("--token", "must not be empty", token)
    if ctx.get_parameter_source("token") is ParameterSource.COMMANDLINE:
        click.secho("warning: --token on the command line is visible to other users in `ps`; prefer "
                    "$ZOOMTUNE_DASHBOARD_TOKEN, --token-file PATH or --control", fg="yellow", err=True)
    return token.strip()
