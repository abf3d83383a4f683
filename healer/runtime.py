"""Everything a running healer does in the background, built from its dependencies."""

from __future__ import annotations

import logging
import time

from healer.dependencies import BackgroundNotifier, Dependencies
from healer.housekeeping import Housekeeper
from healer.intake import AlertIntake
from healer.model import Incident, IncidentStatus
from healer.pipeline import IncidentProcessor
from healer.worker import IncidentWorkers

log = logging.getLogger(__name__)

# A webhook with new incidents within this long means "a burst is arriving".
INTAKE_BUSY_SECONDS = 0.1


class Runtime:
    """The healer's background work, built from its dependencies: the incident workers,
    the housekeeper, the outbox sender, and the intake that feeds them. The web layer
    gets only the intake and read-only views (healer/web/context.py), never this."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.config = deps.config
        self.hosts = deps.hosts
        self.store = deps.store
        self.notifier = deps.notifier
        self.clock = deps.clock
        self.metrics = deps.metrics
        self.last_intake = -1e9
        self.processor = IncidentProcessor(deps)
        self.workers = IncidentWorkers(
            self.store,
            self.processor.process,
            self.metrics,
            self.clock,
            threads=self.config.workers,
            on_failure=self.pipeline_failed,
            intake_busy=self.intake_busy,
        )
        self.intake = AlertIntake(
            self.store,
            self.notifier,
            self.metrics,
            self.clock,
            host_of=self.hosts.host_of,
            on_queued=self._queued,
        )
        self.housekeeper = Housekeeper(
            self.config.policy, self.store, self.hosts, self.clock, self.metrics, self.notifier
        )
        self.metrics.quarantined.set(len(self.store.quarantined()))
        self.metrics.queue_depth.set(self.store.queue_depth())

    def start(self) -> None:
        """Resume interrupted incidents and unsent notifications; start their threads."""
        self.workers.start()
        self.housekeeper.start()
        if isinstance(self.notifier, BackgroundNotifier):
            self.notifier.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.workers.stop(timeout)
        self.housekeeper.stop(timeout)
        if isinstance(self.notifier, BackgroundNotifier):
            self.notifier.stop(timeout)

    def _queued(self, count: int) -> None:
        """Intake queued incidents just now: the workers pace themselves by it."""
        self.last_intake = time.monotonic()
        self.workers.wake(count)

    def intake_busy(self) -> bool:
        return time.monotonic() - self.last_intake < INTAKE_BUSY_SECONDS

    def scan_workers(self, owner: str) -> IncidentWorkers:
        """Workers for a one-shot scan: they process only the incidents `owner` created."""
        return IncidentWorkers(
            self.store,
            self.processor.process,
            self.metrics,
            self.clock,
            threads=1,
            owner=owner,
            on_failure=self.pipeline_failed,
        )

    def pipeline_failed(self, incident: Incident, exc: BaseException) -> None:
        """An incident whose pipeline raised concludes as failed and is still notified."""
        now = self.clock.now()
        try:
            # Any exception's text may quote what it choked on: cleaned like Docker's own.
            detail = self.config.redactor.clean(f"{type(exc).__name__}: {exc}")
            self.store.add_step(incident.id, now, "error", detail)
            current = self.store.get(incident.id)
            if current is not None and not current.concluded:
                self.store.conclude(incident.id, IncidentStatus.FAILED, now)
                self.metrics.incidents.labels(IncidentStatus.FAILED.value).inc()
            current = self.store.get(incident.id)
            if current is not None:
                self.notifier.notify(current, "incident")
            self.store.finish(incident.id, now)
        except Exception:  # recording the failure failed too; the restart resume will retry
            log.exception("could not record the failure of incident %d", incident.id)
