"""A real healer: real Docker, real SQLite, the real rules classifier, alerts.log on disk.

`make_healer` builds the Flask app in-process (fast, for intake and pipeline
tests); `testbed.healer_proc` runs `python -m healer serve` where the process
boundary matters (concurrency, kill -9).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from healer.app import create_app, runtime_of
from healer.config import HealerConfig, load_config
from healer.dependencies import Dependencies
from healer.model import Incident
from healer.runtime import Runtime
from healer.wiring import build
from testbed.healer_proc import TOKEN, healer_env
from testbed.processes import REPO, wait_until
from testbed.smtp import SmtpServer


@dataclass
class Healer:
    app: Flask
    config: HealerConfig
    runtime: Runtime
    deps: Dependencies

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    def post(self, payload: Any, *, token: str | None = TOKEN, raw: bytes | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = raw if raw is not None else json.dumps(payload).encode()
        return self.client.post(
            "/webhook/alertmanager", data=body, headers=headers, content_type="application/json"
        )

    def incident(self, incident_id: int) -> Incident:
        found = self.runtime.store.get(incident_id)
        assert found is not None
        return found

    def wait_done(self, incident_id: int, timeout: float = 30.0) -> Incident:
        wait_until(
            lambda: self.incident(incident_id).stage == "done",
            timeout=timeout,
            what=f"incident {incident_id} to finish",
        )
        return self.incident(incident_id)

    def alerts_log(self) -> list[dict[str, Any]]:
        path = self.config.alerts_log
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


HealerFactory = Callable[..., Healer]


def build_healer(data_dir: Path, start_workers: bool = True, **overrides: str) -> Healer:
    """A healer app on real parts with its data in `data_dir`; `close_healer` undoes it."""
    config = load_config({**os.environ, **healer_env(data_dir, **overrides)}, dotenv_file=None)
    deps = build(config)
    app = create_app(deps, start_workers=start_workers)
    return Healer(app, config, runtime_of(app), deps)


def close_healer(healer: Healer) -> None:
    healer.runtime.stop()  # every background thread, before the store closes
    healer.deps.close()


@pytest.fixture
def make_healer(tmp_path: Path) -> Iterator[HealerFactory]:
    made: list[Healer] = []

    def make(start_workers: bool = True, **overrides: str) -> Healer:
        healer = build_healer(tmp_path / f"healer-{len(made)}", start_workers, **overrides)
        made.append(healer)
        return healer

    yield make
    for healer in made:
        close_healer(healer)


def run_cli(
    workdir: Path,
    *args: str,
    drop: tuple[str, ...] = (),
    timeout: float = 120,
    extra: dict[str, str] | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """`python -m healer ARGS` in `workdir` with the test settings plus `env` and `extra`,
    minus the keys in `drop`."""
    settings = {**healer_env(workdir / "data"), **env, **(extra or {})}
    for key in drop:
        settings.pop(key, None)
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **{k: v for k, v in os.environ.items() if k.startswith("DOCKER_")},
        "PYTHONPATH": str(REPO),
        **settings,
    }
    return subprocess.run(
        [sys.executable, "-m", "healer", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
        env=full_env,
        check=False,
    )


@pytest.fixture
def smtp_sink() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback that accepts the test credentials (see smtp_env)."""
    # (imported here: tests/notify/conftest.py imports this module's fixtures)
    from tests.notify.conftest import PASSWORD, USER

    server = SmtpServer(users={USER: PASSWORD}).start()
    yield server
    server.stop()
