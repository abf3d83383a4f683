"""What a model call may cost: an hourly cap, and a cache so one failure is asked about once.

A crash-looping container raises the same alert on every restart; without
these, each one would be a model call (seconds of CPU on a small host, or
money on a hosted API). `failure_signature` is the cache key: the same
failure of the same kind of container maps to the same key, whatever the
timestamps and pids in its log lines.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable

from healer.model import Diagnosis, Evidence

CACHE_MAX_ENTRIES = 512
_ERROR_LINE = re.compile(
    r"error|fatal|panic|exception|traceback|killed|refused|denied|fail|emerg|cannot|unable",
    re.IGNORECASE,
)
_VOLATILE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{12,}|\d+", re.IGNORECASE)


class TokenBucket:
    """At most `per_hour` takes in any hour, refilled smoothly, on an injected clock."""

    def __init__(self, per_hour: int, clock: Callable[[], float]) -> None:
        self.capacity = float(per_hour)
        self._rate = per_hour / 3600.0
        self._tokens = float(per_hour)
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def try_take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class DiagnosisCache:
    """Valid model answers per failure signature, for `ttl` seconds (bounded, oldest evicted)."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Diagnosis]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Diagnosis, float] | None:
        """The cached diagnosis and its age in seconds, if still fresh."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            age = self._clock() - entry[0]
            if age >= self.ttl:
                del self._entries[key]
                return None
            return entry[1], age

    def put(self, key: str, diagnosis: Diagnosis) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock(), diagnosis)
            self._entries.move_to_end(key)
            while len(self._entries) > CACHE_MAX_ENTRIES:
                self._entries.popitem(last=False)


def failure_signature(evidence: Evidence, rules: Diagnosis) -> str:
    """A key under which one failure of one kind of container is diagnosed once.

    Image, the classifier's signature and category, exit code and OOM flag,
    plus a hash of the last error-looking lines with numbers, hex ids and
    timestamps blanked, so a container crash-looping on the same error maps to
    the same key on every restart.
    """
    facts = evidence.facts
    lines = [line for line in evidence.log_lines if _ERROR_LINE.search(line)][-5:]
    if not lines:
        lines = list(evidence.log_lines[-3:])
    lines += list(evidence.health_output[-1:])
    normalized = "\n".join(_VOLATILE.sub("#", line.strip()) for line in lines)
    parts = [
        facts.image if facts else "",
        rules.signature,
        rules.category.value,
        str(facts.exit_code) if facts else "",
        str(facts.oom_killed) if facts else "",
        hashlib.sha256(normalized.encode()).hexdigest(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
