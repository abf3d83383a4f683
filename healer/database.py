"""What every room of the store needs from its database engine, and nothing more.

Rooms (intake, incidents, reads, queue, quarantine, the outbox's rows) write
their SQL once, in the portable subset SQLite and PostgreSQL share (`?`
placeholders or `:name` ones, `ON CONFLICT DO NOTHING`), ask for a new row's
id through `_insert`, and read rows by column name. An engine (sqlite_db.py,
postgres_db.py) supplies transactions, reads and the one error boundary: its
errors leave as StoreError.
Write transactions are serialized, one at a time across every process that
shares the store, so each room's read-then-write steps need no further locking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Params = Sequence[Any] | Mapping[str, Any]


class Row(Protocol):
    """A result row, read by column name (sqlite3.Row and psycopg's dict rows)."""

    def __getitem__(self, key: str) -> Any: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """A write transaction in progress."""

    def execute(self, sql: str, params: Params = ()) -> Cursor: ...


class Database:
    """The base every room extends; an engine class provides the three methods."""

    # True when other healer processes may use the same store at the same time
    # (PostgreSQL): then no process may assume it alone left work half done.
    shared = False

    def _tx(self) -> AbstractContextManager[Tx]:
        """One write transaction, serialized with every other writer of the store."""
        raise NotImplementedError

    def _query(self, sql: str, params: Params = ()) -> list[Row]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _insert(self, db: Tx, sql: str, params: Params = ()) -> int | None:
        """Run one INSERT in `db`: the new row's id, or None when ON CONFLICT DO NOTHING
        skipped it. Portable: `RETURNING id` (SQLite's engine reads the rowid instead)."""
        row = db.execute(f"{sql} RETURNING id", params).fetchone()
        return None if row is None else int(row["id"])

    def check_writable(self, now: float) -> None:
        """Raise StoreError unless a transaction commits now (the /healthz probe)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO health (id, at) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                (now,),
            )

    def prune_alert_keys(self, older_than: float) -> int:
        with self._tx() as db:
            return db.execute(
                "DELETE FROM alert_keys WHERE received_at < ?", (older_than,)
            ).rowcount
