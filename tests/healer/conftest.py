"""A real healer: real Docker, real SQLite, the real rules classifier, alerts.log on disk.

`make_healer` builds the Flask app in-process (fast, for intake and pipeline
tests); `tests.support.healer_proc` runs `python -m healer serve` where the process
boundary matters (concurrency, kill -9).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from healer.app import create_app
from healer.config import HealerConfig, load_config
from healer.model import Incident
from healer.runtime import Runtime
from healer.wiring import Dependencies, build
from tests.support.processes import REPO, wait_until

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
    app = create_app(
        config,
        docker=deps.docker,
        store=deps.store,
        diagnoser=deps.diagnoser,
        notifier=deps.notifier,
        clock=deps.clock,
        metrics=deps.metrics,
        start_workers=start_workers,
    )
    return Healer(app, config, app.extensions["healer"], deps)


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


def firing(
    container: str,
    *,
    alertname: str = "ContainerDown",
    fingerprint: str | None = None,
    starts_at: str | None = None,
    status: str = "firing",
    **labels: str,
) -> dict[str, Any]:
    """One Alertmanager v4 alert as Prometheus rules would label it."""
    return {
        "status": status,
        "labels": {
            "alertname": alertname,
            "container": container,
            "severity": "warning",
            "action": "restart",
            "instance": "exporter:9417",
            **labels,
        },
        "annotations": {"summary": f"{container} is down", "runbook_url": "http://x/runbook"},
        "startsAt": starts_at or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint or f"fp-{container}-{alertname}",
    }


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="ContainerDown"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "healer",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


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
