"""A small pool of threads that drains the incident queue.

The store hands out one incident per container at a time, so two alerts about
the same container never race each other to a restart. Any exception in one
incident is logged, counted and contained: the thread moves on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from healer.metrics import HealerMetrics
from healer.model import Incident
from healer.store import Store

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 1.0
PACE_SECONDS = 0.02
MAX_PACE_SECONDS = 0.1


class IncidentWorkers:
    def __init__(
        self,
        store: Store,
        process: Callable[[Incident], Incident],
        metrics: HealerMetrics,
        *,
        threads: int,
        on_failure: Callable[[Incident, BaseException], None] | None = None,
        intake_busy: Callable[[], bool] | None = None,
    ) -> None:
        self._store = store
        self._process = process
        self._metrics = metrics
        self._threads_wanted = threads
        self._on_failure = on_failure
        self._intake_busy = intake_busy or (lambda: False)
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0

    def start(self) -> int:
        """Resume what a crash left behind, then start the threads; returns resumed count."""
        resumed = self._store.requeue_interrupted()
        if resumed:
            log.info("resuming %d incident(s) interrupted by a restart", resumed)
        for n in range(self._threads_wanted):
            thread = threading.Thread(target=self._loop, name=f"incident-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
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
        """Process everything queued in the calling thread (for one-shot scans)."""
        while True:
            incident = self._store.claim_next()
            if incident is None:
                return
            self._handle(incident)

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
                incident = self._store.claim_next()
            except Exception:  # a locked/broken database must not kill the thread
                log.exception("claiming the next incident failed")
                self._stop.wait(IDLE_POLL_SECONDS)
                continue
            if incident is None:
                with self._wake:
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

    def _handle(self, incident: Incident) -> None:
        # (The queue-depth gauge is refreshed when idle and on every scrape; counting
        # the queue per incident would cost O(queue) under exactly the load it measures.)
        try:
            self._process(incident)
        except Exception as exc:  # outermost boundary for one incident
            log.exception(
                "incident %d (%s) failed in the pipeline", incident.id, incident.container
            )
            if self._on_failure is not None:
                self._on_failure(incident, exc)
