"""A throwaway PostgreSQL server for tests and benchmarks (the Debian/PostgreSQL binaries).

`initdb` refuses to run as root, so as root the server runs as the `postgres` user
in a directory it owns. `PgServer.stop()` / `start()` keep the data, so a test can
restart the server under running healers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testbed.processes import free_port, wait_until

USER = "itops"


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        raise RuntimeError(f"{name} not found: apt-get install postgresql (make test does)")
    return found


def _as_server_user(args: Sequence[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@dataclass
class PgServer:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        subprocess.run(
            _as_server_user(
                [
                    _tool("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "-l",
                    str(self.root / "server.log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_server_user([_tool("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]),
            check=False,
            capture_output=True,
            timeout=60,
        )

    def create_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"itops_{uuid.uuid4().hex[:10]}"
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                USER,
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                f"CREATE DATABASE {name}",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return self.url(name)


@contextmanager
def pg_server() -> Iterator[PgServer]:
    root = Path(tempfile.mkdtemp(prefix="itops-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        subprocess.run(
            _as_server_user([_tool("initdb"), "-D", str(root / "data"), "-A", "trust", "-U", USER]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = PgServer(root, free_port())
        server.start()
        wait_until(lambda: _answers(server), timeout=30, what="PostgreSQL to accept connections")
        try:
            yield server
        finally:
            server.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _answers(server: PgServer) -> bool:
    done = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            USER,
            "-d",
            "postgres",
            "-c",
            "SELECT 1",
        ],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return done.returncode == 0
