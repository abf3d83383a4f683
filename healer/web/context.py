"""What the web layer may touch: narrow, read-only views, plus the intake.

Routes never hold an object that can restart a container. Pages and the API
get `ReadSide` (incidents, quarantines and depths from the store; the managed
containers and a ping from Docker); the webhook gets the intake. The one
operator write, clearing a quarantine, is a single function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fleet.facts import ContainerFacts
from fleet.selector import LabelSelector
from healer.clock import Clock
from healer.metrics import HealerMetrics
from healer.model import Incident, Mode
from healer.store import QuarantineEntry
from healer.web.settings import WebSettings


class IncidentQuery(Protocol):
    def get(self, incident_id: int) -> Incident | None: ...

    def list_incidents(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        status: str | None = None,
        container: str | None = None,
    ) -> list[Incident]: ...

    def open_incidents(self) -> list[Incident]: ...

    def quarantined(self) -> list[QuarantineEntry]: ...

    def queue_depth(self) -> int: ...

    def outbox_depth(self) -> int: ...

    def check_writable(self, now: float) -> None: ...


class ContainerView(Protocol):
    def list_managed(self, selector: LabelSelector) -> list[ContainerFacts]: ...

    def ping(self) -> bool: ...


@dataclass(frozen=True)
class ReadSide:
    settings: WebSettings
    mode: Mode
    selector: LabelSelector
    incidents: IncidentQuery
    containers: ContainerView
    metrics: HealerMetrics
    clock: Clock
    workers_alive: Callable[[], bool]
    clear_quarantine: Callable[[str], bool]
