"""Reading incidents back, whole: the API, the pages, the pipeline and the notifier."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from healer.database import Row
from healer.model import (
    ActionAttempt,
    Alert,
    Approval,
    Decision,
    Dependent,
    Diagnosis,
    Incident,
    IncidentStatus,
    Mode,
    Step,
    Verification,
)
from healer.store.members import MemberRecords
from healer.store.schema import OPEN

# SQLite's default limit on parameters in one statement is 999.
_CHUNK = 500


class IncidentReads(MemberRecords):
    """Incidents are loaded in a constant number of queries per page: the rows, then
    the actions, steps and notifications of all of them at once (one query each)."""

    def get(self, incident_id: int) -> Incident | None:
        found = self._load("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return found[0] if found else None

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
        return self._load(
            f"SELECT * FROM incidents {clause} ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608
            (*params, limit, offset),
        )

    def open_incidents(self) -> list[Incident]:
        return self._load(
            "SELECT * FROM incidents WHERE status = ? OR stage != 'done' ORDER BY id DESC",
            (OPEN,),
        )

    def count_incidents(self) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM incidents")[0]["n"])

    def _load(self, sql: str, params: Sequence[Any]) -> list[Incident]:
        rows = self._query(sql, params)
        ids = [int(r["id"]) for r in rows]
        actions = self._children("actions", "attempt", ids)
        steps = self._children("steps", "id", ids)
        outbox = self._children("outbox", "id", ids)
        approvals = self._children("approvals", "at", ids)
        members: dict[int, list[Dependent]] = {}
        for start in range(0, len(ids), _CHUNK):
            members.update(self.members_of(ids[start : start + _CHUNK]))
        return [
            replace(
                _incident(
                    r,
                    actions.get(int(r["id"]), ()),
                    steps.get(int(r["id"]), ()),
                    outbox.get(int(r["id"]), ()),
                    members.get(int(r["id"]), ()),
                ),
                approvals=tuple(
                    Approval(a["action"], a["at"], a["requested_by"], int(a["round_no"]))
                    for a in approvals.get(int(r["id"]), ())
                ),
            )
            for r in rows
        ]

    def _children(self, table: str, order: str, ids: Sequence[int]) -> dict[int, list[Row]]:
        found: dict[int, list[Row]] = defaultdict(list)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self._query(
                f"SELECT * FROM {table} WHERE incident_id IN ({marks})"  # noqa: S608 - ours
                f" ORDER BY incident_id, {order}",
                chunk,
            ):
                found[int(row["incident_id"])].append(row)
        return found


def _incident(
    row: Row,
    actions: Iterable[Row],
    steps: Iterable[Row],
    notifications: Iterable[Row],
    dependents: Iterable[Dependent] = (),
) -> Incident:
    return Incident(
        id=int(row["id"]),
        container=row["container"],
        alertname=row["alertname"],
        status=IncidentStatus(row["status"]),
        mode=Mode(row["mode"]),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        resolved_at=row["resolved_at"],
        stage=row["stage"],
        alert=Alert.from_json(json.loads(row["alert"])),
        evidence=_json(row["evidence"]),
        diagnosis=_maybe(Diagnosis.from_dict, row["diagnosis"]),
        rules_diagnosis=_maybe(Diagnosis.from_dict, row["rules_diagnosis"]),
        llm_outcome=row["llm_outcome"],
        concluded=bool(row["concluded"]),
        decision=_maybe(Decision.from_dict, row["decision"]),
        actions=tuple(
            ActionAttempt(
                attempt=a["attempt"],
                action=a["action"],
                started_at=a["started_at"],
                finished_at=a["finished_at"],
                result=a["result"],
                error=a["error"],
            )
            for a in actions
        ),
        verification=_maybe(Verification.from_json, row["verification"]),
        notifications=tuple({key: n[key] for key in NOTIFICATION_FIELDS} for n in notifications),
        related_alerts=tuple(json.loads(row["related"])),
        steps=tuple(Step(s["at"], s["step"], s["detail"], s["duration"]) for s in steps),
        acting_alert=_maybe(Alert.from_json, row["acting_alert"]),
        rounds=int(row["rounds"]),
        host=row["host"],
        dependents=tuple(dependents),
        grouped_into=row["grouped_into"],
        memory=_json(row["memory"]),
    )


# What an incident shows of each of its notifications (the outbox row minus its payload).
NOTIFICATION_FIELDS = (
    "id",
    "kind",
    "channel",
    "status",
    "attempts",
    "last_error",
    "created_at",
    "sent_at",
    "message_id",
    "digest_id",
)

T = TypeVar("T")


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def _maybe(parse: Callable[[Any], T], text: str | None) -> T | None:
    return parse(json.loads(text)) if text else None
