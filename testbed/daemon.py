"""Stopping and starting the test bed's own dockerd (never a developer's daemon)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from testbed.processes import REPO

TESTBED = REPO / ".testbed"


def owned_dockerd_pid() -> int | None:
    """The pid of a dockerd that scripts/testbed.sh started, or None."""
    pid_file = TESTBED / "dockerd.pid"
    if not (TESTBED / "dockerd.owned").exists() or not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def stop_dockerd(pid: int, timeout: float = 60.0) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise TimeoutError(f"dockerd {pid} did not stop within {timeout}s")


def start_dockerd(timeout: float = 60.0) -> int:
    log = (TESTBED / "dockerd.log").open("ab")
    proc = subprocess.Popen(
        ["dockerd"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    Path(TESTBED / "dockerd.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = (
            subprocess.run(
                ["docker", "info"], capture_output=True, timeout=10, check=False
            ).returncode
            == 0
        )
        if ok:
            return proc.pid
        time.sleep(0.5)
    raise TimeoutError("dockerd did not answer after restart")
