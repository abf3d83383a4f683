"""A small production-like fleet with three incidents, for the status page tests and screenshots.

The healer runs as a real `healer serve` process against the real Docker Engine; the
alerts are posted to its webhook directly, in the Alertmanager v4 shape the
shipped rules produce (tests/rules proves that Prometheus and Alertmanager
deliver exactly these). What happens:

- prod-web-01 (httpd, health check) is stopped → ContainerDown → restarted,
  verified healthy: healed;
- prod-cache-01 (16 MiB limit) is OOM-killed once → ContainerOOMKilled →
  restarted, verified: healed;
- prod-app-01 exits on a missing setting, and its log lines carry HTML
  (`<script>`, `<b>`) → ContainerDown → the rules say a restart will not fix a
  configuration error: held open for a human;
- prod-db-01 runs healthy throughout: no incident.

`names` maps a role to the container name; tests prefix the names with the
container factory's run prefix, the screenshot script uses them as they are.
"""

from __future__ import annotations

import contextlib
import functools
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from testbed.alerts import firing, payload
from testbed.containers import WEB_CMD, ContainerFactory, health, wait_for_state
from testbed.healer_proc import TOKEN, healer_env, start_healer
from testbed.processes import Service, wait_until

ROLES = {
    "web": "prod-web-01",
    "app": "prod-app-01",
    "db": "prod-db-01",
    "cache": "prod-cache-01",
}
APP_LOG = (
    "echo '2025-03-12 10:14:57 INFO booting order service v2.4.1'; "
    "echo '2025-03-12 10:14:58 ERROR settings check failed for <b>DATABASE_URL</b>'; "
    "echo '2025-03-12 10:14:58 FATAL: environment variable DATABASE_URL is not set "
    "<script>alert(1)</script>'; exit 3"
)
OOM_ONCE = (
    "echo 'cache warming: loading 180000 keys'; "
    "if [ ! -e /oom-once ]; then touch /oom-once; "
    'x=$(head -c 200000000 /dev/zero | tr "\\0" a); fi; exec sleep 100000'
)
EXPORTER = "exporter:9417"
RUNBOOK = "https://github.com/example/itops/blob/main/prometheus/runbook.md"


@dataclass
class PageScenario:
    healer: Service
    names: dict[str, str]  # role -> container name
    incidents: dict[str, int]  # role -> incident id

    @property
    def url(self) -> str:
        return self.healer.url

    def incident(self, role: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/api/incidents/{self.incidents[role]}", timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


def _alert(alertname: str, container: Any, summary: str, description: str) -> dict[str, Any]:
    """One alert as the shipped rules label and annotate it."""
    alert = firing(
        container.name,
        alertname=alertname,
        container_id=container.id[:12],
        instance=EXPORTER,
        job="exporter",
        fingerprint=f"{container.id[:12]}-{alertname}",
    )
    expr = f'ALERTS{{alertname="{alertname}",container="{container.name}"}}'
    alert["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": f"{RUNBOOK}#{alertname.lower()}",
    }
    alert["generatorURL"] = "http://prometheus:9090/graph?g0.expr=" + urllib.parse.quote(expr)
    return alert


def _post(healer: Service, alert: dict[str, Any]) -> int:
    response = requests.post(
        f"{healer.url}/webhook/alertmanager",
        data=json.dumps(payload(alert)),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=5,
    )
    response.raise_for_status()
    (created,) = response.json()["created"]
    return int(created)


def _done(healer: Service, incident_id: int) -> bool:
    response = requests.get(f"{healer.url}/api/incidents/{incident_id}", timeout=5)
    return bool(response.ok and response.json()["stage"] == "done")


@contextlib.contextmanager
def run_page_scenario(
    workdir: Path,
    factory: ContainerFactory,
    *,
    name: Callable[[str], str],
    managed_label: str,
    **healer_settings: str,
) -> Iterator[PageScenario]:
    """Start the healer, make the fleet, break three containers, and wait until the
    healer has finished all three incidents. The healer stops on exit; the caller
    cleans up the factory's containers."""
    env = healer_env(
        workdir / "healer-data",
        MANAGED_LABEL=managed_label,
        LLM_BACKEND="none",
        HEALER_PUBLIC_URL="http://healer.example.internal:9418",
        GRAFANA_URL="http://grafana.example.internal:3000",
        **healer_settings,
    )
    healer = start_healer(env, workdir)
    try:
        names = {role: name(default) for role, default in ROLES.items()}
        try:
            incidents = _break_the_fleet(healer, factory, names)
        except Exception as exc:
            raise AssertionError(f"{exc}\n--- healer ---\n{healer.log()[-6000:]}") from exc
        yield PageScenario(healer, names, incidents)
    finally:
        healer.stop()


def _healthy(attrs: dict[str, Any]) -> bool:
    return bool(attrs["State"].get("Health", {}).get("Status") == "healthy")


def _break_the_fleet(
    healer: Service, factory: ContainerFactory, names: dict[str, str]
) -> dict[str, int]:
    db = factory.run(name=names["db"], healthcheck=health(["CMD", "true"], interval=1))
    web = factory.run(
        WEB_CMD,
        name=names["web"],
        healthcheck=health(["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]),
        mem_limit="64m",
    )
    app = factory.run(["sh", "-c", APP_LOG], name=names["app"])
    cache = factory.run(
        ["sh", "-c", OOM_ONCE], name=names["cache"], mem_limit="16m", memswap_limit="16m"
    )
    wait_for_state(web, _healthy)
    wait_for_state(db, _healthy)
    web.stop(timeout=0)
    wait_for_state(web, lambda a: a["State"]["Status"] == "exited")
    wait_for_state(app, lambda a: a["State"]["Status"] == "exited")
    wait_for_state(cache, lambda a: a["State"]["OOMKilled"], timeout=30)

    incidents = {
        "web": _post(
            healer,
            _alert(
                "ContainerDown",
                web,
                f"Container {web.name} is down",
                f"Managed container {web.name} on {EXPORTER} is not running "
                "(state exited), last exit code 137.",
            ),
        ),
        "cache": _post(
            healer,
            _alert(
                "ContainerOOMKilled",
                cache,
                f"Container {cache.name} was OOM-killed",
                f"The kernel OOM killer stopped {cache.name} on {EXPORTER} in the last "
                "5 minutes (memory limit 16MiB).",
            ),
        ),
        "app": _post(
            healer,
            _alert(
                "ContainerDown",
                app,
                f"Container {app.name} is down",
                f"Managed container {app.name} on {EXPORTER} is not running "
                "(state exited), last exit code 3.",
            ),
        ),
    }
    for role, incident_id in incidents.items():
        wait_until(
            functools.partial(_done, healer, incident_id),
            timeout=45,
            interval=0.3,
            what=f"the {role} incident #{incident_id} to finish",
        )
    # Their emails too (the .eml outbox, no SMTP here), so the page shows a settled state.
    wait_until(
        lambda: requests.get(f"{healer.url}/healthz", timeout=5).json()["outbox_depth"] == 0,
        timeout=30,
        interval=0.3,
        what="the healer's outbox to drain",
    )
    return incidents
