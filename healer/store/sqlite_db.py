"""The SQLite engine: the embedded default, one file in HEALER_DATA_DIR.

One connection guarded by a lock serves the whole process: intake, workers and
the API all make short transactions, and SQLite in WAL mode commits one in well
under a millisecond. Other processes (the `status` and `clear-quarantine` CLI)
open the same file safely; `busy_timeout` makes them wait rather than fail.
SQLite's errors leave here as StoreError, the one kind callers handle.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from healer.database import Database, Params, Row, Tx
from healer.errors import StoreError
from healer.store.schema import MIGRATIONS, POST_MIGRATION, SCHEMA


class SqliteDatabase(Database):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of this process (kill -9); only a
        # power cut can lose the last transactions, which Alertmanager re-sends.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._db.executescript(SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        for table, column, decl in MIGRATIONS:
            have = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        self._db.executescript(POST_MIGRATION)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[Tx]:
        """One write transaction. SQLite's errors (disk full, I/O error, locked past the
        busy timeout) leave here as StoreError, the one kind callers handle."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"store cannot write: {exc}") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"store cannot write: {exc}") from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _insert(self, db: Tx, sql: str, params: Params = ()) -> int | None:
        # The rowid rather than `RETURNING id`: SQLite's RETURNING costs some 15 µs more
        # per INSERT (measured on the incidents table), which the webhook pays per alert.
        cursor = cast(sqlite3.Cursor, db.execute(sql, params))
        return cursor.lastrowid if cursor.rowcount > 0 else None

    def _query(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            try:
                return list(self._db.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"store cannot read: {exc}") from exc
