"""The seams the incident pipeline is built against.

Diagnosis and notification are plugged in through these protocols so the
policy and the pipeline never change when a backend does.
"""

from __future__ import annotations

from typing import Protocol

from healer.model import Alert, DiagnosisResult, Evidence, Incident


class Diagnoser(Protocol):
    def diagnose(self, evidence: Evidence, alert: Alert | None) -> DiagnosisResult: ...


class Notifier(Protocol):
    def notify(self, incident: Incident, kind: str) -> None:
        """Durably queue one notification of `kind` for `incident`, at most once.

        Kinds: "incident" (the one email per incident, sent when it concludes),
        "resolved" (a threaded follow-up when an open incident's alert resolves)
        and "update" (a threaded follow-up when a held incident was decided again
        because a restartable alert joined it). Delivery problems never raise
        here; the outbox retries.
        """
        ...
