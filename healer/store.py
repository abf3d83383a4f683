"""Durable state in SQLite (WAL): incidents, their steps and actions, dedupe keys,
quarantines and the notification outbox.

One connection guarded by a lock serves the whole process: intake, workers and
the API all make short transactions, and SQLite in WAL mode commits one in well
under a millisecond. Other processes (the `status` and `clear-quarantine` CLI)
open the same file safely; `busy_timeout` makes them wait rather than fail.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healer.errors import StoreError
from healer.model import (
    ActionAttempt,
    Alert,
    Decision,
    Diagnosis,
    Incident,
    IncidentStatus,
    Mode,
    Step,
    Verification,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    container TEXT NOT NULL,
    alertname TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at REAL NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    stage TEXT NOT NULL,
    opened_at REAL NOT NULL,
    closed_at REAL,
    resolved_at REAL,
    alert TEXT NOT NULL,
    evidence TEXT,
    diagnosis TEXT,
    rules_diagnosis TEXT,
    llm_outcome TEXT NOT NULL DEFAULT '',
    decision TEXT,
    verification TEXT,
    related TEXT NOT NULL DEFAULT '[]',
    concluded INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_by_container ON incidents (container, stage);
CREATE INDEX IF NOT EXISTS incidents_by_alert ON incidents (fingerprint, starts_at);
CREATE INDEX IF NOT EXISTS incidents_by_stage ON incidents (stage, id);
CREATE INDEX IF NOT EXISTS incidents_by_opened ON incidents (opened_at);

CREATE TABLE IF NOT EXISTS alert_keys (
    fingerprint TEXT NOT NULL,
    starts_at REAL NOT NULL,
    status TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (fingerprint, starts_at, status)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    container TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    action TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    result TEXT NOT NULL DEFAULT 'pending',
    error TEXT NOT NULL DEFAULT '',
    UNIQUE (incident_id, attempt)
);
CREATE INDEX IF NOT EXISTS actions_by_container ON actions (container, started_at);

CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at REAL NOT NULL,
    step TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    duration REAL
);
CREATE INDEX IF NOT EXISTS steps_by_incident ON steps (incident_id, id);

CREATE TABLE IF NOT EXISTS quarantine (
    container TEXT PRIMARY KEY,
    since REAL NOT NULL,
    reason TEXT NOT NULL,
    incident_id INTEGER
);

CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    sent_at REAL,
    message_id TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL DEFAULT '{}',
    digest_id INTEGER REFERENCES outbox (id),
    -- when the incident opened: the storm grouping reads it for every pending item
    -- on every pass, so it is a column, not a field inside the rendered payload
    opened_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_by_incident ON outbox (incident_id, id);
CREATE INDEX IF NOT EXISTS outbox_by_digest ON outbox (digest_id);
"""

OPEN = IncidentStatus.OPEN.value
SERVE = ""  # the owner of incidents a running `serve` handles

# Columns added after the first release: created on a fresh database by MIGRATIONS,
# added to an existing one (CREATE TABLE IF NOT EXISTS leaves an old table as it was).
MIGRATIONS = (
    ("incidents", "acting_alert", "TEXT"),
    ("incidents", "rounds", "INTEGER NOT NULL DEFAULT 1"),
    # a restartable alert attached while the incident was being processed: decide again
    ("incidents", "redecide", "INTEGER NOT NULL DEFAULT 0"),
    # who may process it: SERVE, or the one-shot scan that created it
    ("incidents", "owner", "TEXT NOT NULL DEFAULT ''"),
    # processing: the claim holds until then (renewed while work goes on); queued:
    # not before then (a retry after the store failed)
    ("incidents", "lease_until", "REAL NOT NULL DEFAULT 0"),
)
POST_MIGRATION = """
CREATE INDEX IF NOT EXISTS incidents_claim ON incidents (stage, owner, lease_until, id);
"""


class _GroupChangedError(Exception):
    """A digest's member changed under us: roll the grouping back."""


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    created: tuple[int, ...]
    attached: tuple[int, ...]
    resolved: tuple[int, ...]
    requeued: tuple[int, ...] = ()  # held incidents a restartable alert re-opened


