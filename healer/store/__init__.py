"""Durable state: incidents, their steps and actions, the work queue, quarantines.

A package of rooms, one per concern (intake, incidents, reads, queue, quarantine;
the outbox's rows live beside notify/), composed into a `Store` on an engine:
`SqliteStore` (the embedded default, one file in HEALER_DATA_DIR) or
`PostgresStore` (healer/store/postgres.py: several replicas, HEALER_DATABASE_URL).
The rooms write portable SQL once (healer/database.py); consumers that can hold
narrow views of the store (healer/intake.py, healer/web/context.py).
"""

from healer.store.intake import IngestResult
from healer.store.quarantine import QuarantineEntry
from healer.store.rooms import Store
from healer.store.schema import OPEN, SERVE
from healer.store.sqlite import SqliteStore

__all__ = ["OPEN", "SERVE", "IngestResult", "QuarantineEntry", "SqliteStore", "Store"]
