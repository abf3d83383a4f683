"""The PostgreSQL engine: one store shared by several healer replicas.

Selected by HEALER_DATABASE_URL (`postgresql://…`). Every write transaction
first takes one transaction-scoped advisory lock, so writers are serialized
across all replicas exactly as SQLite serializes them within one file: each
room's read-then-write steps (claiming an incident, joining an alert to an open
one, grouping a digest) stay correct without per-room locking. A transaction is
a few milliseconds; the healer's write load is far below what one lock admits.

One connection per process, guarded by a lock, in autocommit mode for reads.
A connection that broke (the server restarted) is dropped and made again on
the next call; the call that saw it break raises StoreError, which every caller
treats as transient (intake answers 503, an incident is handed back).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from healer.database import Database, Params, Row, Tx
from healer.errors import StoreError
from healer.store.schema import MIGRATIONS, POST_MIGRATION, SCHEMA, postgres

# pg_advisory_xact_lock key for "a writer of the healer's store" (any constant will do).
WRITE_LOCK = 0x17E4_EA1E
CONNECT_TIMEOUT_SECONDS = 5
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """The rooms' SQL (`?` and `:name` placeholders) in psycopg's `%s` / `%(name)s` style.

    The SQL text is the project's own, never built from input: values always travel
    as parameters."""
    sql = sql.replace("%", "%%").replace("?", "%s")
    return _NAMED.sub(r"%(\1)s", sql)


class _PgTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> psycopg.Cursor[Any]:
        return self._conn.execute(to_pyformat(sql), params or None)


class PostgresDatabase(Database):
    shared = True  # other replicas use this store at the same time

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        with self._tx() as db:
            # Schema changes are writes too: two replicas starting at once take turns.
            for statement in postgres(SCHEMA).split(";"):
                if statement.strip():
                    db.execute(statement)
            for table, column, decl in MIGRATIONS:
                db.execute(
                    f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {postgres(' ' + decl)}"
                )
            for statement in POST_MIGRATION.split(";"):
                if statement.strip():
                    db.execute(statement)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(
                    self.url,
                    autocommit=True,
                    row_factory=dict_row,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    application_name="itops-healer",
                )
            except psycopg.Error as exc:
                self._conn = None
                raise StoreError(f"store cannot connect: {_reason(exc)}") from exc
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[Tx]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                    yield _PgTx(conn)
            except psycopg.Error as exc:
                raise StoreError(f"store cannot write: {_reason(exc)}") from exc

    def _query(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            conn = self._connection()
            try:
                rows: list[Row] = conn.execute(to_pyformat(sql), params or None).fetchall()
            except psycopg.Error as exc:
                raise StoreError(f"store cannot read: {_reason(exc)}") from exc
            return rows

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _reason(exc: psycopg.Error) -> str:
    # One line: psycopg's messages can carry a DETAIL/HINT over several.
    return " ".join(str(exc).split()) or type(exc).__name__
