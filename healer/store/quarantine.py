"""Quarantined containers: the crash-loop breaker's memory."""

from __future__ import annotations

from dataclasses import dataclass

from healer.database import Database


@dataclass(frozen=True)
class QuarantineEntry:
    container: str
    since: float
    reason: str
    incident_id: int | None


class QuarantineRecords(Database):
    def quarantine(self, container: str, reason: str, incident_id: int | None, now: float) -> bool:
        """Quarantine a container; False when it already was (no second escalation)."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (container, now, reason, incident_id),
            )
            return cursor.rowcount == 1

    def clear_quarantine(self, container: str) -> bool:
        with self._tx() as db:
            return (
                db.execute("DELETE FROM quarantine WHERE container = ?", (container,)).rowcount == 1
            )

    def quarantined(self) -> list[QuarantineEntry]:
        rows = self._query("SELECT * FROM quarantine ORDER BY since")
        return [
            QuarantineEntry(r["container"], r["since"], r["reason"], r["incident_id"]) for r in rows
        ]

    def is_quarantined(self, container: str) -> bool:
        return bool(self._query("SELECT 1 FROM quarantine WHERE container = ?", (container,)))
