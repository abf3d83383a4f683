"""Every room of the store together, engine to be chosen: the type consumers name."""

from __future__ import annotations

from healer.notify.outbox_store import OutboxRecords
from healer.store.approvals import ApprovalRecords
from healer.store.intake import IntakeRecords
from healer.store.quarantine import QuarantineRecords
from healer.store.queue import WorkQueue
from healer.store.reads import IncidentReads
from healer.store.recurrences import RecurrenceRecords


class Store(
    IntakeRecords,
    IncidentReads,
    WorkQueue,
    QuarantineRecords,
    OutboxRecords,
    ApprovalRecords,
    RecurrenceRecords,
):
    """All of the healer's durable state on some engine: `SqliteStore` (the embedded
    default) or `PostgresStore` (several replicas). Consumers hold the narrow views in
    healer/intake.py and healer/web/context.py where they can."""
