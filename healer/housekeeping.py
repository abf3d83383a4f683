"""Periodic chores: lift quarantines that recovered, forget old dedupe keys, and
queue "resolved" follow-ups the intake could not (the store failed just after it
recorded the resolution, and Alertmanager's retry is then a duplicate).

A quarantined container is released once it has run (and passed its health
check, when it has one) without a restart for HEALER_QUARANTINE_RELEASE_SECONDS:
whoever fixed it does not also have to remember to clear the quarantine.
"""

from __future__ import annotations

import logging
import threading

from healer.clock import Clock
from healer.errors import HealerError
from healer.hosts import DockerHosts
from healer.metrics import HealerMetrics
from healer.policy import PolicySettings
from healer.ports import Notifier
from healer.store import Store

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 15.0
# Alertmanager re-sends a firing alert with the same key for as long as it fires;
# a week covers any repeat_interval while keeping the table small.
DEDUPE_KEEP_SECONDS = 7 * 86_400
# A follow-up older than this is not worth sending any more.
FOLLOW_UP_WITHIN_SECONDS = 86_400


class Housekeeper:
    def __init__(
        self,
        policy: PolicySettings,
        store: Store,
        hosts: DockerHosts,
        clock: Clock,
        metrics: HealerMetrics,
        notifier: Notifier,
        *,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self._policy = policy
        self._store = store
        self._hosts = hosts
        self._clock = clock
        self._metrics = metrics
        self._notifier = notifier
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[str]:
        """Release recovered quarantines; returns the containers released."""
        now = self._clock.now()
        released = []
        for entry in self._store.quarantined():
            try:
                host, _, name = entry.container.rpartition("/")  # see quarantine_key
                port = self._hosts.port(host)
                facts = port.find(name) if port is not None else None
            except HealerError:
                continue  # Docker unreachable: decide next time
            if (
                facts is None
                or not facts.running
                or facts.health_status in ("unhealthy", "starting")
            ):
                continue
            stable_since = max(facts.started_at or now, entry.since)
            if now - stable_since < self._policy.quarantine_release_seconds:
                continue
            if self._store.clear_quarantine(entry.container):
                released.append(entry.container)
                log.info(
                    "quarantine of %s lifted: running without a restart for %.0fs",
                    entry.container,
                    now - stable_since,
                )
        self._metrics.quarantined.set(len(self._store.quarantined()))
        self._store.prune_alert_keys(now - DEDUPE_KEEP_SECONDS)
        for incident_id in self._store.resolutions_untold(now - FOLLOW_UP_WITHIN_SECONDS):
            incident = self._store.get(incident_id)
            if incident is not None:
                self._notifier.notify(incident, "resolved")
        return released

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_once()
            except Exception:  # outermost boundary of the thread
                log.exception("housekeeping failed")
