"""The Alertmanager routing: amtool for the config and the routes, a real
Alertmanager for the inhibitions (amtool cannot evaluate those)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import yaml

from testbed.processes import Service, free_port, wait_until
from testbed.promstack import (
    ALERTMANAGER_CONFIG,
    amtool,
    render_alertmanager,
    start_alertmanager,
    tool_output,
)
from tests.rules.rulefiles import CONTRACT_ALERTS

HEALER_WEBHOOK = "http://healer:9418/webhook/alertmanager"
TOKEN_FILE = "/etc/alertmanager/secrets/webhook_token"

# (alert labels, the receiver its route must pick). Severity variants follow the
# rules: per-container alerts are critical or warning by service.
ROUTES = [
    ({"alertname": "ContainerDown", "action": "restart", "severity": "warning"}, "healer-heal"),
    ({"alertname": "ContainerDown", "action": "restart", "severity": "critical"}, "healer-heal"),
    (
        {"alertname": "ContainerUnhealthy", "action": "restart", "severity": "critical"},
        "healer-heal",
    ),
    (
        {"alertname": "ContainerOOMKilled", "action": "restart", "severity": "warning"},
        "healer-heal",
    ),
    ({"alertname": "ContainerCrashLooping", "severity": "critical"}, "healer-urgent"),
    ({"alertname": "ContainerCrashLooping", "severity": "warning"}, "healer-notify"),
    ({"alertname": "ContainerHighMemory", "severity": "critical"}, "healer-urgent"),
    ({"alertname": "ContainerHighMemory", "severity": "warning"}, "healer-notify"),
    ({"alertname": "ContainerHighCpu", "severity": "info"}, "healer-notify"),
    ({"alertname": "DockerDaemonUnreachable", "severity": "critical"}, "healer-urgent"),
    ({"alertname": "ExporterDown", "severity": "critical"}, "healer-urgent"),
    ({"alertname": "HealerDown", "severity": "critical"}, "healer-urgent"),
    ({"alertname": "HealerHealFailed", "severity": "warning"}, "healer-notify"),
]


def _route_id(case: tuple[dict[str, str], str]) -> str:
    labels, receiver = case
    extra = "_".join(f"{k}_{v}" for k, v in labels.items() if k != "alertname")
    return f"{labels['alertname']}_{extra}_goes_to_{receiver}"


def test_alertmanager_config_passes_amtool_check_config() -> None:
    result = amtool("check-config", ALERTMANAGER_CONFIG)
    assert result.returncode == 0, tool_output(result)


@pytest.mark.parametrize("case", ROUTES, ids=[_route_id(case) for case in ROUTES])
def test_alert_is_routed_to_its_receiver(case: tuple[dict[str, str], str]) -> None:
    labels, receiver = case
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        "container=web",
        *(f"{key}={value}" for key, value in labels.items()),
    )
    assert result.returncode == 0, tool_output(result)


def test_every_contract_alert_has_a_routing_case() -> None:
    assert {labels["alertname"] for labels, _ in ROUTES} == CONTRACT_ALERTS


def test_every_receiver_is_the_healer_webhook_with_bearer_file_and_resolved() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    receivers = config["receivers"]
    assert {r["name"] for r in receivers} == {"healer-heal", "healer-urgent", "healer-notify"}
    for receiver in receivers:
        (hook,) = receiver["webhook_configs"]
        assert hook["url"] == HEALER_WEBHOOK
        assert hook["send_resolved"] is True
        # A truncated alert never gets its resolution: no cap.
        assert hook.get("max_alerts", 0) == 0
        assert hook["http_config"]["authorization"] == {
            "type": "Bearer",
            "credentials_file": TOKEN_FILE,
        }


def test_routes_group_by_alertname_host_and_container_and_heal_route_waits_least() -> None:
    route = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())["route"]
    assert route["group_by"] == ["alertname", "host", "container"]
    waits = {child["receiver"]: child["group_wait"] for child in route["routes"]}
    # Nothing to bundle in a one-alert group; the rules held operations back already.
    assert waits["healer-heal"] == "0s"
    assert waits["healer-urgent"] == "15s"
    assert route["group_wait"] == "30s"


# -- inhibitions, on a real Alertmanager ------------------------------------------------


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("am-inhibit")
    token = workdir / "token"
    token.write_text("unused")
    # Nothing listens on the webhook port: these tests read alert status, not deliveries.
    config = render_alertmanager(
        workdir,
        webhook_url=f"http://127.0.0.1:{free_port()}/webhook/alertmanager",
        token_file=token,
    )
    service = start_alertmanager(config, workdir)
    yield service
    service.stop()


class AlertPoster:
    """Posts alerts the way Prometheus does and reads back whether each is inhibited.

    Every `instance` gets a per-test prefix: inhibitions match on host and instance,
    and the alerts of earlier tests are still active in the shared Alertmanager.
    """

    def __init__(self, service: Service) -> None:
        self.url = service.url
        self.run = uuid.uuid4().hex[:8]

    def _scoped(self, labels: dict[str, str]) -> dict[str, str]:
        return {**labels, "instance": f"{self.run}-{labels.get('instance', '')}"}

    def post(self, *alerts: dict[str, str]) -> None:
        now = datetime.now(UTC)
        body = [
            {
                "labels": self._scoped(labels),
                "annotations": {},
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(minutes=5)).isoformat(),
            }
            for labels in alerts
        ]
        requests.post(f"{self.url}/api/v2/alerts", json=body, timeout=5).raise_for_status()
        # The inhibitor learns of new source alerts asynchronously.
        wait_until(lambda: all(self._find(lbls) for lbls in alerts), timeout=10, what="alerts")
        time.sleep(0.5)

    def inhibited(self, labels: dict[str, str]) -> bool:
        found = self._find(labels)
        assert found is not None, f"alert {labels} not in Alertmanager"
        return bool(found["status"]["inhibitedBy"])

    def _find(self, labels: dict[str, str]) -> Any:
        want = self._scoped(labels)
        alerts = requests.get(f"{self.url}/api/v2/alerts", timeout=5).json()
        return next((alert for alert in alerts if alert["labels"] == want), None)


@pytest.fixture
def poster(alertmanager: Service) -> AlertPoster:
    return AlertPoster(alertmanager)


def _container_alert(alertname: str, container: str, severity: str, **extra: str) -> dict[str, str]:
    return {
        "alertname": alertname,
        "container": container,
        "host": "docker-a",
        "instance": "exporter:9417",
        "job": "exporter",
        "severity": severity,
        **extra,
    }


@pytest.mark.parametrize("source", ["DockerDaemonUnreachable", "ExporterDown"])
def test_daemon_or_exporter_trouble_inhibits_container_alerts_of_that_host_only(
    poster: AlertPoster, source: str
) -> None:
    cause = {
        "alertname": source,
        "host": "docker-a",
        "instance": "exporter:9417",
        "job": "exporter",
        "severity": "critical",
    }
    same_host = _container_alert("ContainerDown", "web", "warning", action="restart")
    same_host_memory = _container_alert("ContainerHighMemory", "db", "critical")
    # The same container name on another host, watched by that host's exporter.
    other_host = {**same_host, "host": "docker-b", "instance": "exporter-b:9417"}
    # A second exporter on the same host still sees: its alerts are not artefacts.
    other_exporter = {**same_host, "instance": "exporter-2:9417"}
    healer_alert = {
        "alertname": "HealerHealFailed",
        "instance": "exporter:9417",
        "severity": "warning",
    }
    poster.post(cause, same_host, same_host_memory, other_host, other_exporter, healer_alert)

    assert poster.inhibited(same_host)
    assert poster.inhibited(same_host_memory)
    assert not poster.inhibited(other_host)
    assert not poster.inhibited(other_exporter)
    assert not poster.inhibited(healer_alert)  # no container label: not a per-container alert
    assert not poster.inhibited(cause)


def test_oom_kill_inhibits_container_down_of_the_same_container_on_the_same_host_only(
    poster: AlertPoster,
) -> None:
    oom = _container_alert("ContainerOOMKilled", "web", "warning", action="restart")
    down = _container_alert("ContainerDown", "web", "warning", action="restart")
    other_down = _container_alert("ContainerDown", "db", "warning", action="restart")
    other_host_down = {**down, "host": "docker-b", "instance": "exporter-b:9417"}
    poster.post(oom, down, other_down, other_host_down)

    assert poster.inhibited(down)
    assert not poster.inhibited(other_down)
    assert not poster.inhibited(other_host_down)
    assert not poster.inhibited(oom)


def test_more_severe_alert_inhibits_less_severe_ones_of_the_same_container(
    poster: AlertPoster,
) -> None:
    db_down = _container_alert("ContainerDown", "db", "critical", action="restart")
    db_cpu = _container_alert("ContainerHighCpu", "db", "info")
    web_memory = _container_alert("ContainerHighMemory", "web", "warning")
    web_cpu = _container_alert("ContainerHighCpu", "web", "info")
    cache_cpu = _container_alert("ContainerHighCpu", "cache", "info")
    poster.post(db_down, db_cpu, web_memory, web_cpu, cache_cpu)

    assert poster.inhibited(db_cpu)
    assert poster.inhibited(web_cpu)
    assert not poster.inhibited(cache_cpu)
    assert not poster.inhibited(db_down)
    assert not poster.inhibited(web_memory)


def test_crash_looping_does_not_hide_the_other_alerts_of_its_container(
    poster: AlertPoster,
) -> None:
    loop = _container_alert("ContainerCrashLooping", "web", "warning")
    down = _container_alert("ContainerDown", "web", "warning", action="restart")
    poster.post(loop, down)

    assert not poster.inhibited(down)
