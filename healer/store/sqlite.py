"""The embedded store: every room on one SQLite file (WAL) in HEALER_DATA_DIR."""

from __future__ import annotations

from healer.notify.outbox_store import OutboxRecords
from healer.store.intake import IntakeRecords
from healer.store.quarantine import QuarantineRecords
from healer.store.queue import WorkQueue
from healer.store.reads import IncidentReads


class Store(IntakeRecords, IncidentReads, WorkQueue, QuarantineRecords, OutboxRecords):
    """All of the healer's durable state. Consumers hold it through the narrow views in
    `healer.store.ports`; a second engine implements those, not this class."""
