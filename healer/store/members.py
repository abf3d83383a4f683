"""Dependents in their provider's incident: who joined, how, and what became of them.

A provider's incident (the lead) accepts dependents while it is queued or in
progress, and, when it ends held open for a human, for the dependency window
after it opened (`members_until`). A dependent joins by being found failing
when the lead starts, by its own alert (intake), or by its own incident being
folded in (the pipeline). Every check-then-write here is one transaction, and
writers are serialized (healer/database.py), so a dependent never joins a lead
that has already finished handling its dependents.

Why one file over 300 lines: joining, handling and reading members are one
protocol over two tables; split, the transaction boundaries would be hard to see.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from healer.database import Database, Row, Tx
from healer.model import ActionAttempt, Alert, Dependent

PENDING = "pending"
HELD = "held"
# members_until: 0 while the lead accepts dependents (queued or in progress), CLOSED once
# it handled them, or a time: a lead held open accepts them (held) until then.
CLOSED = -1.0


@dataclass(frozen=True)
class Lead:
    """A provider's incident a dependent may join."""

    id: int
    container: str


def _accepting(alias: str = "i") -> str:
    return (
        f"(({alias}.stage != 'done' AND {alias}.members_until >= 0)"
        f" OR {alias}.members_until >= :now)"
    )


def _outcome_on_join(alias: str = "i") -> str:
    # Joining a lead that finished held open: the dependent waits with it.
    return f"CASE WHEN {alias}.stage = 'done' THEN '{HELD}' ELSE '{PENDING}' END"


