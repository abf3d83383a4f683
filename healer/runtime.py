"""Everything a running healer holds, built from its dependencies in one place."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from prometheus_client import CollectorRegistry

from healer.clock import Clock
from healer.config import HealerConfig
from healer.docker_port import DockerPort
from healer.housekeeping import Housekeeper
from healer.metrics import HealerMetrics
from healer.model import Incident, IncidentStatus
from healer.pipeline import IncidentProcessor
from healer.ports import Diagnoser, Notifier
from healer.store import Store
from healer.worker import IncidentWorkers

log = logging.getLogger(__name__)

# A webhook with new incidents within this long means "a burst is arriving".
INTAKE_BUSY_SECONDS = 0.1


@runtime_checkable
class BackgroundNotifier(Protocol):
    """A notifier with its own delivery thread (the outbox sender)."""

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...


@dataclass
class Runtime:
    config: HealerConfig
    docker: DockerPort
    store: Store
    diagnoser: Diagnoser
    notifier: Notifier
    clock: Clock
    metrics: HealerMetrics = field(default_factory=lambda: HealerMetrics(CollectorRegistry()))
    processor: IncidentProcessor = field(init=False)
    workers: IncidentWorkers = field(init=False)
    housekeeper: Housekeeper = field(init=False)
    last_intake: float = field(init=False, default=-1e9)

    def __post_init__(self) -> None:
        self.processor = IncidentProcessor(
            config=self.config,
            docker=self.docker,
            store=self.store,
            diagnoser=self.diagnoser,
            notifier=self.notifier,
            clock=self.clock,
            metrics=self.metrics,
        )
        self.workers = IncidentWorkers(
            self.store,
            self.processor.process,
            self.metrics,
            self.clock,
            threads=self.config.workers,
            on_failure=self.pipeline_failed,
            intake_busy=self.intake_busy,
        )
        self.housekeeper = Housekeeper(
            self.config, self.store, self.docker, self.clock, self.metrics, self.notifier
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

    def note_intake(self) -> None:
        """The webhook accepted new incidents just now (the workers pace themselves by it)."""
        self.last_intake = time.monotonic()

    def intake_busy(self) -> bool:
        return time.monotonic() - self.last_intake < INTAKE_BUSY_SECONDS

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

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
