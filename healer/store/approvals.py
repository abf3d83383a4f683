"""Approvals in the store: the links' shared secret, and each approval applied once.

An approval is recorded and applied in one write transaction (writers are serialized
on both engines, and the nonce is a primary key): two clicks on one link, on one
healer or on two replicas, apply it once. What it changes is only the incident's own
state — queued again for a restart round, resolved, or quarantined. It never acts
on a container: an approved restart is decided by the policy like any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from healer.database import Tx
from healer.hosts import quarantine_key
from healer.model import Approval, Decision, IncidentStatus
from healer.store.incidents import IncidentRecords
from healer.store.schema import SERVE

# An incident takes approvals while it waits for a human: held open, or failed.
HELD = (IncidentStatus.OPEN.value, IncidentStatus.FAILED.value)
SECRET_ROW = "approval_secret"  # noqa: S105 - the row's name, not a secret


class Applied(StrEnum):
    APPLIED = "applied"
    USED = "used"  # the link was used before: nothing is done again
    NOT_HELD = "not_held"  # the incident is not (or no longer) waiting for a human
    MISSING = "missing"  # no such incident


@dataclass(frozen=True)
class ApprovalRequest:
    nonce: str
    incident_id: int
    action: str  # restart | quarantine | resolve
    by: str
    at: float
    # For resolve and quarantine: the decision that replaces the held one (the reason
    # a person decided). A restart leaves the decision to the policy.
    decision: Decision | None = None


class ApprovalRecords(IncidentRecords):
    def approval_secret(self, candidate: str, now: float) -> str:
        """The secret every healer on this store signs links with: `candidate` if none
        was made yet, else the one the first healer made (replicas agree on it)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO healer_secrets (name, value, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (SECRET_ROW, candidate, now),
            )
            row = db.execute(
                "SELECT value FROM healer_secrets WHERE name = ?", (SECRET_ROW,)
            ).fetchone()
        return str(row["value"])

    def approval_by_nonce(self, nonce: str) -> Approval | None:
        rows = self._query("SELECT * FROM approvals WHERE nonce = ?", (nonce,))
        if not rows:
            return None
        r = rows[0]
        return Approval(r["action"], r["at"], r["requested_by"], int(r["round_no"]))

    def apply_approval(self, request: ApprovalRequest) -> Applied:
        """Record `request` and apply it, in one transaction, if its link is unused and
        its incident still waits for a human (concluded, finished, open or failed)."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM approvals WHERE nonce = ?", (request.nonce,)).fetchone():
                return Applied.USED
            row = db.execute(
                "SELECT container, host, status, stage, concluded, rounds FROM incidents"
                " WHERE id = ?",
                (request.incident_id,),
            ).fetchone()
            if row is None:
                return Applied.MISSING
            held = row["concluded"] and row["stage"] == "done" and row["status"] in HELD
            # Restarting or quarantining needs a container; an alert about the whole
            # stack (the daemon, the exporter) can only be marked resolved.
            if not held or (request.action != "resolve" and not row["container"]):
                return Applied.NOT_HELD
            round_no = int(row["rounds"]) + 1
            db.execute(
                "INSERT INTO approvals (nonce, incident_id, action, at, requested_by, round_no)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    request.nonce,
                    request.incident_id,
                    request.action,
                    request.at,
                    request.by,
                    round_no,
                ),
            )
            if request.action == "restart":
                self._queue_approved_round(db, request)
            else:
                if request.action == "quarantine":
                    self._quarantine(db, request, quarantine_key(row["host"], row["container"]))
                self._close(db, request)
            self._step(
                db, request.incident_id, request.at, "approval", _describe(request, round_no)
            )
        return Applied.APPLIED

    def _queue_approved_round(self, db: Tx, request: ApprovalRequest) -> None:
        # A new round, for `serve` (any replica) to claim: its approval lifts check mode
        # and the diagnosis' hold in the policy, for this round only (Incident.rounds).
        db.execute(
            "UPDATE incidents SET stage = 'queued', concluded = 0, status = ?,"
            " closed_at = NULL, rounds = rounds + 1, redecide = 0, owner = ?, lease_until = 0,"
            " updated_at = ? WHERE id = ?",
            (IncidentStatus.OPEN.value, SERVE, request.at, request.incident_id),
        )

    def _quarantine(self, db: Tx, request: ApprovalRequest, key: str) -> None:
        reason = request.decision.reason if request.decision else "quarantined by approval"
        db.execute(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (key, request.at, reason, request.incident_id),
        )

    def _close(self, db: Tx, request: ApprovalRequest) -> None:
        quarantined = request.action == "quarantine"
        status = IncidentStatus.QUARANTINED if quarantined else IncidentStatus.RESOLVED
        decision = request.decision or Decision(restart=False, status=status, reason="approved")
        # A round of its own, so its follow-up email is a new one in the thread.
        db.execute(
            "UPDATE incidents SET status = ?, closed_at = ?, decision = ?, rounds = rounds + 1,"
            " updated_at = ? WHERE id = ?",
            (
                status.value,
                request.at,
                json.dumps(decision.to_dict()),
                request.at,
                request.incident_id,
            ),
        )


def _describe(request: ApprovalRequest, round_no: int) -> str:
    if request.action == "restart":
        return (
            f"restart approved from {request.by}; round {round_no} is decided by the policy "
            "with check mode and the diagnosis' hold lifted, nothing else"
        )
    return f"{request.action} approved from {request.by}"