class MemberRecords(Database):
    def open_membership(self, incident_id: int, now: float) -> None:
        """The lead is decided (again): it accepts dependents until it has handled them,
        and those held in an earlier round are looked at again."""
        with self._tx() as db:
            db.execute("UPDATE incidents SET members_until = 0 WHERE id = ?", (incident_id,))
            db.execute(
                "UPDATE incident_members SET outcome = ? WHERE incident_id = ? AND outcome = ?",
                (PENDING, incident_id, HELD),
            )

    def add_members(
        self, incident_id: int, host: str, containers: Sequence[str], via: str, now: float
    ) -> None:
        """List `containers` as dependents of the lead (no change for those already listed)."""
        with self._tx() as db:
            for name in containers:
                db.execute(
                    "INSERT INTO incident_members (incident_id, container, host, joined_at, via)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (incident_id, name, host, now, via),
                )

    def find_lead(
        self, host: str, providers: Sequence[str], mode: str, opened_since: float, now: float
    ) -> Lead | None:
        """The incident of the farthest provider in `providers` (nearest first) that
        accepts dependents now and opened since `opened_since`."""
        if not providers:
            return None
        marks = ",".join(f":p{n}" for n in range(len(providers)))
        rows = self._query(
            f"SELECT i.id, i.container FROM incidents i WHERE i.host = :host"  # noqa: S608 - marks
            f" AND i.container IN ({marks}) AND i.grouped_into IS NULL AND i.mode = :mode"
            f" AND i.opened_at >= :since AND {_accepting()} ORDER BY i.id DESC",
            {
                "host": host,
                "mode": mode,
                "since": opened_since,
                "now": now,
                **{f"p{n}": name for n, name in enumerate(providers)},
            },
        )
        if not rows:
            return None
        rank = {name: n for n, name in enumerate(providers)}
        row = max(rows, key=lambda r: (rank[r["container"]], int(r["id"])))
        return Lead(int(row["id"]), str(row["container"]))

    def fold_into(self, lead_id: int, incident_id: int, alert: Alert, now: float) -> bool:
        """Fold a dependent's own incident into its provider's: it becomes a member (with
        its alert), its own members move along, and it points at the lead. False when
        the lead stopped accepting dependents meanwhile."""
        with self._tx() as db:
            lead = db.execute(
                f"SELECT i.id, i.container, i.host, {_outcome_on_join()} AS outcome"  # noqa: S608
                f" FROM incidents i WHERE i.id = :lead AND {_accepting()}",
                {"lead": lead_id, "now": now},
            ).fetchone()
            own = db.execute(
                "SELECT container, host FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            if lead is None or own is None:
                return False
            _upsert(db, lead, own["container"], "incident", alert, incident_id, now)
            db.execute(
                "INSERT INTO incident_members (incident_id, container, host, joined_at, via,"
                " alert, merged_incident, outcome) SELECT ?, container, host, joined_at, via,"
                " alert, merged_incident, ? FROM incident_members WHERE incident_id = ?"
                " AND container != ? ON CONFLICT DO NOTHING",
                (lead_id, lead["outcome"], incident_id, lead["container"]),
            )
            db.execute("DELETE FROM incident_members WHERE incident_id = ?", (incident_id,))
            db.execute(
                "UPDATE incidents SET grouped_into = ?, members_until = ?, updated_at = ?"
                " WHERE id = ?",
                (lead_id, CLOSED, now, incident_id),
            )
            _note(db, lead_id, now, f"{own['container']} ({alert.alertname}, #{incident_id})")
            return True

    def handled_in(self, host: str, container: str, since: float) -> int | None:
        """The provider's incident that healed `container` as its dependent since `since`
        (a late alert of that failure is an echo of what it already handled)."""
        rows = self._query(
            "SELECT incident_id FROM incident_members WHERE container = ? AND host = ?"
            " AND outcome IN ('healed', 'recovered') AND handled_at >= ?"
            " ORDER BY handled_at DESC LIMIT 1",
            (container, host, since),
        )
        return int(rows[0]["incident_id"]) if rows else None

    def active_incident(self, host: str, container: str, exclude_id: int) -> int | None:
        """An incident of the container's own that is queued or being processed."""
        rows = self._query(
            "SELECT id FROM incidents WHERE container = ? AND host = ? AND stage != 'done'"
            " AND grouped_into IS NULL AND id != ? ORDER BY id LIMIT 1",
            (container, host, exclude_id),
        )
        return int(rows[0]["id"]) if rows else None

    def mark_grouped(self, incident_id: int, lead_id: int, now: float) -> None:
        """A dependent's late alert: its incident points at the provider's that handled it."""
        with self._tx() as db:
            db.execute(
                "UPDATE incidents SET grouped_into = ?, updated_at = ? WHERE id = ?",
                (lead_id, now, incident_id),
            )
            row = db.execute(
                "SELECT container, alertname FROM incidents WHERE id = ?", (incident_id,)
            ).fetchone()
            if row is not None:
                db.execute(
                    "INSERT INTO steps (incident_id, at, step, detail)"
                    " VALUES (?, ?, 'dependent', ?)",
                    (
                        lead_id,
                        now,
                        f"{row['container']} ({row['alertname']}, #{incident_id}) arrived after"
                        " this incident healed it; nothing more to do",
                    ),
                )

    def pending_members(self, incident_id: int) -> list[tuple[Dependent, Alert | None]]:
        rows = self._query(
            "SELECT * FROM incident_members WHERE incident_id = ? AND outcome = ?"
            " ORDER BY joined_at, container",
            (incident_id, PENDING),
        )
        return [
            (_member(r, ()), Alert.from_json(json.loads(r["alert"])) if r["alert"] else None)
            for r in rows
        ]

    def settle_member(
        self, incident_id: int, container: str, outcome: str, reason: str, now: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE incident_members SET outcome = ?, reason = ?, handled_at = ?"
                " WHERE incident_id = ? AND container = ?",
                (outcome, reason, now, incident_id, container),
            )

    def close_membership(self, incident_id: int, until: float) -> bool:
        """Stop accepting dependents (or accept them, held, until `until`; CLOSED for
        never), unless some are still pending: then False, and the caller handles
        those first."""
        with self._tx() as db:
            if db.execute(
                "SELECT 1 FROM incident_members WHERE incident_id = ? AND outcome = ?",
                (incident_id, PENDING),
            ).fetchone():
                return False
            db.execute("UPDATE incidents SET members_until = ? WHERE id = ?", (until, incident_id))
            return True

    def begin_member_action(
        self, incident_id: int, container: str, restart_key: str, attempt: int, now: float
    ) -> None:
        """The intent, recorded before the restart (as for the incident's own container)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO member_actions (incident_id, container, restart_key, attempt,"
                " started_at) VALUES (?, ?, ?, ?, ?)",
                (incident_id, container, restart_key, attempt, now),
            )

    def finish_member_action(
        self, incident_id: int, container: str, attempt: int, result: str, error: str, now: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE member_actions SET result = ?, error = ?, finished_at = ?"
                " WHERE incident_id = ? AND container = ? AND attempt = ?",
                (result, error, now, incident_id, container, attempt),
            )

    def member_actions(self, incident_id: int, container: str) -> list[ActionAttempt]:
        rows = self._query(
            "SELECT * FROM member_actions WHERE incident_id = ? AND container = ? ORDER BY attempt",
            (incident_id, container),
        )
        return [_action(r) for r in rows]

    def members_of(self, ids: Sequence[int]) -> dict[int, list[Dependent]]:
        """Each incident's dependents with their restarts, in the order they joined."""
        found: dict[int, list[Dependent]] = defaultdict(list)
        if not ids:
            return found
        marks = ",".join("?" * len(ids))
        actions: dict[tuple[int, str], list[ActionAttempt]] = defaultdict(list)
        for r in self._query(
            f"SELECT * FROM member_actions WHERE incident_id IN ({marks})"  # noqa: S608 - marks
            " ORDER BY incident_id, container, attempt",
            tuple(ids),
        ):
            actions[(int(r["incident_id"]), str(r["container"]))].append(_action(r))
        for r in self._query(
            f"SELECT * FROM incident_members WHERE incident_id IN ({marks})"  # noqa: S608 - marks
            " ORDER BY incident_id, joined_at, container",
            tuple(ids),
        ):
            key = (int(r["incident_id"]), str(r["container"]))
            found[key[0]].append(_member(r, tuple(actions.get(key, ()))))
        return found


def join_alert(
    db: Tx, container: str, host: str, alert: Alert, mode: str, now: float
) -> int | None:
    """Intake: a dependent's alert joins the lead that lists it and accepts it now (in
    the same mode: as for one container, a check-mode incident never absorbs an alert
    that arrives in heal mode)."""
    lead = db.execute(
        f"SELECT i.id, i.container, i.host, {_outcome_on_join()} AS outcome"  # noqa: S608
        " FROM incident_members m JOIN incidents i ON i.id = m.incident_id"
        f" WHERE m.container = :c AND m.host = :h AND i.mode = :mode AND {_accepting()}"
        " ORDER BY i.id DESC LIMIT 1",
        {"c": container, "h": host, "mode": mode, "now": now},
    ).fetchone()
    if lead is None:
        return None
    _upsert(db, lead, container, "alert", alert, None, now)
    _note(db, int(lead["id"]), now, f"{container} ({alert.alertname})")
    return int(lead["id"])


def wake_held_dependents(db: Tx, incident_id: int, now: float) -> bool:
    """The alert of a provider held for a human resolved: it was fixed, so its dependents
    that waited with it are looked at again (queued; restarted through the policy if
    still down). True when the incident went back to the queue. Check-mode incidents
    never restart anything, so they are left alone."""
    lead = db.execute("SELECT stage, mode FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    if lead is None or lead["stage"] != "done" or lead["mode"] != "heal":
        return False
    woken = db.execute(
        "UPDATE incident_members SET outcome = ? WHERE incident_id = ? AND outcome = ?",
        (PENDING, incident_id, HELD),
    ).rowcount
    if not woken:
        return False
    db.execute(
        "UPDATE incidents SET stage = 'queued', lease_until = 0, members_until = 0,"
        " updated_at = ? WHERE id = ?",
        (now, incident_id),
    )
    db.execute(
        "INSERT INTO steps (incident_id, at, step, detail) VALUES (?, ?, 'dependent', ?)",
        (incident_id, now, f"its alert resolved: {woken} waiting dependent(s) looked at again"),
    )
    return True


def _upsert(
    db: Tx,
    lead: Row,
    container: str,
    via: str,
    alert: Alert,
    merged: int | None,
    now: float,
) -> None:
    # A member found failing by the graph keeps its place; its own alert (the first
    # one) is what its restart is decided on.
    db.execute(
        "INSERT INTO incident_members (incident_id, container, host, joined_at, via, alert,"
        " merged_incident, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (incident_id, container) DO UPDATE SET"
        " alert = COALESCE(incident_members.alert, excluded.alert),"
        " merged_incident = COALESCE(excluded.merged_incident,"
        " incident_members.merged_incident)",
        (
            lead["id"],
            container,
            lead["host"],
            now,
            via,
            json.dumps(alert.to_json()),
            merged,
            lead["outcome"],
        ),
    )


def _note(db: Tx, lead_id: int, now: float, what: str) -> None:
    db.execute(
        "INSERT INTO steps (incident_id, at, step, detail) VALUES (?, ?, 'dependent', ?)",
        (lead_id, now, f"{what} joined: it depends on this incident's container"),
    )


def _action(r: Row) -> ActionAttempt:
    return ActionAttempt(
        attempt=int(r["attempt"]),
        action="restart",
        started_at=float(r["started_at"]),
        finished_at=r["finished_at"],
        result=str(r["result"]),
        error=str(r["error"]),
    )


def _member(r: Row, actions: tuple[ActionAttempt, ...]) -> Dependent:
    alert = json.loads(r["alert"]) if r["alert"] else None
    return Dependent(
        container=str(r["container"]),
        via=str(r["via"]),
        joined_at=float(r["joined_at"]),
        outcome=str(r["outcome"]),
        reason=str(r["reason"]),
        alertname=str(alert["labels"].get("alertname", "")) if alert else "",
        merged_incident=r["merged_incident"],
        handled_at=r["handled_at"],
        actions=actions,
    )
