"""The outbox's rows: every notification is written here before anything sends it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from healer.database import Database, Row


class _GroupChangedError(Exception):
    """A digest's member changed under us: roll the grouping back."""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    incident_id: int | None
    kind: str
    channel: str
    created_at: float
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str
    sent_at: float | None
    message_id: str
    payload: dict[str, Any]
    # Set on an incident's row that was delivered inside a storm digest: the digest's row.
    digest_id: int | None = None


class OutboxRecords(Database):
    def outbox_add(
        self,
        *,
        incident_id: int | None,
        kind: str,
        channel: str,
        dedupe_key: str,
        payload: dict[str, Any],
        now: float,
        not_before: float | None = None,
    ) -> int | None:
        """Queue a notification once per dedupe key; None when it was queued already."""
        with self._tx() as db:
            return self._insert(
                db,
                "INSERT INTO outbox (incident_id, kind, channel, dedupe_key, created_at,"
                " next_attempt_at, payload, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (
                    incident_id,
                    kind,
                    channel,
                    dedupe_key,
                    now,
                    now if not_before is None else not_before,
                    json.dumps(payload),
                    (payload.get("view") or {}).get("opened_epoch", now),
                ),
            )

    def outbox_claim(self, item_id: int, sender: str, until: float, now: float) -> bool:
        """Hold a pending item for `sender` until `until`; False when another holds it."""
        with self._tx() as db:
            return (
                db.execute(
                    "UPDATE outbox SET lease_until = :until, lease_owner = :sender"
                    " WHERE id = :id AND status = 'pending'"
                    " AND (lease_until < :now OR lease_owner = :sender)",
                    {"until": until, "sender": sender, "id": item_id, "now": now},
                ).rowcount
                == 1
            )

    def outbox_release_leases(self) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET lease_until = 0, lease_owner = '' WHERE lease_until > 0")

    def outbox_items(self, *, limit: int = 100) -> list[OutboxItem]:
        rows = self._query("SELECT * FROM outbox ORDER BY id DESC LIMIT ?", (limit,))
        return [self._outbox_item(r) for r in rows]

    def outbox_depth(self) -> int:
        rows = self._query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")
        return int(rows[0]["n"])

    def outbox_due_refs(self, now: float) -> list[tuple[int, str]]:
        """(id, channel) of every pending item due now: the sender's cheap first look,
        without the rendered payloads (a storm can leave thousands pending)."""
        rows = self._query(
            "SELECT id, channel FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
            " ORDER BY id",
            (now,),
        )
        return [(int(r["id"]), str(r["channel"])) for r in rows]

    def outbox_storm_candidates(self, channel: str) -> list[tuple[int, int, float, float]]:
        """(id, incident_id, opened_epoch, next_attempt_at) of pending, never-attempted
        incident notifications on `channel`: what the storm grouping looks at."""
        rows = self._query(
            "SELECT id, incident_id,"
            " COALESCE(opened_at, created_at) AS opened,"
            " next_attempt_at FROM outbox WHERE status = 'pending' AND channel = ?"
            " AND kind = 'incident' AND attempts = 0 AND incident_id IS NOT NULL ORDER BY id",
            (channel,),
        )
        return [
            (int(r["id"]), int(r["incident_id"]), float(r["opened"]), float(r["next_attempt_at"]))
            for r in rows
        ]

    def outbox_get(self, ids: Sequence[int]) -> list[OutboxItem]:
        """The pending items among `ids`, in id order."""
        found: list[OutboxItem] = []
        for start in range(0, len(ids), 500):  # SQLite's parameter limit
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT * FROM outbox WHERE status = 'pending' AND id IN ({marks})"  # noqa: S608
                " ORDER BY id",
                chunk,
            )
            found.extend(self._outbox_item(r) for r in rows)
        return found

    def outbox_next_due(self) -> float | None:
        rows = self._query(
            "SELECT MIN(next_attempt_at) AS due FROM outbox WHERE status = 'pending'"
        )
        return None if rows[0]["due"] is None else float(rows[0]["due"])

    def outbox_for_incident(self, incident_id: int) -> list[OutboxItem]:
        rows = self._query("SELECT * FROM outbox WHERE incident_id = ? ORDER BY id", (incident_id,))
        return [self._outbox_item(r) for r in rows]

    def outbox_group(
        self,
        member_ids: Sequence[int],
        *,
        kind: str,
        channel: str,
        dedupe_key: str,
        payload: dict[str, Any],
        now: float,
    ) -> int | None:
        """Replace pending items by one new digest item, atomically.

        The members turn `grouped` and point at the digest, in the same transaction
        that creates it, so a crash can never deliver both the digest and a member.
        None when a member was no longer pending (nothing changes then).
        """
        marks = ",".join("?" * len(member_ids))
        try:
            with self._tx() as db:
                digest_id = self._insert(
                    db,
                    "INSERT INTO outbox (incident_id, kind, channel, dedupe_key,"
                    " created_at, next_attempt_at, payload) VALUES (NULL, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (kind, channel, dedupe_key, now, now, json.dumps(payload)),
                )
                if digest_id is None:
                    return None
                changed = db.execute(
                    "UPDATE outbox SET status = 'grouped', digest_id = ?"  # noqa: S608 - marks
                    f" WHERE status = 'pending' AND id IN ({marks})",
                    (digest_id, *member_ids),
                ).rowcount
                if changed != len(member_ids):
                    raise _GroupChangedError
                return digest_id
        except _GroupChangedError:
            return None

    def outbox_record(
        self,
        item_id: int,
        *,
        status: str,
        attempts: int,
        next_attempt_at: float,
        last_error: str = "",
        sent_at: float | None = None,
        message_id: str = "",
    ) -> None:
        """Record a delivery attempt; a digest's members take its outcome with it."""
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?,"
                " sent_at = ?, message_id = CASE WHEN ? = '' THEN message_id ELSE ? END"
                " WHERE id = ?",
                (
                    status,
                    attempts,
                    next_attempt_at,
                    last_error,
                    sent_at,
                    message_id,
                    message_id,
                    item_id,
                ),
            )
            # Members stay `grouped` while their digest is retried; they show its error.
            member_status = "grouped" if status == "pending" else status
            db.execute(
                "UPDATE outbox SET status = ?, attempts = ?, last_error = ?, sent_at = ?,"
                " message_id = CASE WHEN ? = '' THEN message_id ELSE ? END WHERE digest_id = ?",
                (member_status, attempts, last_error, sent_at, message_id, message_id, item_id),
            )

    def _outbox_item(self, r: Row) -> OutboxItem:
        return OutboxItem(
            id=r["id"],
            incident_id=r["incident_id"],
            kind=r["kind"],
            channel=r["channel"],
            created_at=r["created_at"],
            status=r["status"],
            attempts=r["attempts"],
            next_attempt_at=r["next_attempt_at"],
            last_error=r["last_error"],
            sent_at=r["sent_at"],
            message_id=r["message_id"],
            payload=json.loads(r["payload"]),
            digest_id=r["digest_id"],
        )
