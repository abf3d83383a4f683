"""A small pool of threads that drains the incident queue.

The store hands out one incident per container at a time, so two alerts about
the same container never race each other to a restart. Each claim is a lease
the pool renews while it works; a round the store interrupted (disk full, I/O
error) is handed back and resumes by itself once the store writes again. Any
other exception in one incident is logged, counted and contained: the thread
moves on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from healer.clock import Clock
from healer.errors import StoreError
from healer.metrics import HealerMetrics
from healer.model import Incident
from healer.store import SERVE, Store

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 1.0
PACE_SECONDS = 0.02
MAX_PACE_SECONDS = 0.1
# A claim lasts this long unless renewed; renewed every third of it while work goes on.
LEASE_SECONDS = 20.0
# An incident the store interrupted is retried after this long.
STORE_RETRY_SECONDS = 5.0


class IncidentWorkers:
    def __init__(
        self,
        store: Store,
        process: Callable[[Incident], Incident],
        metrics: HealerMetrics,
        clock: Clock,
        *,
        threads: int,
        owner: str = SERVE,
        on_failure: Callable[[Incident, BaseException], None] | None = None,
        intake_busy: Callable[[], bool] | None = None,
    ) -> None:
        self._store = store
        self._process = process
        self._metrics = metrics
        self._clock = clock
        self._threads_wanted = threads
        self.owner = owner
        self._on_failure = on_failure
        self._intake_busy = intake_busy or (lambda: False)
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._active: set[int] = set()  # incidents this process is working on now
        # Incidents the store interrupted and that could not even be handed back yet.
        self._unreleased: set[int] = set()
        self._active_lock = threading.Lock()

    def start(self) -> int:
        """Resume what a crash left behind, then start the threads; returns resumed count."""
        # A store shared with other replicas may hold their work in progress: what a
        # dead replica left is adopted when its lease runs out, never taken at start.
        resumed = 0 if self._store.shared else self._store.requeue_interrupted(self.owner)
        if resumed:
            log.info("resuming %d incident(s) interrupted by a restart", resumed)
        for n in range(self._threads_wanted):
            thread = threading.Thread(target=self._loop, name=f"incident-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        renewer = threading.Thread(
            target=self._renew_loop, args=(self._stop,), name="incident-leases", daemon=True
        )
        renewer.start()
        self._threads.append(renewer)
        self.wake()
        return resumed

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def wake(self, count: int | None = None) -> None:
        """Wake `count` idle threads (all when None). Waking all for one new incident
        would send every idle thread to compete for it in a write transaction."""
        with self._wake:
            if count is None:
                self._wake.notify_all()
            else:
                self._wake.notify(min(count, self._threads_wanted))

    def idle(self) -> bool:
        with self._wake:
            return self._busy == 0 and self._store.queue_depth() == 0

    def run_until_idle(self) -> None:
        """Process, in the calling thread, every incident this owner may claim now
        (a one-shot scan: only those it created)."""
        done = threading.Event()
        renewer = threading.Thread(
            target=self._renew_loop, args=(done,), name="scan-leases", daemon=True
        )
        renewer.start()
        try:
            while not self._stop.is_set():
                incident = self._claim()
                if incident is None:
                    return
                self._handle(incident)
        finally:
            done.set()
            renewer.join(timeout=5)

    def _claim(self) -> Incident | None:
        with self._active_lock:
            active = set(self._active)
        incident = self._store.claim_next(
            self._clock.now(), owner=self.owner, lease_seconds=LEASE_SECONDS, exclude=active
        )
        if incident is not None:
            with self._active_lock:
                self._active.add(incident.id)
        return incident

    def _loop(self) -> None:
        while not self._stop.is_set():
            # While a burst of webhooks arrives, one worker at a time and at half pace:
            # every delivery is answered fast (a slow answer makes Alertmanager deliver
            # again), and the accepted incidents are durable; full pace resumes after.
            if self._intake_busy():
                with self._wake:
                    if self._busy > 0:
                        self._wake.wait(PACE_SECONDS)
                        continue
            try:
                incident = self._claim()
            except Exception:  # a locked/broken database must not kill the thread
                log.exception("claiming the next incident failed")
                self._stop.wait(IDLE_POLL_SECONDS)
                continue
            if incident is None:
                with self._wake:
                    # (When the store fails /healthz says so; the next round tries again.)
                    with contextlib.suppress(StoreError):
                        self._metrics.queue_depth.set(self._store.queue_depth())
                    self._wake.wait(IDLE_POLL_SECONDS)
                continue
            with self._wake:
                self._busy += 1
            started = time.monotonic()
            try:
                self._handle(incident)
            finally:
                with self._wake:
                    self._busy -= 1
            if self._intake_busy():
                self._stop.wait(min(time.monotonic() - started, MAX_PACE_SECONDS))

    def _renew_loop(self, stop: threading.Event) -> None:
        """Keep the claims on incidents in progress, and hand back the ones the store
        interrupted as soon as it writes again (they resume within seconds, not at
        the end of their lease)."""
        renewed = time.monotonic()
        while not stop.wait(STORE_RETRY_SECONDS):
            with self._active_lock:
                active, unreleased = set(self._active), set(self._unreleased)
            for incident_id in unreleased:
                try:
                    self._store.release(incident_id, self._clock.now())
                except StoreError:
                    break  # still failing; try again next tick
                with self._active_lock:
                    self._unreleased.discard(incident_id)
                self.wake(1)
            if active and time.monotonic() - renewed >= LEASE_SECONDS / 3:
                try:
                    self._store.renew(active, self._clock.now() + LEASE_SECONDS)
                    renewed = time.monotonic()
                except StoreError as exc:
                    log.warning("could not renew incident leases: %s", exc)

    def _handle(self, incident: Incident) -> None:
        # (The queue-depth gauge is refreshed when idle and on every scrape; counting
        # the queue per incident would cost O(queue) under exactly the load it measures.)
        try:
            self._process(incident)
        except StoreError as exc:
            # Transient: the incident is not failed, it is handed back. If even that
            # write fails, the lease loop retries until the store writes again.
            log.warning(
                "incident %d (%s) interrupted: %s; retrying in %gs",
                incident.id,
                incident.container,
                exc,
                STORE_RETRY_SECONDS,
            )
            try:
                self._store.release(incident.id, self._clock.now() + STORE_RETRY_SECONDS)
            except StoreError:
                with self._active_lock:
                    self._unreleased.add(incident.id)
        except Exception as exc:  # outermost boundary for one incident
            log.exception(
                "incident %d (%s) failed in the pipeline", incident.id, incident.container
            )
            if self._on_failure is not None:
                self._on_failure(incident, exc)
        finally:
            with self._active_lock:
                self._active.discard(incident.id)
