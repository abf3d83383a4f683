"""Intake: a webhook's alerts recorded in one transaction.

New incidents, alerts that join an open one (and re-open a held one when a
restart may fix them), resolutions; duplicates by (fingerprint, startsAt,
status) change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from healer.database import Row, Tx
from healer.errors import StoreError
from healer.model import Alert, Mode
from healer.store.incidents import IncidentRecords
from healer.store.members import join_alert, wake_held_dependents
from healer.store.schema import OPEN, SERVE


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    created: tuple[int, ...]
    attached: tuple[int, ...]
    resolved: tuple[int, ...]
    requeued: tuple[int, ...] = ()  # held incidents a restartable alert re-opened


class IntakeRecords(IncidentRecords):
    def ingest(
        self,
        alerts: Sequence[Alert],
        mode: Mode,
        now: float,
        *,
        owner: str = SERVE,
        reserve_seconds: float = 0.0,
        host_of: Callable[[Alert], str] = lambda alert: "",
    ) -> IngestResult:
        """Record a webhook's alerts in one transaction.

        A firing alert opens an incident, or joins the container's incident that
        is still in progress or held open (one incident, one email, per container
        episode). A joining alert that a restart may fix is never swallowed: it
        becomes the alert the incident acts on, and a held incident goes back to the
        queue to be decided again (one still in progress is decided again when its
        current round ends). A resolved alert marks its incident; an open concluded
        incident closes. Alerts seen before, by (fingerprint, startsAt, status),
        change nothing.

        New incidents belong to `owner` (a one-shot scan claims only its own) and,
        with `reserve_seconds`, wait that long before `serve` may adopt them.
        """
        created: list[int] = []
        attached: list[int] = []
        resolved: list[int] = []
        requeued: list[int] = []
        duplicates = 0
        with self._tx() as db:
            for alert in alerts:
                cursor = db.execute(
                    "INSERT INTO alert_keys VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (alert.fingerprint, alert.starts_at, alert.status, now),
                )
                if cursor.rowcount == 0:
                    duplicates += 1
                    continue
                if alert.status == "resolved":
                    resolved.extend(self._resolve(db, alert, now, requeued))
                    continue
                host = host_of(alert)
                live = db.execute(
                    "SELECT id, related, mode, concluded, status FROM incidents"
                    " WHERE container = ? AND host = ? AND (stage != 'done' OR status = ?)"
                    " ORDER BY id DESC LIMIT 1",
                    (alert.container, host, OPEN),
                ).fetchone()
                # Same episode: an incident in progress or held open, in the same mode. One
                # handled in check mode never absorbs an alert that arrives in heal mode:
                # the operator switched modes to have it acted on (and check is absolute
                # for the incidents it handled, so joining would swallow the alert).
                joins = live is not None and live["mode"] == mode.value
                if live is not None and joins and alert.container:
                    incident_id = int(live["id"])
                    self._attach(db, live, alert, now)
                    attached.append(incident_id)
                    if alert.restartable and self._redecide(db, live, alert, now):
                        requeued.append(incident_id)
                    continue
                # A dependent's alert while its provider's incident handles it (or holds
                # it, within the dependency window): one incident, one email.
                lead = (
                    join_alert(db, alert.container, host, alert, mode.value, now)
                    if alert.container
                    else None
                )
                if lead is not None:
                    attached.append(lead)
                    continue
                new_id = self._insert(
                    db,
                    "INSERT INTO incidents (container, alertname, fingerprint, starts_at, status,"
                    " mode, stage, opened_at, alert, updated_at, owner, lease_until, host)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                    (
                        alert.container,
                        alert.alertname,
                        alert.fingerprint,
                        alert.starts_at,
                        OPEN,
                        mode.value,
                        now,
                        json.dumps(alert.to_json()),
                        now,
                        owner,
                        now + reserve_seconds,
                        host,
                    ),
                )
                if new_id is None:  # no conflict clause: an INSERT always adds its row
                    raise StoreError("store cannot write: the incident was not inserted")
                incident_id = new_id
                self._step(db, incident_id, now, "intake", f"{alert.alertname} firing")
                created.append(incident_id)
        return IngestResult(
            accepted=len(alerts) - duplicates,
            duplicates=duplicates,
            created=tuple(created),
            attached=tuple(attached),
            resolved=tuple(resolved),
            requeued=tuple(requeued),
        )

    def _attach(self, db: Tx, live: Row, alert: Alert, now: float) -> None:
        related = json.loads(live["related"])
        related.append(alert.alertname)
        db.execute(
            "UPDATE incidents SET related = ?, updated_at = ? WHERE id = ?",
            (json.dumps(related), now, live["id"]),
        )
        self._step(db, live["id"], now, "related_alert", alert.alertname)

    def _redecide(self, db: Tx, live: Row, alert: Alert, now: float) -> bool:
        """A restartable alert joined `live`: it becomes the alert acted on. A held incident
        is queued again at once (True); one in progress is decided again when its round
        ends. The diagnosis is redone on fresh evidence; attempts so far still count."""
        acting = json.dumps(alert.to_json())
        if not live["concluded"]:
            db.execute(
                "UPDATE incidents SET acting_alert = ?, redecide = 1, updated_at = ? WHERE id = ?",
                (acting, now, live["id"]),
            )
            return False
        db.execute(
            "UPDATE incidents SET acting_alert = ?, stage = 'queued', concluded = 0,"
            " rounds = rounds + 1, rules_diagnosis = NULL, redecide = 0, lease_until = 0,"
            " updated_at = ? WHERE id = ?",
            (acting, now, live["id"]),
        )
        self._step(
            db,
            live["id"],
            now,
            "redecide",
            f"{alert.alertname} is an alert a restart may fix; the held incident is decided again",
        )
        return True

    def take_redecide(self, incident_id: int, now: float) -> bool:
        """After a round: True (and the incident is open and unconcluded again) when a
        restartable alert joined during the round and the round ended without a verdict
        that settles it (held open, or skipped)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT redecide, status, concluded FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            if row is None or not row["redecide"]:
                return False
            again = bool(row["concluded"]) and row["status"] in (OPEN, "skipped")
            if not again:
                db.execute("UPDATE incidents SET redecide = 0 WHERE id = ?", (incident_id,))
                return False
            db.execute(
                "UPDATE incidents SET redecide = 0, concluded = 0, status = ?, closed_at = NULL,"
                " rounds = rounds + 1, rules_diagnosis = NULL, updated_at = ? WHERE id = ?",
                (OPEN, now, incident_id),
            )
            self._step(
                db,
                incident_id,
                now,
                "redecide",
                "a restartable alert joined while the incident was decided; decided again",
            )
            return True

    def _resolve(self, db: Tx, alert: Alert, now: float, requeued: list[int]) -> list[int]:
        rows = db.execute(
            "SELECT id, status, concluded FROM incidents WHERE fingerprint = ? AND starts_at = ?",
            (alert.fingerprint, alert.starts_at),
        ).fetchall()
        for row in rows:
            db.execute(
                "UPDATE incidents SET resolved_at = ?, updated_at = ? WHERE id = ?",
                (now, now, row["id"]),
            )
            if row["status"] == OPEN and row["concluded"]:
                db.execute(
                    "UPDATE incidents SET status = 'resolved', closed_at = ? WHERE id = ?",
                    (now, row["id"]),
                )
                # Dependents that waited with a provider held for a human: not swallowed.
                if wake_held_dependents(db, int(row["id"]), now):
                    requeued.append(int(row["id"]))
            self._step(db, row["id"], now, "resolved", "Alertmanager reported the alert resolved")
        return [int(row["id"]) for row in rows]
