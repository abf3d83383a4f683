"""Alert delivery on real parts: container → exporter → Prometheus → Alertmanager → webhook.

Prometheus loads the shipped rule files and Alertmanager the shipped routing,
both rewritten to loopback by testbed/promstack.py; the exporter is the
real `python -m exporter`; the webhook is a recorder in this file standing in
for the healer. The fast profile (1s scrape/eval/group timings, `for:` at a
tenth) is the default; `ITOPS_ALERT_PROFILE=shipped` runs the same tests with
the shipped timings to measure the real time to detect (about a minute a test).
Detection times are printed (`pytest -s`) and attached as test properties.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from testbed.containers import WEB_CMD, ContainerFactory, wait_for_state
from testbed.processes import Service, free_port, python_module, start_service, wait_until
from testbed.promstack import FAST, SHIPPED, PromStack, prom_stack

PROFILE_NAME = os.environ.get("ITOPS_ALERT_PROFILE", "fast")
PROFILE = SHIPPED if PROFILE_NAME == "shipped" else FAST
# Long enough for the shipped profile's worst case (scrape 1s + eval 1s + the 8s
# hold after a kill + for 2s + group_wait 0s, resolved after up to group_interval
# 30s) with room to spare.
DELIVERY_TIMEOUT = 90.0 if PROFILE is SHIPPED else 30.0
# How long "nothing else arrives" is watched: several evaluation and group intervals.
QUIET_PERIOD = 25.0 if PROFILE is SHIPPED else 4.0


@dataclass(frozen=True)
class Delivery:
    received_at: float  # time.monotonic()
    authorization: str | None
    payload: dict[str, Any]


class WebhookRecorder:
    """A loopback HTTP server that stands in for the healer: records every POST, answers 200."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                delivery = Delivery(
                    time.monotonic(), self.headers.get("Authorization"), json.loads(body)
                )
                with recorder._lock:
                    recorder.deliveries.append(delivery)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook/alertmanager"

    def alerts(
        self, alertname: str, container: str, status: str | None = None
    ) -> list[tuple[Delivery, dict[str, Any]]]:
        """Each (delivery, alert) pair about `alertname` on `container`, in arrival order."""
        with self._lock:
            deliveries = list(self.deliveries)
        return [
            (delivery, alert)
            for delivery in deliveries
            for alert in delivery.payload.get("alerts", [])
            if alert["labels"].get("alertname") == alertname
            and alert["labels"].get("container") == container
            and (status is None or alert["status"] == status)
        ]

    def wait_for(
        self, alertname: str, container: str, status: str, timeout: float
    ) -> tuple[Delivery, dict[str, Any]]:
        found = wait_until(
            lambda: self.alerts(alertname, container, status),
            timeout=timeout,
            interval=0.02,
            what=f"a {status} {alertname} webhook for {container}",
        )
        return found[0]  # type: ignore[index,no-any-return]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class AlertingRig:
    stack: PromStack
    exporter: Service
    webhook: WebhookRecorder
    token: str
    containers: ContainerFactory

    def failure_context(self) -> str:
        return f"{self.stack.logs()}\n--- exporter ---\n{self.exporter.log()[-3000:]}"

    def wait_until_prometheus_sees(self, container: str, state: str) -> None:
        wait_until(
            lambda: self.stack.query(
                f'docker_container_state{{container="{container}",state="{state}"}} == 1'
            ),
            timeout=30,
            interval=0.2,
            what=f"Prometheus to see {container} {state}",
        )


@pytest.fixture
def rig(container_factory: ContainerFactory, tmp_path: Path) -> Iterator[AlertingRig]:
    token = secrets.token_urlsafe(24)
    token_file = tmp_path / "webhook_token"
    token_file.write_text(token + "\n")  # a trailing newline, as `echo` writes it
    webhook = WebhookRecorder()
    port = free_port()
    # The exporter manages only this test's containers (the factory's run label),
    # so other tests running on the same daemon add no alerts here.
    exporter = start_service(
        "exporter",
        python_module(
            "exporter",
            "--listen",
            f"127.0.0.1:{port}",
            "--managed-label",
            f"itops.test.run={container_factory.run_id}",
        ),
        port=port,
        log_dir=tmp_path,
        ready_url=f"http://127.0.0.1:{port}/healthz",
    )
    try:
        with prom_stack(
            tmp_path,
            targets={"exporter": f"127.0.0.1:{port}"},
            webhook_url=webhook.url,
            token_file=token_file,
            profile=PROFILE,
        ) as stack:
            stack.wait_for_targets(["exporter"])
            yield AlertingRig(stack, exporter, webhook, token, container_factory)
    finally:
        exporter.stop()
        webhook.close()


