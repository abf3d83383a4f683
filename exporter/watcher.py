"""Keeps the container cache current: one full sync, then the events stream.

The events stream is filtered by the managed label on the daemon side, so the
exporter does no work for containers it does not publish. Every event leads to
one inspect of that container (a few milliseconds) rather than trusting the
event's partial attributes. A periodic full re-sync repairs anything missed,
and a broken stream (daemon restarted) is reopened with backoff, by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from exporter.cache import ContainerCache
from exporter.docker_port import DockerPort, EventStream
from exporter.errors import ExporterError
from fleet.selector import LabelSelector, is_critical

log = logging.getLogger(__name__)

# The lifecycle events the cache reacts to. health_status is matched by prefix
# on the daemon ("health_status: healthy"); exec_* events from health checks are
# deliberately absent: they fire every interval and change nothing we publish.
WATCHED_EVENTS = (
    "create",
    "start",
    "restart",
    "die",
    "oom",
    "kill",
    "stop",
    "pause",
    "unpause",
    "destroy",
    "rename",
    "update",
    "health_status",
)

# A `die` always follows these (or, for `oom`, may just have passed): inspecting now
# would only wait on the daemon, which holds the container until the exit is cleaned
# up, and delay that `die` behind it.
EVENT_ONLY = frozenset({"kill", "oom"})

MAX_BACKOFF = 5.0


def event_label(action: str) -> str:
    """`health_status: unhealthy` → `health_status_unhealthy`; other actions unchanged."""
    return action.replace(": ", "_").replace(":", "_").replace(" ", "_")


class DockerWatcher:
    def __init__(
        self,
        docker: DockerPort,
        cache: ContainerCache,
        selector: LabelSelector,
        critical_services: frozenset[str],
        *,
        resync_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._docker = docker
        self._cache = cache
        self._selector = selector
        self._critical = critical_services
        self._resync_seconds = resync_seconds
        self._clock = clock
        self._stop = threading.Event()
        # inspect+upsert of one container is atomic so a slow resync can never
        # overwrite a newer event-driven state with an older inspect.
        self._write_lock = threading.Lock()
        self._stream: EventStream | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self._events_loop, "events"), (self._resync_loop, "resync")):
            thread = threading.Thread(target=target, name=f"exporter-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._close_stream()
        for thread in self._threads:
            thread.join(timeout=5)

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._threads) and not self._stop.is_set()

    # -- sync ----------------------------------------------------------------
    def sync(self) -> None:
        """Full sync: list managed containers, inspect each, drop what vanished."""
        before = self._cache.ids()
        seen: set[str] = set()
        for cid in self._docker.list_managed(self._selector):
            if self._refresh(cid):
                seen.add(cid)
        # Only containers known before the listing can be judged vanished; one
        # created meanwhile was added by its create event and must stay.
        self._cache.remove_many(before - seen)
        self._cache.mark_synced(self._clock())

    def _refresh(
        self, container_id: str, event: str | None = None, at: float | None = None
    ) -> bool:
        """Inspect one container into the cache (counting `event`, seen at `at`, with it);
        False when it is gone or not managed."""
        with self._write_lock:
            facts = self._docker.inspect(container_id)
            if facts is None or not self._selector.matches(facts.labels):
                self._cache.remove(container_id)
                return False
            self._cache.upsert(
                facts,
                critical=is_critical(facts.name, facts.labels, self._critical),
                managed_value=facts.labels.get(self._selector.key, ""),
                event=event,
                at=at,
            )
            return True

    def _publish_exit(self, container_id: str, event: Mapping[str, Any], at: float) -> bool:
        """Show a `die` at once from the event itself; the inspect that follows fills in
        the rest. The daemon holds the container while it cleans up after an exit, so
        that inspect can take a hundred milliseconds the alert does not need to wait for."""
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        code = str(attributes.get("exitCode", ""))
        if not code.lstrip("-").isdigit():
            return False
        with self._write_lock:
            entry = self._cache.get(container_id)
            if entry is None:
                return False
            finished = at if event.get("timeNano") else entry.facts.finished_at
            self._cache.upsert(
                replace(entry.facts, state="exited", exit_code=int(code), finished_at=finished),
                critical=entry.critical,
                managed_value=entry.managed_value,
                event="die",
                at=at,
            )
        return True

    # -- events ----------------------------------------------------------------
    def handle_event(self, event: Mapping[str, Any]) -> None:
        if event.get("Type", "container") != "container":
            return
        action = str(event.get("Action") or event.get("status") or "")
        actor = event.get("Actor") or {}
        cid = str(actor.get("ID") or event.get("id") or "")
        if not action or not cid or action.startswith("exec_"):
            return
        if action == "destroy":
            self._cache.remove(cid)  # its series vanish with it, counters included
            return
        label = event_label(action)
        at = self._event_time(event)
        if action in EVENT_ONLY:
            if action == "oom":
                # The event marks the run: inspect's OOMKilled can miss it (exporter/oom.py).
                self._cache.mark_oom(cid)
            else:
                self._cache.count_event(cid, label, at)
            return
        counted = action == "die" and self._publish_exit(cid, event, at)
        try:
            found = self._refresh(cid, event=None if counted else label, at=at)
        except ExporterError as exc:
            log.warning("inspect after %s event of %s failed: %s", action, cid[:12], exc)
            self._cache.count_error("inspect")
            found = False
        if not found and not counted:
            self._cache.count_event(cid, label, at)

    def _event_time(self, event: Mapping[str, Any]) -> float:
        """When the daemon saw the event (its own clock, as the other timestamps we
        publish); our clock if the event does not say."""
        nanos = event.get("timeNano")
        if nanos:
            return int(nanos) / 1e9
        seconds = event.get("time")
        return float(seconds) if seconds else self._clock()

    def _events_loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                # Subscribe first, then sync: events that happen during the sync
                # wait in the stream and are applied after it (inspect is idempotent).
                self._stream = self._docker.events(self._selector, WATCHED_EVENTS)
                self.sync()
                if backoff > 0.5:
                    log.info("Docker daemon reachable again; cache re-synced")
                backoff = 0.5
                for event in self._stream:  # ends only by raising (exporter/docker_port.py)
                    if self._stop.is_set():
                        return
                    self.handle_event(event)
            except Exception as exc:  # outermost boundary of this thread: log, count, retry
                if self._stop.is_set():
                    return
                self._mark_down("events", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            finally:
                self._close_stream()

    def _resync_loop(self) -> None:
        while not self._stop.wait(self._resync_seconds):
            try:
                self.sync()
            except Exception as exc:  # outermost boundary of this thread
                self._mark_down("sync", exc)
                # Unblock the events thread so it reconnects instead of waiting
                # on a stream a dead daemon will never write to.
                self._close_stream()

    def _mark_down(self, stage: str, exc: Exception) -> None:
        self._cache.count_error(stage)
        if not isinstance(exc, ExporterError):
            log.error("unexpected error in the %s loop", stage, exc_info=exc)  # a bug
        if self._docker.ping():
            # A partial failure (one inspect, a dropped stream): the loop retries;
            # what we know stays published.
            log.warning("Docker %s failed but the daemon answers: %s", stage, exc)
            return
        was_up = self._cache.snapshot()[2].docker_up
        self._cache.set_docker_up(False)
        # What we knew is no longer known: publish no container series rather
        # than stale ones (DockerDaemonUnreachable covers this period).
        self._cache.clear()
        self._docker.reset()
        if was_up:
            log.warning("Docker daemon unreachable (%s: %s); retrying", stage, exc)
        else:
            log.debug("Docker daemon still unreachable (%s: %s)", stage, exc)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
