"""A throwaway PostgreSQL cluster from the distribution's server binaries, for tests and
benchmarks.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user and
lives in a ``mkdtemp`` folder owned by it (pytest's ``tmp_path`` is not reachable by that
user). The server listens on a unix socket in that folder only, with ``fsync`` off: the data
is thrown away. Each test gets its own database, created from ``template0``.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SERVER_OPTIONS = ("-c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                  "-c full_page_writes=off -c max_connections=200")


def server_binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: the newest /usr/lib/postgresql/N/bin, else
    wherever ``initdb`` is on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """One running cluster; :meth:`database` makes a fresh database and returns its URL."""

    def __init__(self) -> None:
        binaries = server_binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
                               "run scripts/setup (it installs the postgresql package)")
        self.binaries = binaries
        self.root = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self._names = itertools.count(1)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-o", f"-k {self.root} {SERVER_OPTIONS}", "start")

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def url(self, name: str = "postgres") -> str:
        return f"postgresql://postgres@/{name}?host={self.root}"

    def database(self, prefix: str = "test") -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = f"{prefix}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def restart(self) -> None:
        """Restart the server at once (``pg_ctl restart -m fast``): every connection is cut."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-m", "fast", "-o", f"-k {self.root} {SERVER_OPTIONS}", "restart")

    def stop_server(self) -> None:
        """Stop the server, keeping its data, until :meth:`start_server`."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        """Start a stopped server again (nothing when it runs)."""
        status = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.binaries / "pg_ctl"), "-D",
             str(self.data), "status"] if self._as_postgres else
            [str(self.binaries / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True, timeout=60)
        if status.returncode != 0:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                      "-o", f"-k {self.root} {SERVER_OPTIONS}", "start")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
