"""The shared store: every room on one PostgreSQL database (HEALER_DATABASE_URL)."""

from __future__ import annotations

from healer.store.postgres_db import PostgresDatabase
from healer.store.rooms import Store


class PostgresStore(PostgresDatabase, Store):
    """The same rooms as `SqliteStore`, on PostgreSQL, for several healer replicas."""
