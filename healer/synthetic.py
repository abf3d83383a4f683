"""The alert Prometheus would have sent for a container's current failure, made by the
healer itself: by a scan (`healer check|heal`), and for a dependent that failed with its
provider but whose own alert has not arrived (healer/cascade.py)."""

from __future__ import annotations

from fleet.facts import ContainerFacts
from healer.model import Alert

SCAN_PREFIX = "scan:"


def synthetic_alert(facts: ContainerFacts, *, critical: bool, now: float, host: str = "") -> Alert:
    """The alert Prometheus would have sent for this container's current failure."""
    if facts.running:
        alertname = "ContainerUnhealthy"
        summary = f"{facts.name} is running but its health check fails"
        since = facts.started_at or now
    else:
        alertname = "ContainerDown"
        summary = f"{facts.name} is {facts.state} (exit code {facts.exit_code})"
        since = facts.finished_at or now
    return Alert(
        fingerprint=f"{SCAN_PREFIX}{host + ':' if host else ''}{facts.short_id}:{alertname}",
        status="firing",
        labels={
            "alertname": alertname,
            "container": facts.name,
            "container_id": facts.short_id,
            "severity": "critical" if critical else "warning",
            "action": "restart",
            "source": "scan",
            **({"host": host} if host else {}),
        },
        annotations={"summary": summary, "description": f"Found by a healer scan. {summary}."},
        starts_at=since,
    )
