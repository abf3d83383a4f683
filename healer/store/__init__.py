"""Durable state: incidents, their steps and actions, the work queue, quarantines.

A package of rooms, one per concern (intake, incidents, reads, queue, quarantine;
the outbox's rows live beside notify/), composed into one SQLite `Store`.
Consumers depend on the narrow views in `ports.py`, so a second engine can
implement them without touching the pipeline.
"""

from healer.store.intake import IngestResult
from healer.store.quarantine import QuarantineEntry
from healer.store.schema import OPEN, SERVE
from healer.store.sqlite import Store

__all__ = ["OPEN", "SERVE", "IngestResult", "QuarantineEntry", "Store"]
