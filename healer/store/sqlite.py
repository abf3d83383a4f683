"""The embedded store: every room on one SQLite file (WAL) in HEALER_DATA_DIR."""

from __future__ import annotations

from healer.store.rooms import Store
from healer.store.sqlite_db import SqliteDatabase


class SqliteStore(SqliteDatabase, Store):
    """The default: one healer process per data directory (serve holds its lock)."""