def _report(record_property: Callable[[str, object], None], name: str, seconds: float) -> None:
    record_property(name, round(seconds, 2))
    print(f"\n[{PROFILE_NAME} profile] {name}: {seconds:.2f}s")


def test_stopped_container_delivers_one_container_down_webhook_then_its_resolution(
    rig: AlertingRig, record_property: Callable[[str, object], None]
) -> None:
    web = rig.containers.run(WEB_CMD, hint="web")
    rig.wait_until_prometheus_sees(web.name, "running")

    web.stop(timeout=0)
    stopped = time.monotonic()
    try:
        delivery, alert = rig.webhook.wait_for(
            "ContainerDown", web.name, "firing", DELIVERY_TIMEOUT
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{rig.failure_context()}") from exc
    _report(record_property, "detection_seconds", delivery.received_at - stopped)

    assert delivery.authorization == f"Bearer {rig.token}"
    assert delivery.payload["version"] == "4"
    assert delivery.payload["receiver"] == "healer-heal"
    assert alert["labels"] == {
        "alertname": "ContainerDown",
        "action": "restart",
        "container": web.name,
        "container_id": web.id[:12],
        "host": "local",
        "instance": rig.exporter.url.removeprefix("http://"),
        "job": "exporter",
        "severity": "warning",
    }
    assert alert["annotations"]["summary"] == f"Container {web.name} is down"
    assert alert["annotations"]["description"].startswith(
        f"Managed container {web.name} on host local is not running (state exited), last exit code "
    )
    assert alert["annotations"]["runbook_url"] == "prometheus/runbook.md#containerdown"
    assert alert["endsAt"].startswith("0001-01-01")

    time.sleep(QUIET_PERIOD)
    firing = rig.webhook.alerts("ContainerDown", web.name, "firing")
    assert len(firing) == 1, [d.payload for d, _ in firing]

    web.start()
    started = time.monotonic()
    resolved_delivery, resolved = rig.webhook.wait_for(
        "ContainerDown", web.name, "resolved", DELIVERY_TIMEOUT
    )
    _report(record_property, "resolution_seconds", resolved_delivery.received_at - started)
    assert resolved_delivery.authorization == f"Bearer {rig.token}"
    assert resolved["fingerprint"] == alert["fingerprint"]
    assert resolved["startsAt"] == alert["startsAt"]
    assert not resolved["endsAt"].startswith("0001-01-01")


def test_critical_service_going_down_is_delivered_with_severity_critical(
    rig: AlertingRig, record_property: Callable[[str, object], None]
) -> None:
    db = rig.containers.run(WEB_CMD, hint="db", labels={"critical": "true"})
    rig.wait_until_prometheus_sees(db.name, "running")

    db.kill()
    killed = time.monotonic()
    delivery, alert = rig.webhook.wait_for("ContainerDown", db.name, "firing", DELIVERY_TIMEOUT)
    _report(record_property, "critical_detection_seconds", delivery.received_at - killed)

    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["action"] == "restart"
    assert delivery.payload["receiver"] == "healer-heal"
    assert "state exited), last exit code 137." in alert["annotations"]["description"]


def test_paused_container_never_raises_container_down(rig: AlertingRig) -> None:
    web = rig.containers.run(WEB_CMD, hint="paused")
    rig.wait_until_prometheus_sees(web.name, "running")

    web.pause()
    wait_for_state(web, lambda attrs: attrs["State"]["Paused"])
    rig.wait_until_prometheus_sees(web.name, "paused")
    # Well past ContainerDown's for: and the heal route's group_wait.
    time.sleep(QUIET_PERIOD + (40.0 if PROFILE is SHIPPED else 4.0))

    assert rig.webhook.alerts("ContainerDown", web.name) == []
    assert not [
        alert for alert in rig.stack.alerts() if alert["labels"].get("container") == web.name
    ]
    web.unpause()
