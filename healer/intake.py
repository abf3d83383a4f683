"""Accepting alerts: record them durably, tell about resolutions, wake the workers.

The one way alerts enter the healer, whether from Alertmanager's webhook
(healer/web/intake.py) or a one-shot scan (healer/scan.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from healer.clock import Clock
from healer.errors import StoreError
from healer.metrics import HealerMetrics
from healer.model import Alert, Incident, IncidentStatus, Mode
from healer.ports import Notifier
from healer.store import SERVE, IngestResult

log = logging.getLogger(__name__)


class IntakeStore(Protocol):
    """What intake may do with the store: enqueue, and read back what it resolved."""

    def ingest(
        self,
        alerts: Sequence[Alert],
        mode: Mode,
        now: float,
        *,
        owner: str = SERVE,
        reserve_seconds: float = 0.0,
        host_of: Callable[[Alert], str] = ...,
    ) -> IngestResult: ...

    def get(self, incident_id: int) -> Incident | None: ...


class AlertIntake:
    def __init__(
        self,
        store: IntakeStore,
        notifier: Notifier,
        metrics: HealerMetrics,
        clock: Clock,
        *,
        host_of: Callable[[Alert], str] = lambda alert: "",
        on_queued: Callable[[int], None] = lambda count: None,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._metrics = metrics
        self._clock = clock
        self._on_queued = on_queued
        self._host_of = host_of

    def accept(
        self,
        alerts: Sequence[Alert],
        mode: Mode,
        *,
        owner: str = SERVE,
        reserve_seconds: float = 0.0,
    ) -> IngestResult:
        """Record `alerts` (StoreError when the store cannot write: nothing was recorded),
        queue the "resolved" follow-ups, and wake workers for new and re-opened incidents."""
        now = self._clock.now()
        result = self._store.ingest(
            alerts, mode, now, owner=owner, reserve_seconds=reserve_seconds, host_of=self._host_of
        )
        self._metrics.webhooks.labels("accepted").inc(result.accepted)
        self._metrics.webhooks.labels("duplicate").inc(result.duplicates)
        queued = len(result.created) + len(result.requeued)
        if queued:
            self._on_queued(queued)
        try:
            for incident_id in result.resolved:
                incident = self._store.get(incident_id)
                if incident is not None and incident.status is IncidentStatus.RESOLVED:
                    self._notifier.notify(incident, "resolved")
        except StoreError as exc:
            # The alerts are recorded: failing now would make a retry a duplicate. The
            # housekeeper queues any follow-up that was missed here.
            log.warning("resolved follow-ups wait for the housekeeper: %s", exc)
        return result
