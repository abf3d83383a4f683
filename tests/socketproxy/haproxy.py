"""Running the shipped socket proxy config with Debian's HAProxy, and talking raw HTTP to it."""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed.processes import REPO, Service, free_port, start_service, wait_until

CONFIG_DIR = REPO / "socketproxy"
CONFIG = CONFIG_DIR / "haproxy.cfg"
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def docker_socket() -> str:
    """The local daemon's socket path; the proxy only ever forwards to a unix socket."""
    if not DOCKER_HOST.startswith("unix://"):
        pytest.skip("the socket proxy tests forward to a local Docker socket")
    return DOCKER_HOST.removeprefix("unix://")


def haproxy_binary() -> str:
    found = shutil.which("haproxy")
    if found is None:
        pytest.fail("haproxy (Debian package) is missing; `make test` installs it")
    return found


@dataclass(frozen=True)
class Proxy:
    """A running HAProxy: one loopback port per role."""

    exporter: int
    healer: int
    service: Service

    def port(self, role: str) -> int:
        return {"exporter": self.exporter, "healer": self.healer}[role]


@contextmanager
def running_proxy(
    log_dir: Path,
    *,
    upstream: str | None = None,
    config: Path = CONFIG,
    extra_config: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Proxy]:
    """HAProxy with `config` on two free loopback ports, forwarding to `upstream`.
    `extra_config` is loaded after it (`-f config -f extra`), as a deployment adds
    a frontend of its own (deploy/fleet/socketproxy-tls.cfg) with `extra_env`."""
    ports = {"exporter": free_port(), "healer": free_port()}
    env = {
        "SOCKETPROXY_EXPORTER_BIND": f"127.0.0.1:{ports['exporter']}",
        "SOCKETPROXY_HEALER_BIND": f"127.0.0.1:{ports['healer']}",
        "DOCKER_SOCKET": upstream or docker_socket(),
        **(extra_env or {}),
    }
    extra = ["-f", str(extra_config)] if extra_config else []
    service = start_service(
        "haproxy",
        [haproxy_binary(), "-db", "-f", str(config), *extra],
        port=ports["exporter"],
        log_dir=log_dir,
        env=env,
    )
    try:
        wait_until(
            lambda: service.alive() and all(_listens(p) for p in ports.values()),
            what=f"HAProxy to listen\n{service.log()}",
        )
        yield Proxy(ports["exporter"], ports["healer"], service)
    finally:
        service.stop()


def edited_config(directory: Path, replacements: Mapping[str, str]) -> Path:
    """A copy of the shipped config (with its error pages) with exact text replaced.

    Each replaced text must occur exactly once, so a test cannot silently run
    the config it meant to change.
    """
    text = CONFIG.read_text()
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {CONFIG}"
        text = text.replace(old, new)
    shutil.copytree(CONFIG_DIR / "errors", directory / "errors", dirs_exist_ok=True)
    path = directory / "haproxy.cfg"
    path.write_text(text)
    return path


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def exchange(port: int, data: bytes, *, timeout: float = 15.0) -> bytes:
    """Send raw bytes and read everything until the proxy closes the connection.

    The connection stays open for writing, as an attacker's would: whatever the
    proxy does with the bytes, it does on its own terms.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    """The status of the first response in `answer` (0 when there is none)."""
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    return int(match.group(1)) if match else 0


def responses_in(answer: bytes) -> int:
    """How many status lines came back: one connection must carry one response."""
    return len(re.findall(rb"(?:^|\r\n)HTTP/1\.[01] \d{3} ", answer))
