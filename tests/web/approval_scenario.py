"""A web server held for a human, and its email received over real SMTP, for the
approval tests and the docs' pictures.

The healer runs as a real `healer serve` process in check mode against the real
Docker Engine, mailing a real SMTP server on loopback (aiosmtpd); HEALER_PUBLIC_URL
is its own address, so the links in the email lead back to it. The web server
(httpd with a health check) is stopped, the ContainerDown alert is posted to the
webhook in the shape the shipped rules produce, and the scenario waits until the
email has arrived.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from testbed.alerts import firing, payload
from testbed.containers import WEB_CMD, ContainerFactory, MadeContainer, health, wait_for_state
from testbed.healer_proc import TOKEN, healer_env, start_healer
from testbed.processes import Service, free_port, wait_until
from testbed.smtp import Received, SmtpServer

RUNBOOK = "https://github.com/example/itops/blob/main/prometheus/runbook.md#containerdown"


@dataclass
class ApprovalScenario:
    healer: Service
    smtp: SmtpServer
    container: MadeContainer
    incident_id: int
    data_dir: Path

    @property
    def url(self) -> str:
        return self.healer.url

    def incident(self) -> dict[str, Any]:
        response = requests.get(f"{self.url}/api/incidents/{self.incident_id}", timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def emails(self, count: int, timeout: float = 30.0) -> list[Received]:
        return self.smtp.wait_for(count, timeout=timeout)

    def alerts_log(self) -> list[dict[str, Any]]:
        path = self.data_dir / "alerts.log"
        return [json.loads(line) for line in path.read_text().splitlines()]


def _alert(container: MadeContainer) -> dict[str, Any]:
    alert = firing(
        container.name,
        container_id=container.id[:12],
        job="exporter",
        fingerprint=f"{container.id[:12]}-ContainerDown",
        severity="critical",
    )
    alert["annotations"] = {
        "summary": f"Container {container.name} is down",
        "description": f"Managed container {container.name} on exporter:9417 is not running "
        "(state exited), last exit code 137.",
        "runbook_url": RUNBOOK,
    }
    expr = f'ALERTS{{alertname="ContainerDown",container="{container.name}"}}'
    alert["generatorURL"] = "http://prometheus:9090/graph?g0.expr=" + urllib.parse.quote(expr)
    return alert


@contextlib.contextmanager
def run_approval_scenario(
    workdir: Path,
    factory: ContainerFactory,
    *,
    name: str,
    managed_label: str,
    **healer_settings: str,
) -> Iterator[ApprovalScenario]:
    """Stop a web server, have the healer hold its incident in check mode, and wait for
    the email. The healer and the SMTP server stop on exit; the caller removes the
    factory's containers."""
    smtp = SmtpServer(security="none").start()
    port = free_port()
    data_dir = workdir / "healer-data"
    env = healer_env(
        data_dir,
        HEALER_MODE="check",
        MANAGED_LABEL=managed_label,
        HEALER_PUBLIC_URL=f"http://127.0.0.1:{port}",
        GRAFANA_URL="http://grafana.example.internal:3000",
        EMAIL_FROM="healer@example.com",
        EMAIL_TO="oncall@example.com",
        SMTP_HOST=smtp.host,
        SMTP_PORT=str(smtp.port),
        SMTP_SECURITY="none",
        SMTP_TIMEOUT_SECONDS="5",
        NOTIFY_GROUP_WAIT_SECONDS="0.2",
        **healer_settings,
    )
    healer = start_healer(env, workdir, port=port)
    try:
        try:
            scenario = _hold(healer, smtp, factory, name, data_dir)
        except Exception as exc:
            raise AssertionError(f"{exc}\n--- healer ---\n{healer.log()[-6000:]}") from exc
        yield scenario
    finally:
        healer.stop()
        smtp.stop()


def _hold(
    healer: Service, smtp: SmtpServer, factory: ContainerFactory, name: str, data_dir: Path
) -> ApprovalScenario:
    web = factory.run(
        WEB_CMD,
        name=name,
        healthcheck=health(["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]),
    )
    wait_for_state(web, _healthy)
    web.stop(timeout=0)
    wait_for_state(web, lambda a: a["State"]["Status"] == "exited")
    response = requests.post(
        f"{healer.url}/webhook/alertmanager",
        data=json.dumps(payload(_alert(web))),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=5,
    )
    response.raise_for_status()
    (incident_id,) = response.json()["created"]
    scenario = ApprovalScenario(healer, smtp, web, int(incident_id), data_dir)
    wait_until(_settled(scenario), timeout=45, interval=0.3, what=f"incident {incident_id} held")
    scenario.emails(1)
    return scenario


def _healthy(attrs: dict[str, Any]) -> bool:
    return bool(attrs["State"].get("Health", {}).get("Status") == "healthy")


def _settled(scenario: ApprovalScenario) -> Callable[[], bool]:
    return lambda: scenario.incident()["stage"] == "done"
