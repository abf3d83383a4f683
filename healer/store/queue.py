"""The work queue: who processes which incident, for how long (leases), and in what order."""

from __future__ import annotations

from collections.abc import Collection

from healer.database import Database
from healer.model import Incident
from healer.store.schema import SERVE


class WorkQueue(Database):
    def get(self, incident_id: int) -> Incident | None:  # provided by IncidentReads
        raise NotImplementedError

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
                " AND p.container = q.container AND p.host = q.host AND p.id != q.id"
                " AND p.lease_until >= :now)"
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
        rows = self._query("SELECT COUNT(*) AS n FROM incidents WHERE stage = 'queued'")
        return int(rows[0]["n"])
