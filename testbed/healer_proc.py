"""Running `python -m healer serve` as a real process on a loopback port."""

from __future__ import annotations

import os
from pathlib import Path

from testbed.processes import REPO, Service, free_port, python_module, start_service

TOKEN = "test-token-0123456789abcdef"


def healer_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """Settings for a fast, deterministic test healer (no LLM, short windows)."""
    env = {
        "HEALER_DATA_DIR": str(data_dir),
        "HEALER_WEBHOOK_TOKEN": TOKEN,
        "HEALER_MODE": "heal",
        "MANAGED_LABEL": "environment=production",
        "LLM_BACKEND": "none",
        "HEALER_VERIFY_WINDOW_SECONDS": "1",
        "HEALER_VERIFY_TIMEOUT_SECONDS": "15",
        "HEALER_BACKOFF_SECONDS": "0.2",
        "RESTART_TIMEOUT_SECONDS": "1",
        "HEALER_WORKERS": "2",
    }
    env.update(overrides)
    return env


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
