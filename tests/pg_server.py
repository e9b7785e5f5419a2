"""A throw-away PostgreSQL server on 127.0.0.1 for tests (Debian's postgresql package: initdb + pg_ctl)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def postgres_bin() -> str | None:
    """The folder of initdb / pg_ctl, newest version first, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return os.path.dirname(found[0])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A throw-away server in its own temporary folder; `stop` and `start` again keep its port and data,
    so that clients see the same server go away and come back."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        assert bindir is not None, "PostgreSQL is not installed"
        self.root = tempfile.mkdtemp(prefix="zoomtune-pg-")
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root: run the server as the postgres user
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._bindir, self._data, self.port = bindir, os.path.join(self.root, "data"), _free_port()
        subprocess.run([*self._as_user, f"{bindir}/initdb", "-D", self._data, "-A", "trust", "-U", "zt",
                        "--no-sync"], check=True, capture_output=True)
        self.url = f"postgresql+psycopg://zt@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run([*self._as_user, f"{self._bindir}/pg_ctl", "-D", self._data, *args], check=check,
                       capture_output=True)

    def start(self) -> None:
        """Start it (again) on its port; returns once it accepts connections."""
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c max_connections=200")
        self._pg_ctl("-o", options, "-l", os.path.join(self.root, "log"), "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop it (`fast`: end every session, like an administrator's restart; `immediate`: like a crash)."""
        self._pg_ctl("-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        """Stop it and delete its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def controlled_postgres_server() -> Iterator[PostgresServer]:
    """A started `PostgresServer` that the test may stop and start; removed at the end."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server in a temporary folder; yields the URL of its `postgres` database; stops and removes it."""
    with controlled_postgres_server() as server:
        yield server.url


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server and return its URL."""
    import psycopg

    name = f"zt_{uuid.uuid4().hex[:12]}"
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name
