"""One-shot and continuous scans without Prometheus (`healer check` / `healer heal`).

A scan turns every managed container that needs attention into a synthetic
alert and feeds it through the same intake and pipeline as a webhook. The
alert's identity is the container and the time it failed, so a container that
stays down across cycles is one incident, not one per cycle.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fleet.selector import is_critical
from healer.model import Alert, Incident, Mode
from healer.runtime import Runtime
from healer.synthetic import SCAN_PREFIX, synthetic_alert
from healer.worker import LEASE_SECONDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanReport:
    containers: int
    needing_attention: int
    incidents: tuple[Incident, ...]
    resolved: int


def scan_once(rt: Runtime, mode: Mode) -> ScanReport:
    config, now = rt.config, rt.clock.now()
    by_host = rt.hosts.managed_by_host(config.selector)
    managed = [f for _host, f in by_host]
    # "created" was never started by anyone: starting it is not healing.
    failing = [
        (host, f)
        for host, f in by_host
        if f.needs_attention and f.state not in ("created", "paused")
    ]
    alerts = [
        synthetic_alert(
            f,
            critical=is_critical(f.name, f.labels, config.critical_services),
            now=now,
            host=host,
        )
        for host, f in failing
    ]
    by_name = {(host, f.name): f for host, f in by_host}
    for incident in rt.store.open_incidents():
        if not incident.alert.fingerprint.startswith(SCAN_PREFIX) or not incident.concluded:
            continue
        live = by_name.get((incident.host, incident.container))
        if live is None or not live.needs_attention:
            alert = incident.alert
            alerts.append(
                Alert(
                    fingerprint=alert.fingerprint,
                    status="resolved",
                    labels=alert.labels,
                    annotations=alert.annotations,
                    starts_at=alert.starts_at,
                    ends_at=now,
                )
            )
    # The scan's incidents are its own: it processes those and nothing `serve` owns.
    # `serve` adopts them only if this scan dies before claiming them.
    owner = f"scan:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    result = rt.intake.accept(alerts, mode, owner=owner, reserve_seconds=LEASE_SECONDS)
    rt.scan_workers(owner).run_until_idle()
    incidents = tuple(i for i in (rt.store.get(n) for n in result.created) if i is not None)
    return ScanReport(
        containers=len(managed),
        needing_attention=len(failing),
        incidents=incidents,
        resolved=len(result.resolved),
    )


def scan_forever(
    rt: Runtime,
    mode: Mode,
    *,
    interval: float,
    report: Callable[[ScanReport], None],
    should_stop: Callable[[float], bool],
) -> None:
    """Scan every `interval` seconds until `should_stop(wait)` returns True."""
    while True:
        try:
            report(scan_once(rt, mode))
        except Exception:  # outermost boundary of the loop: one bad cycle is not the end
            log.exception("scan cycle failed")
        if should_stop(interval):
            return
