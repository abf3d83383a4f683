"""The exporter's view of the managed containers, shared by the writer threads and scrapes.

Writers (events, resync, stats) replace whole immutable entries under one lock;
a scrape takes a snapshot reference and renders without holding it. `version`
moves on every change so the rendered exposition can be reused between changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from exporter.oom import OomMark, apply_mark, mark_run
from exporter.operations import NONE, Operation, advance
from fleet.facts import ContainerFacts


@dataclass(frozen=True)
class Usage:
    """One background stats sample."""

    cpu_seconds: float
    memory_bytes: float
    sampled_at: float


@dataclass(frozen=True)
class Entry:
    facts: ContainerFacts
    critical: bool
    managed_value: str
    events: tuple[tuple[str, int], ...] = ()
    usage: Usage | None = None
    # Set by an `oom` event; keeps the run OOM-killed whatever a later inspect says.
    oom_mark: OomMark | None = None
    # The last stop, restart or recreation someone asked for (exporter/operations.py).
    operation: Operation = NONE

    def count_event(self, event: str, at: float | None = None) -> Entry:
        """Count `event`; with its time `at`, also advance the operation it may be part of."""
        counts = dict(self.events)
        counts[event] = counts.get(event, 0) + 1
        operation = self.operation if at is None else advance(self.operation, event, at)
        return replace(self, events=tuple(sorted(counts.items())), operation=operation)


@dataclass(frozen=True)
class SelfState:
    docker_up: bool = False
    last_sync: float | None = None
    events_received: int = 0
    errors: tuple[tuple[str, int], ...] = field(default=())


ERROR_STAGES = ("sync", "events", "inspect", "stats")


class ContainerCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._self = SelfState(errors=tuple((stage, 0) for stage in ERROR_STAGES))
        self._version = 0

    # -- reads -------------------------------------------------------------
    def snapshot(self) -> tuple[int, tuple[Entry, ...], SelfState]:
        with self._lock:
            return self._version, tuple(self._entries.values()), self._self

    def get(self, container_id: str) -> Entry | None:
        with self._lock:
            return self._entries.get(container_id)

    def ids(self) -> set[str]:
        with self._lock:
            return set(self._entries)

    def running_ids(self) -> list[str]:
        with self._lock:
            return [cid for cid, e in self._entries.items() if e.facts.state == "running"]

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    # -- writes ------------------------------------------------------------
    def upsert(
        self,
        facts: ContainerFacts,
        *,
        critical: bool,
        managed_value: str,
        event: str | None = None,
        at: float | None = None,
    ) -> None:
        """Store a container's facts; `event` (seen at Unix time `at`) is counted in the
        same step, so a scrape never sees the new state without the event that caused it,
        nor a container an operation left down without that operation.

        `oom_killed` is stored as published (exporter/oom.py): true for an ended run that
        an `oom` event marked even if Docker's facts say otherwise, false for a live run."""
        with self._lock:
            old = self._entries.get(facts.id)
            usage = old.usage if old else None
            if usage is not None and facts.state != "running":
                usage = None  # a stopped container has no current usage to show
            facts, mark = apply_mark(facts, old.oom_mark if old else None)
            entry = Entry(
                facts=facts,
                critical=critical,
                managed_value=managed_value,
                events=old.events if old else (),
                usage=usage,
                oom_mark=mark,
                operation=old.operation if old else NONE,
            )
            if event is not None:
                entry = entry.count_event(event, at)
                self._self = replace(self._self, events_received=self._self.events_received + 1)
            self._entries[facts.id] = entry
            self._version += 1

    def count_event(self, container_id: str, event: str, at: float | None = None) -> None:
        with self._lock:
            self._self = replace(self._self, events_received=self._self.events_received + 1)
            entry = self._entries.get(container_id)
            if entry is not None:
                self._entries[container_id] = entry.count_event(event, at)
            self._version += 1

    def mark_oom(self, container_id: str) -> None:
        """Count an `oom` event and mark the container's current run as OOM-killed,
        in one step: a scrape never sees the count without the mark."""
        with self._lock:
            self._self = replace(self._self, events_received=self._self.events_received + 1)
            entry = self._entries.get(container_id)
            if entry is not None:
                facts, mark = apply_mark(entry.facts, mark_run(entry.facts))
                self._entries[container_id] = replace(
                    entry.count_event("oom"), facts=facts, oom_mark=mark
                )
            self._version += 1

    def remove(self, container_id: str) -> None:
        with self._lock:
            if self._entries.pop(container_id, None) is not None:
                self._version += 1

    def remove_many(self, container_ids: Iterable[str]) -> None:
        with self._lock:
            for cid in container_ids:
                self._entries.pop(cid, None)
            self._version += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._version += 1

    def set_usage(self, container_id: str, usage: Usage) -> None:
        with self._lock:
            entry = self._entries.get(container_id)
            if entry is not None and entry.facts.state == "running":
                self._entries[container_id] = replace(entry, usage=usage)
                self._version += 1

    def set_docker_up(self, up: bool) -> None:
        with self._lock:
            if self._self.docker_up != up:
                self._self = replace(self._self, docker_up=up)
                self._version += 1

    def mark_synced(self, when: float) -> None:
        with self._lock:
            self._self = replace(self._self, last_sync=when, docker_up=True)
            self._version += 1

    def count_error(self, stage: str) -> None:
        with self._lock:
            errors = dict(self._self.errors)
            errors[stage] = errors.get(stage, 0) + 1
            self._self = replace(self._self, errors=tuple(sorted(errors.items())))
            self._version += 1
