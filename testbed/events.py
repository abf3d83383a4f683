"""Recording the daemon's events live, for proofs that must not depend on its buffer.

The daemon keeps only a short buffer of past events (256 on Engine 20.10), so under
a busy test bed `events(since=...)` can miss what happened. `EventRecorder` follows
the stream from before the test acts until it stops, and answers from what it saw.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import docker


@dataclass
class EventRecorder:
    client: docker.DockerClient
    filters: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, action: str, container_id: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for e in self.events
                if e.get("Action") == action
                and (container_id is None or e.get("id") == container_id)
            )

    def times(self, action: str, container_id: str) -> list[float]:
        """When the daemon sent each `action` event of a container (Unix seconds, its clock)."""
        with self._lock:
            return [
                int(e["timeNano"]) / 1e9
                for e in self.events
                if e.get("Action") == action and e.get("id") == container_id
            ]

    def actions(self, container_id: str) -> list[str]:
        with self._lock:
            return [str(e.get("Action")) for e in self.events if e.get("id") == container_id]

    def _add(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)


@contextmanager
def recording(
    client: docker.DockerClient, *, event_type: str = "container", settle: float = 0.3
) -> Iterator[EventRecorder]:
    """Record `event_type` events from now until the block ends (plus `settle` seconds
    so events the daemon is still emitting are counted)."""
    recorder = EventRecorder(client, {"type": event_type})
    stream = client.api.events(decode=True, filters=recorder.filters)
    ready = threading.Event()

    def follow() -> None:
        ready.set()
        try:
            for event in stream:
                recorder._add(event)
        except Exception:  # the stream is closed at the end of the block
            return

    thread = threading.Thread(target=follow, name="event-recorder", daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield recorder
    finally:
        time.sleep(settle)
        stream.close()
        thread.join(timeout=5)
