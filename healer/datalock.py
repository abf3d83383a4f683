"""One `serve` per SQLite data directory, enforced by a lock the OS releases on death.

Two healers on one data directory both ran: the loser marked a healed incident
`failed` and emailed so. `serve` now holds an exclusive `flock` on
`HEALER_DATA_DIR/serve.lock` for its whole life; the kernel drops it when the
process dies, however it dies (kill -9 included), so a stale lock never blocks a
restart. One-shot scans (`check`, `heal`) share the directory without the lock:
they claim only the incidents they create. Several replicas are the job of a shared
PostgreSQL store, not of one SQLite file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from healer.errors import ConfigError

LOCK_NAME = "serve.lock"


def hold(data_dir: Path) -> IO[str]:
    """Take the data directory for this process; keep the returned file open.

    Raises ConfigError naming HEALER_DATA_DIR (and the holder's pid) when another
    `serve` has it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(
            f"HEALER_DATA_DIR={str(data_dir)!r}: another healer serve (pid {holder}) uses "
            "this data directory; stop it, or give this one its own HEALER_DATA_DIR"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def release(handle: IO[str]) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    handle.close()