@dataclass(frozen=True)
class QuarantineEntry:
    container: str
    since: float
    reason: str
    incident_id: int | None


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


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of this process (kill -9); only a
        # power cut can lose the last transactions, which Alertmanager re-sends.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._db.executescript(SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        for table, column, decl in MIGRATIONS:
            have = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        self._db.executescript(POST_MIGRATION)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. SQLite's errors (disk full, I/O error, locked past the
        busy timeout) leave here as StoreError, the one kind callers handle."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"store cannot write: {exc}") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"store cannot write: {exc}") from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._db.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"store cannot read: {exc}") from exc

    def check_writable(self, now: float) -> None:
        """Raise StoreError unless a transaction commits now (the /healthz probe)."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)", (now,))

    # -- intake ----------------------------------------------------------------
    def ingest(
        self,
        alerts: Sequence[Alert],
        mode: Mode,
        now: float,
        *,
        owner: str = SERVE,
        reserve_seconds: float = 0.0,
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
                    "INSERT OR IGNORE INTO alert_keys VALUES (?, ?, ?, ?)",
                    (alert.fingerprint, alert.starts_at, alert.status, now),
                )
                if cursor.rowcount == 0:
                    duplicates += 1
                    continue
                if alert.status == "resolved":
                    resolved.extend(self._resolve(db, alert, now))
                    continue
                live = db.execute(
                    "SELECT id, related, mode, concluded, status FROM incidents"
                    " WHERE container = ? AND (stage != 'done' OR status = ?)"
                    " ORDER BY id DESC LIMIT 1",
                    (alert.container, OPEN),
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
                cursor = db.execute(
                    "INSERT INTO incidents (container, alertname, fingerprint, starts_at, status,"
                    " mode, stage, opened_at, alert, updated_at, owner, lease_until)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
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
                    ),
                )
                incident_id = int(cursor.lastrowid or 0)
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

    def _attach(self, db: sqlite3.Connection, live: sqlite3.Row, alert: Alert, now: float) -> None:
        related = json.loads(live["related"])
        related.append(alert.alertname)
        db.execute(
            "UPDATE incidents SET related = ?, updated_at = ? WHERE id = ?",
            (json.dumps(related), now, live["id"]),
        )
        self._step(db, live["id"], now, "related_alert", alert.alertname)

    def _redecide(
        self, db: sqlite3.Connection, live: sqlite3.Row, alert: Alert, now: float
    ) -> bool:
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

    def _resolve(self, db: sqlite3.Connection, alert: Alert, now: float) -> list[int]:
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
            self._step(db, row["id"], now, "resolved", "Alertmanager reported the alert resolved")
        return [int(row["id"]) for row in rows]

    # -- work queue --------------------------------------------------------------
    def claim_next(
        self,
        now: float,
        *,
        owner: str = SERVE,
        lease_seconds: float,
        exclude: Collection[int] = (),
    ) -> Incident | None:
        """Take the oldest incident `owner` may process whose container nobody else is
        working on, and hold it for `lease_seconds` (renewed while work goes on).

        A scan takes only the incidents it created. `serve` takes its own queued ones
        and adopts any whose holder let the lease run out: a scan that died, or a
        round that stopped because the store failed (it resumes by itself once the
        store writes again). `exclude` are incidents this process is still working on.
        """
        if owner == SERVE:
            mine = (
                "((q.stage = 'queued' AND q.owner = '' AND q.lease_until <= :now)"
                " OR (q.lease_until < :now AND (q.stage = 'processing' OR q.owner != '')"
                " AND q.stage != 'done'))"
            )
        else:
            mine = "(q.stage = 'queued' AND q.owner = :owner)"
        skip = ",".join(str(int(i)) for i in exclude) or "-1"
        with self._tx() as db:
            row = db.execute(
                f"SELECT id FROM incidents q WHERE {mine} AND q.id NOT IN ({skip})"  # noqa: S608 - ints
                " AND NOT EXISTS (SELECT 1 FROM incidents p WHERE p.stage = 'processing'"
                " AND p.container = q.container AND p.id != q.id AND p.lease_until >= :now)"
                " ORDER BY q.id LIMIT 1",
                {"now": now, "owner": owner},
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE incidents SET stage = 'processing', owner = ?, lease_until = ?"
                " WHERE id = ?",
                (owner, now + lease_seconds, row["id"]),
            )
        return self.get(int(row["id"]))

    def renew(self, incident_ids: Collection[int], until: float) -> None:
        """Extend the claim on incidents still being worked on."""
        if not incident_ids:
            return
        marks = ",".join("?" * len(incident_ids))
        with self._tx() as db:
            db.execute(
                f"UPDATE incidents SET lease_until = ? WHERE stage = 'processing'"  # noqa: S608
                f" AND id IN ({marks})",
                (until, *incident_ids),
            )

    def release(self, incident_id: int, not_before: float) -> None:
        """Hand an interrupted incident back to the queue, to be retried from `not_before`."""
        with self._tx() as db:
            db.execute(
                "UPDATE incidents SET stage = 'queued', lease_until = ?"
                " WHERE id = ? AND stage = 'processing'",
                (not_before, incident_id),
            )

    def requeue_interrupted(self, owner: str = SERVE) -> int:
        """At start-up: incidents `owner` left mid-way (it crashed) go back to the queue.
        Only one `serve` runs per data directory (serve takes the data-dir lock), so
        nothing else can be holding them."""
        with self._tx() as db:
            return db.execute(
                "UPDATE incidents SET stage = 'queued', lease_until = 0"
                " WHERE stage = 'processing' AND owner = ?",
                (owner,),
            ).rowcount

    def queue_depth(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM incidents WHERE stage = 'queued'")[0][0])

    def set_mode(self, incident_id: int, mode: Mode, now: float) -> None:
        self._update(incident_id, now, mode=mode.value)

    def last_concluded(self, container: str, exclude_id: int) -> tuple[str, float] | None:
        """(status, closed_at) of the container's most recent other concluded incident."""
        rows = self._query(
            "SELECT status, COALESCE(closed_at, updated_at) FROM incidents"
            " WHERE container = ? AND concluded = 1 AND id != ? ORDER BY id DESC LIMIT 1",
            (container, exclude_id),
        )
        return (str(rows[0][0]), float(rows[0][1])) if rows else None

    # -- incident updates --------------------------------------------------------
    def _step(
        self,
        db: sqlite3.Connection,
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
        data = {
            "ok": verification.ok,
            "state": verification.state,
            "health_status": verification.health_status,
            "summary": verification.summary,
            "checked_at": verification.checked_at,
            "waited_seconds": verification.waited_seconds,
        }
        self._update(incident_id, now, verification=json.dumps(data))

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

    # -- actions -----------------------------------------------------------------
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
        rows = self._query(
            "SELECT started_at FROM actions WHERE container = ? AND action = 'restart'"
            " AND started_at >= ? ORDER BY started_at",
            (container, since),
        )
        return [float(r[0]) for r in rows]

    # -- quarantine --------------------------------------------------------------
    def quarantine(self, container: str, reason: str, incident_id: int | None, now: float) -> bool:
        """Quarantine a container; False when it already was (no second escalation)."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO quarantine VALUES (?, ?, ?, ?)",
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

    # -- reads -------------------------------------------------------------------
    def get(self, incident_id: int) -> Incident | None:
        rows = self._query("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return self._hydrate(rows[0]) if rows else None

    def list_incidents(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        status: str | None = None,
        container: str | None = None,
    ) -> list[Incident]:
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if container:
            where.append("container = ?")
            params.append(container)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT * FROM incidents {clause} ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608
            (*params, limit, offset),
        )
        return [self._hydrate(r) for r in rows]

    def open_incidents(self) -> list[Incident]:
        rows = self._query(
            "SELECT * FROM incidents WHERE status = ? OR stage != 'done' ORDER BY id DESC",
            (OPEN,),
        )
        return [self._hydrate(r) for r in rows]

    def count_incidents(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM incidents")[0][0])

    def _hydrate(self, row: sqlite3.Row) -> Incident:
        incident_id = int(row["id"])
        actions = tuple(
            ActionAttempt(
                attempt=a["attempt"],
                action=a["action"],
                started_at=a["started_at"],
                finished_at=a["finished_at"],
                result=a["result"],
                error=a["error"],
            )
            for a in self._query(
                "SELECT * FROM actions WHERE incident_id = ? ORDER BY attempt", (incident_id,)
            )
        )
        steps = tuple(
            Step(s["at"], s["step"], s["detail"], s["duration"])
            for s in self._query(
                "SELECT * FROM steps WHERE incident_id = ? ORDER BY id", (incident_id,)
            )
        )
        notifications = tuple(
            {
                "id": n["id"],
                "kind": n["kind"],
                "channel": n["channel"],
                "status": n["status"],
                "attempts": n["attempts"],
                "last_error": n["last_error"],
                "created_at": n["created_at"],
                "sent_at": n["sent_at"],
                "message_id": n["message_id"],
                "digest_id": n["digest_id"],
            }
            for n in self._query(
                "SELECT * FROM outbox WHERE incident_id = ? ORDER BY id", (incident_id,)
            )
        )
        verification = None
        if row["verification"]:
            v = json.loads(row["verification"])
            verification = Verification.from_dict(v, checked_at=v["checked_at"])
        return Incident(
            id=incident_id,
            container=row["container"],
            alertname=row["alertname"],
            status=IncidentStatus(row["status"]),
            mode=Mode(row["mode"]),
            opened_at=row["opened_at"],
            closed_at=row["closed_at"],
            resolved_at=row["resolved_at"],
            stage=row["stage"],
            alert=Alert.from_json(json.loads(row["alert"])),
            evidence=json.loads(row["evidence"]) if row["evidence"] else None,
            diagnosis=Diagnosis.from_dict(json.loads(row["diagnosis"]))
            if row["diagnosis"]
            else None,
            rules_diagnosis=Diagnosis.from_dict(json.loads(row["rules_diagnosis"]))
            if row["rules_diagnosis"]
            else None,
            llm_outcome=row["llm_outcome"],
            concluded=bool(row["concluded"]),
            decision=Decision.from_dict(json.loads(row["decision"])) if row["decision"] else None,
            actions=actions,
            verification=verification,
            notifications=notifications,
            related_alerts=tuple(json.loads(row["related"])),
            steps=steps,
            acting_alert=Alert.from_json(json.loads(row["acting_alert"]))
            if row["acting_alert"]
            else None,
            rounds=int(row["rounds"]),
        )

    # -- outbox ------------------------------------------------------------------
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
            cursor = db.execute(
                "INSERT OR IGNORE INTO outbox (incident_id, kind, channel, dedupe_key, created_at,"
                " next_attempt_at, payload, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
            return int(cursor.lastrowid or 0) if cursor.rowcount == 1 else None

    def outbox_items(self, *, limit: int = 100) -> list[OutboxItem]:
        rows = self._query("SELECT * FROM outbox ORDER BY id DESC LIMIT ?", (limit,))
        return [self._outbox_item(r) for r in rows]

    def outbox_depth(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")[0][0])

    def outbox_due_refs(self, now: float) -> list[tuple[int, str]]:
        """(id, channel) of every pending item due now: the sender's cheap first look,
        without the rendered payloads (a storm can leave thousands pending)."""
        rows = self._query(
            "SELECT id, channel FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
            " ORDER BY id",
            (now,),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    def outbox_storm_candidates(self, channel: str) -> list[tuple[int, int, float, float]]:
        """(id, incident_id, opened_epoch, next_attempt_at) of pending, never-attempted
        incident notifications on `channel`: what the storm grouping looks at."""
        rows = self._query(
            "SELECT id, incident_id,"
            " COALESCE(opened_at, created_at),"
            " next_attempt_at FROM outbox WHERE status = 'pending' AND channel = ?"
            " AND kind = 'incident' AND attempts = 0 AND incident_id IS NOT NULL ORDER BY id",
            (channel,),
        )
        return [(int(r[0]), int(r[1]), float(r[2]), float(r[3])) for r in rows]

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
        rows = self._query("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'")
        return None if rows[0][0] is None else float(rows[0][0])

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
                cursor = db.execute(
                    "INSERT OR IGNORE INTO outbox (incident_id, kind, channel, dedupe_key,"
                    " created_at, next_attempt_at, payload) VALUES (NULL, ?, ?, ?, ?, ?, ?)",
                    (kind, channel, dedupe_key, now, now, json.dumps(payload)),
                )
                if cursor.rowcount != 1:
                    return None
                digest_id = int(cursor.lastrowid or 0)
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

    def incidents_in_flight(self, opened_from: float, opened_to: float) -> list[int]:
        """Incidents opened in the window whose pipeline has not finished yet."""
        rows = self._query(
            "SELECT id FROM incidents WHERE stage != 'done' AND opened_at BETWEEN ? AND ?",
            (opened_from, opened_to),
        )
        return [int(r[0]) for r in rows]

    def _outbox_item(self, r: sqlite3.Row) -> OutboxItem:
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
        return [int(r[0]) for r in rows]

    # -- housekeeping ------------------------------------------------------------
    def prune_alert_keys(self, older_than: float) -> int:
        with self._tx() as db:
            return db.execute(
                "DELETE FROM alert_keys WHERE received_at < ?", (older_than,)
            ).rowcount
