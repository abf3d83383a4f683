"""Incident memory: has this failure happened before, and what did a restart buy?

Each incident's failure gets a signature: the container (and host), the rules'
category and signature id, and the classifier's decisive line with what changes
from one run to the next (times, numbers, ids, addresses) blanked. Incidents
with the same signature are the same failure coming back. Their history, read
from the store alone (no Docker call for the past), says how often it came back
and how long the last heal lasted: until the container's next incident opened,
or until now.

A signature seen HEALER_RECURRENCE_THRESHOLD times or more within
HEALER_RECURRENCE_WINDOW_SECONDS is *recurring*: the recommendation says a
restart only hides it, and with HEALER_RECURRENCE_HOLD=true the policy holds the
restart for a human. Everything here is pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from healer.model import Diagnosis, iso

DAY = 86_400.0

# What differs between two runs of the same failure: blanked before hashing.
_VOLATILE = (
    re.compile(r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(z|[+-]\d{2}:?\d{2})?"),
    re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"),
    # hex ids and addresses: runs of hex digits that mix digits and letters
    re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b"),
    re.compile(r"\d+"),
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class MemorySettings:
    threshold: int = 3  # earlier occurrences in the window that make a failure recurring
    window_seconds: float = 7 * DAY


def normalise(line: str) -> str:
    """A log line as the same failure prints it every time (lowercase, volatile parts #)."""
    text = line.lower()
    for pattern in _VOLATILE:
        text = pattern.sub("#", text)
    return _SPACE.sub(" ", text).strip()


def failure_signature(host: str, container: str, rules: Diagnosis) -> str:
    """The key under which one failure of one container is remembered."""
    parts = (
        host,
        container,
        rules.category.value,
        rules.signature,
        normalise(rules.decisive_line),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Occurrence:
    """An earlier incident with the same signature, as the store remembers it."""

    incident_id: int
    opened_at: float
    closed_at: float | None
    status: str
    restarts: int  # restarts the healer issued in it that Docker accepted
    # When the container's next incident opened (any failure), None if none has since.
    next_opened_at: float | None


@dataclass(frozen=True)
class Memory:
    signature: str
    seen: int  # earlier incidents with this signature within the window
    window_seconds: float
    recurring: bool
    summary: str  # "seen 4 times in 7 days; last time a restart healed it and …"
    first_seen_at: float | None = None  # shown, not read back (from_dict leaves it None)
    last_incident: int | None = None
    last_outcome: str = ""
    stayed_up_seconds: float | None = None  # after the last occurrence concluded
    still_up: bool = False  # no incident since the last one concluded

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "seen": self.seen,
            "window_days": round(self.window_seconds / DAY, 2),
            "recurring": self.recurring,
            "summary": self.summary,
            "first_seen_at": iso(self.first_seen_at),
            "last_incident": self.last_incident,
            "last_outcome": self.last_outcome,
            "stayed_up_seconds": (
                None if self.stayed_up_seconds is None else round(self.stayed_up_seconds, 1)
            ),
            "still_up": self.still_up,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        return cls(
            signature=str(data["signature"]),
            seen=int(data["seen"]),
            window_seconds=float(data["window_days"]) * DAY,
            recurring=bool(data["recurring"]),
            summary=str(data["summary"]),
            last_incident=data.get("last_incident"),
            last_outcome=str(data.get("last_outcome", "")),
            stayed_up_seconds=data.get("stayed_up_seconds"),
            still_up=bool(data.get("still_up", False)),
        )


def span_text(seconds: float) -> str:
    """A stretch of time as people say it: 45 s, 12 min, 3 h 12 min, 2 d 4 h."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _last_time(last: Occurrence, now: float) -> tuple[str, float | None, bool]:
    """(the phrase, how long it stayed up, whether it is still up)."""
    up: float | None = None
    still = False
    if last.closed_at is not None and last.status in ("healed", "skipped", "resolved"):
        end = last.next_opened_at if last.next_opened_at is not None else now
        still = last.next_opened_at is None
        up = max(end - last.closed_at, 0.0)
    stay = ""
    if up is not None:
        stay = (
            f" and it has stayed up {span_text(up)} so far"
            if still
            else (f" and it stayed up {span_text(up)}")
        )
    if last.status == "healed":
        restart = "a restart" if last.restarts <= 1 else f"{last.restarts} restarts"
        return f"last time {restart} healed it{stay}", up, still
    if last.status in ("skipped", "resolved") and last.restarts == 0:
        return f"last time it recovered without a restart{stay}", up, still
    if last.status == "failed":
        return "last time restarts did not bring it back", None, False
    if last.status == "quarantined":
        return "last time it was quarantined", None, False
    return f"last time it ended {last.status}", up, still


def recall(
    signature: str,
    earlier: Sequence[Occurrence],
    settings: MemorySettings,
    *,
    now: float,
) -> Memory:
    """What the store's `earlier` incidents (same signature, within the window, oldest
    first) say about this failure."""
    days = settings.window_seconds / DAY
    window = f"{days:g} days" if days != 1 else "1 day"
    seen = len(earlier)
    recurring = seen >= settings.threshold
    if not earlier:
        return Memory(
            signature=signature,
            seen=0,
            window_seconds=settings.window_seconds,
            recurring=False,
            summary=f"first time in {window}",
        )
    last = earlier[-1]
    phrase, up, still = _last_time(last, now)
    return Memory(
        signature=signature,
        seen=seen,
        window_seconds=settings.window_seconds,
        recurring=recurring,
        summary=f"seen {_times(seen)} before in {window}; {phrase}",
        first_seen_at=earlier[0].opened_at,
        last_incident=last.incident_id,
        last_outcome=last.status,
        stayed_up_seconds=up,
        still_up=still,
    )


def with_recurrence(diagnosis: Diagnosis, memory: Memory) -> Diagnosis:
    """The diagnosis a person reads when the failure keeps coming back: a restart only
    hides it, so the recommendation says so first (restart_safe is left as it was)."""
    if not memory.recurring:
        return diagnosis
    lead = f"This failure keeps coming back ({memory.summary}): a restart only hides this."
    return replace(diagnosis, recommendation=f"{lead} Find the cause. {diagnosis.recommendation}")


class MemoryStore(Protocol):
    """The store's memory room (healer/store/recurrences.py)."""

    def occurrences(self, signature: str, before_id: int, since: float) -> list[Occurrence]: ...

    def remember(
        self, incident_id: int, signature: str, memory: dict[str, Any], now: float
    ) -> None: ...


def recall_for(
    store: MemoryStore,
    settings: MemorySettings,
    *,
    incident_id: int,
    host: str,
    container: str,
    rules: Diagnosis,
    now: float,
) -> Memory:
    """Recall the incident's failure from the store's own history, and record both."""
    signature = failure_signature(host, container, rules)
    earlier = store.occurrences(signature, incident_id, now - settings.window_seconds)
    memory = recall(signature, earlier, settings, now=now)
    store.remember(incident_id, signature, memory.to_dict(), now)
    return memory
