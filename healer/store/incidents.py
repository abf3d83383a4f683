"""An incident's life in the store: intake, steps, actions and the outcome.

Intake records a webhook's alerts in one transaction (new incidents, alerts that
join an open one, resolutions); the pipeline records each step before the next.
"""

from __future__ import annotations

import json
from typing import Any

from healer.database import Database, Tx
from healer.model import Decision, Diagnosis, IncidentStatus, Mode, Verification


class IncidentRecords(Database):
    def set_mode(self, incident_id: int, mode: Mode, now: float) -> None:
        self._update(incident_id, now, mode=mode.value)

    def last_concluded(
        self, container: str, exclude_id: int, *, host: str = ""
    ) -> tuple[str, float] | None:
        """(status, closed_at) of the container's most recent other concluded incident."""
        rows = self._query(
            "SELECT status, COALESCE(closed_at, updated_at) AS ended FROM incidents"
            " WHERE container = ? AND host = ? AND concluded = 1 AND id != ?"
            " ORDER BY id DESC LIMIT 1",
            (container, host, exclude_id),
        )
        return (str(rows[0]["status"]), float(rows[0]["ended"])) if rows else None

    def _step(
        self,
        db: Tx,
        incident_id: int,
        at: float,
        step: str,
        detail: str = "",
        duration: float | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO steps (incident_id, at, step, detail, duration) VALUES (?, ?, ?, ?, ?)",
            (incident_id, at, step, detail, duration),
        )

    def add_step(
        self,
        incident_id: int,
        at: float,
        step: str,
        detail: str = "",
        duration: float | None = None,
    ) -> None:
        with self._tx() as db:
            self._step(db, incident_id, at, step, detail, duration)

    def save_evidence(self, incident_id: int, evidence: dict[str, Any], now: float) -> None:
        self._update(incident_id, now, evidence=json.dumps(evidence))

    def save_diagnosis(
        self,
        incident_id: int,
        final: Diagnosis,
        rules: Diagnosis,
        llm_outcome: str,
        now: float,
    ) -> None:
        self._update(
            incident_id,
            now,
            diagnosis=json.dumps(final.to_dict()),
            rules_diagnosis=json.dumps(rules.to_dict()),
            llm_outcome=llm_outcome,
        )

    def save_decision(self, incident_id: int, decision: Decision, now: float) -> None:
        self._update(incident_id, now, decision=json.dumps(decision.to_dict()))

    def save_verification(self, incident_id: int, verification: Verification, now: float) -> None:
        self._update(incident_id, now, verification=json.dumps(verification.to_json()))

    def conclude(self, incident_id: int, status: IncidentStatus, now: float) -> None:
        """Record the outcome. A concluded incident is never acted on again, even when a
        crash interrupts its notification: resuming it only notifies and finishes."""
        closed = now if status.terminal else None
        self._update(incident_id, now, status=status.value, closed_at=closed, concluded=1)

    def finish(self, incident_id: int, now: float) -> None:
        self._update(incident_id, now, stage="done", lease_until=0)

    def _update(self, incident_id: int, now: float, **columns: Any) -> None:
        names = ", ".join(f"{name} = ?" for name in columns)
        with self._tx() as db:
            db.execute(
                f"UPDATE incidents SET {names}, updated_at = ? WHERE id = ?",  # noqa: S608 - names are ours
                (*columns.values(), now, incident_id),
            )

    def begin_action(
        self, incident_id: int, container: str, attempt: int, action: str, now: float
    ) -> None:
        """Write the intent before acting, so a crash mid-restart is never repeated blindly."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO actions (incident_id, container, attempt, action, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (incident_id, container, attempt, action, now),
            )

    def finish_action(
        self, incident_id: int, attempt: int, result: str, error: str, now: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE actions SET result = ?, error = ?, finished_at = ?"
                " WHERE incident_id = ? AND attempt = ?",
                (result, error, now, incident_id, attempt),
            )

    def restarts_since(self, container: str, since: float) -> list[float]:
        """Every healer restart of `container` (its budget key) since `since`: as an
        incident's own container, and as a dependent restarted in its provider's."""
        rows = self._query(
            "SELECT started_at FROM actions WHERE container = ? AND action = 'restart'"
            " AND started_at >= ?"
            " UNION ALL SELECT started_at FROM member_actions WHERE restart_key = ?"
            " AND started_at >= ? ORDER BY started_at",
            (container, since, container, since),
        )
        return [float(r["started_at"]) for r in rows]

    def incidents_in_flight(self, opened_from: float, opened_to: float) -> list[int]:
        """Incidents opened in the window whose pipeline has not finished yet."""
        rows = self._query(
            "SELECT id FROM incidents WHERE stage != 'done' AND opened_at BETWEEN ? AND ?",
            (opened_from, opened_to),
        )
        return [int(r["id"]) for r in rows]

    def resolutions_untold(self, since: float) -> list[int]:
        """Incidents resolved since `since` after their first email went out, whose
        "resolved" follow-up was never queued (the store failed right after intake)."""
        rows = self._query(
            "SELECT i.id FROM incidents i WHERE i.status = 'resolved' AND i.resolved_at >= ?"
            " AND EXISTS (SELECT 1 FROM outbox o WHERE o.incident_id = i.id"
            " AND o.kind = 'incident' AND o.created_at <= i.resolved_at)"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.incident_id = i.id"
            " AND o.kind = 'resolved') ORDER BY i.id",
            (since,),
        )
        return [int(r["id"]) for r in rows]
