"""Starting real processes on free loopback ports and waiting until they answer."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "",
) -> object:
    """Poll `predicate` until it returns something truthy; raise with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # a service still starting raises; keep polling
            last_error = exc
        else:
            if value:
                return value
        time.sleep(interval)
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate!r}{detail}")


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


@dataclass
class Service:
    """A running subprocess with its log file; `url` is its loopback base URL."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        # Each service runs in its own process group so its child processes go with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def start_service(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_dir: Path,
    ready_url: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Service:
    """Start `argv` in its own process group and wait until `ready_url` answers."""
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("ab")
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(
        list(argv),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=full_env,
        cwd=str(cwd or REPO),
        start_new_session=True,
    )
    log_file.close()
    service = Service(name, proc, log_path, port)
    if ready_url:
        try:
            wait_until(
                lambda: (not service.alive() and _raise_dead(service)) or http_ok(ready_url),
                timeout=timeout,
                what=f"{name} at {ready_url}",
            )
        except Exception:
            service.stop()
            raise
    return service


def _raise_dead(service: Service) -> bool:
    raise RuntimeError(
        f"{service.name} exited with {service.proc.returncode}:\n{service.log()[-3000:]}"
    )


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@contextlib.contextmanager
def running(service: Service) -> Iterator[Service]:
    try:
        yield service
    finally:
        service.stop()
