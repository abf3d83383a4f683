"""The incident memory's room: each incident's failure signature, and the earlier
incidents that share it (healer/memory.py decides what they mean)."""

from __future__ import annotations

import json
from typing import Any

from healer.database import Database
from healer.memory import Occurrence


class RecurrenceRecords(Database):
    def remember(
        self, incident_id: int, signature: str, memory: dict[str, Any], now: float
    ) -> None:
        """Record the incident's signature and what was recalled for it (shown as is)."""
        with self._tx() as db:
            db.execute(
                "UPDATE incidents SET memory_key = ?, memory = ?, updated_at = ? WHERE id = ?",
                (signature, json.dumps(memory), now, incident_id),
            )

    def occurrences(self, signature: str, before_id: int, since: float) -> list[Occurrence]:
        """Incidents before `before_id` with this signature that opened since `since`,
        oldest first, each with the restarts Docker accepted in it and when the same
        container's next incident (any failure) opened after it concluded."""
        rows = self._query(
            "SELECT i.id, i.opened_at, i.closed_at, i.status,"
            " (SELECT COUNT(*) FROM actions a WHERE a.incident_id = i.id"
            "  AND a.action = 'restart' AND a.result = 'ok') AS restarts,"
            " (SELECT MIN(n.opened_at) FROM incidents n WHERE n.container = i.container"
            "  AND n.host = i.host AND n.grouped_into IS NULL"
            "  AND n.opened_at > COALESCE(i.closed_at, i.opened_at)) AS next_opened"
            " FROM incidents i WHERE i.memory_key = ? AND i.id < ? AND i.opened_at >= ?"
            " AND i.grouped_into IS NULL ORDER BY i.opened_at, i.id",
            (signature, before_id, since),
        )
        return [
            Occurrence(
                incident_id=int(r["id"]),
                opened_at=float(r["opened_at"]),
                closed_at=None if r["closed_at"] is None else float(r["closed_at"]),
                status=str(r["status"]),
                restarts=int(r["restarts"]),
                next_opened_at=None if r["next_opened"] is None else float(r["next_opened"]),
            )
            for r in rows
        ]
