"""Running `python -m healer serve` as a real process on a loopback port."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.processes import REPO, Service, free_port, python_module, start_service


def start_healer(
    env: dict[str, str],
    log_dir: Path,
    *,
    name: str = "healer",
    port: int | None = None,
    command: tuple[str, ...] = ("healer", "serve"),
) -> Service:
    """`python -m healer serve` by default; the benches pass another `command` for a baseline."""
    port = port or free_port()
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(REPO),
        **{k: v for k, v in os.environ.items() if k.startswith("DOCKER_")},
        **env,
        "HEALER_LISTEN": f"127.0.0.1:{port}",
    }
    return start_service(
        name,
        python_module(*command),
        port=port,
        log_dir=log_dir,
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env=full_env,
        timeout=30,
    )
