"""Alertmanager v4 payloads as the real chain delivers them, for tests, demo and benches."""

from __future__ import annotations

import time
from typing import Any


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
