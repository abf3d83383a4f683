"""alerts.log: one JSON line per notification (the seed's logs/alerts.log).

Appended under a lock with one write per line, so concurrent incidents never
interleave and `tail -f | jq` always sees whole objects. Every line is scrubbed
of the installation's secrets on its way to the file, whoever wrote it.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from healer.model import Incident, iso
from healer.redactor import Redactor


class AlertsLog:
    def __init__(self, path: Path, redactor: Redactor) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._redactor = redactor
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        # Scrubbed as written: the redactor knows each secret's JSON-escaped form too.
        line = self._redactor.scrub(json.dumps(record, sort_keys=True, default=str)) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)


def incident_record(incident: Incident, kind: str, now: float, **extra: Any) -> dict[str, Any]:
    """The alerts.log line for one notification: enough to grep, not the whole incident."""
    diagnosis = incident.diagnosis
    return {
        "at": iso(now),
        "kind": kind,
        "incident_id": incident.id,
        "container": incident.container,
        "alertname": incident.alertname,
        "severity": incident.severity,
        "status": incident.status.value,
        "mode": incident.mode.value,
        "restarts": incident.restarts,
        "category": diagnosis.category.value if diagnosis else None,
        "diagnosis_source": diagnosis.source.value if diagnosis else None,
        "root_cause": diagnosis.root_cause if diagnosis else None,
        "decision": incident.decision.reason if incident.decision else None,
        "verified": incident.verification.ok if incident.verification else None,
        # Who approved what (action, at, by): a follow-up after an approval says so here too.
        **({"approvals": [a.to_dict() for a in incident.approvals]} if incident.approvals else {}),
        **extra,
    }


class AlertsLogNotifier:
    """Notifier that only records to alerts.log (used until an outbox is configured)."""

    def __init__(self, log: AlertsLog, clock_now: Any) -> None:
        self._log = log
        self._now = clock_now

    def notify(self, incident: Incident, kind: str) -> None:
        self._log.write(incident_record(incident, kind, self._now()))
