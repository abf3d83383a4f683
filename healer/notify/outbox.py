"""The durable outbox: notifications are written first, delivered after.

`OutboxNotifier.notify()` (the pipeline's `Notifier`) only writes: one outbox
row per channel, keyed so the same notification is never queued twice, and
one alerts.log line. A single sender thread then delivers what is due:

- transient failures (server down, 4xx) are retried with exponential backoff;
  the next attempt time is stored in the row, so a healer restart resumes the
  schedule instead of forgetting it;
- permanent failures (535 bad credentials, 550 quota, refused addresses) are
  recorded as failed at once — in the log, `healer_emails_total{outcome=
  "failed"}` and the incident's `notifications` — and the message is kept as
  an .eml file;
- an alert storm leaves as one digest (see `healer.notify.grouping`).

Delivery is at least once: a healer killed between the server's "250 OK" and
the row's update sends that message again after a restart, with the same
Message-ID so mail clients can fold the copy.

Why one file over 300 lines: it is one sender thread's state machine (due,
held, grouped, sent, retried, failed); its steps read best side by side.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from healer.clock import Clock
from healer.metrics import HealerMetrics
from healer.model import Incident
from healer.notify.alerts_log import AlertsLog, incident_record
from healer.notify.delivery import (
    Channel,
    Envelope,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
)
from healer.notify.grouping import Candidate, Plan, plan
from healer.notify.outbox_store import OutboxItem
from healer.notify.settings import OutboxSettings
from healer.notify.view import (
    ViewSettings,
    digest_view,
    duration_text,
    fallback_view,
    incident_view,
)
from healer.store import Store

log = logging.getLogger(__name__)
# Follow-ups thread under the incident's first email and wait until it has left:
# "resolved" when its alert resolves, "update" when a held incident was decided again.
FOLLOW_UPS = frozenset({"resolved", "update"})
# Longer than any one delivery takes (SMTP_TIMEOUT_SECONDS is 20 by default): a sender
# that dies mid-send lets another send the item after this long (at least once).
SEND_LEASE_SECONDS = 120.0

IDLE_POLL_SECONDS = 1.0
HOLD_POLL_SECONDS = 0.25  # while a storm or a follow-up is held back


class OutboxNotifier:
    """The healer's Notifier: durable queue + one background sender thread."""

    def __init__(
        self,
        store: Store,
        channels: Sequence[Channel],
        *,
        view_settings: ViewSettings,
        alerts_log: AlertsLog,
        clock: Clock,
        metrics: HealerMetrics,
        settings: OutboxSettings,
        startup_notes: Sequence[str] = (),
    ) -> None:
        self._store = store
        self._channels: dict[str, Channel] = {c.name: c for c in channels}
        self._view_settings = view_settings
        self._alerts_log = alerts_log
        self._clock = clock
        self._metrics = metrics
        self.settings = settings
        self._startup_notes = tuple(startup_notes)
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        # Who holds an item while sending it: replicas sharing a store never both send it.
        self._sender = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._thread: threading.Thread | None = None

    @property
    def channels(self) -> Mapping[str, Channel]:
        return self._channels

    # -- Notifier ----------------------------------------------------------------
    def notify(self, incident: Incident, kind: str) -> None:
        """Queue `kind` for `incident` on every channel, once; never sends here."""
        now = self._clock.now()
        try:
            view = incident_view(incident, kind, self._view_settings, now=now)
        except Exception as exc:  # a layout bug must not cost the operator the email
            log.exception(
                "laying out incident %d failed; queueing a bare notification", incident.id
            )
            view = fallback_view(
                incident, kind, self._view_settings, now=now, error=type(exc).__name__
            )
        # Incident emails wait group_wait so a storm can be seen before it floods.
        not_before = now + self.settings.group_wait_seconds if kind == "incident" else now
        queued = [
            name
            for name in self._channels
            if self._store.outbox_add(
                incident_id=incident.id,
                kind=kind,
                channel=name,
                dedupe_key=f"incident:{incident.id}:{_round_kind(incident, kind)}:{name}",
                payload={"view": view},
                now=now,
                not_before=not_before,
            )
            is not None
        ]
        if not queued:
            return  # queued before: a resumed incident notifies again, harmlessly
        record = incident_record(incident, kind, now, subject=view.get("subject"), channels=queued)
        try:
            self._alerts_log.write(record)
        except OSError:  # the outbox row is the durable record; the log line is a convenience
            log.exception("could not append to %s", self._alerts_log.path)
        self._metrics.outbox_depth.set(self._store.outbox_depth())
        self._wakeup.set()

    # -- the sender thread -------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        for note in self._startup_notes:
            log.warning("%s", note)
        for channel in self._channels.values():
            log.info("notifications: %s via %s", channel.name, channel.describe())
        if not self._store.shared:
            # Alone on this store: a send a crash interrupted is ours to retry now.
            self._store.outbox_release_leases()
        waiting = self._store.outbox_depth()
        if waiting:
            log.info("outbox: %d notification(s) waiting from before; delivering", waiting)
        self._metrics.outbox_depth.set(waiting)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        self._wakeup.set()
        if thread is not None:
            thread.join(timeout=timeout)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wakeup.set()

    def flush(self, timeout: float) -> int:
        """Deliver in the calling thread until nothing is due within `timeout` (one-shot CLI)."""
        deadline = self._clock.now() + timeout
        attempted = 0
        while True:
            attempted += self.deliver_due()
            next_due = self._store.outbox_next_due()
            now = self._clock.now()
            if next_due is None or next_due > deadline or now >= deadline:
                return attempted
            self._clock.sleep(min(max(next_due - now, HOLD_POLL_SECONDS), deadline - now))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                started = time.monotonic()
                self.deliver_due()
                # A pass over a large storm can take tens of milliseconds; waiting ten
                # times that long keeps the sender under a tenth of the CPU (and of the
                # store) that the webhook intake needs most in exactly that moment.
                wait = max(self._next_wait(), 10 * (time.monotonic() - started))
            except Exception:  # outermost boundary of the thread: log, back off, carry on
                log.exception("outbox pass failed")
                wait = IDLE_POLL_SECONDS
            self._wakeup.wait(wait)
            self._wakeup.clear()

    def _next_wait(self) -> float:
        next_due = self._store.outbox_next_due()
        if next_due is None:
            return IDLE_POLL_SECONDS
        delta = next_due - self._clock.now()
        # Due but not sent means held (a storm settling, a follow-up awaiting its parent).
        return HOLD_POLL_SECONDS if delta <= 0 else min(delta, IDLE_POLL_SECONDS)

    # -- one pass ----------------------------------------------------------------
    def deliver_due(self) -> int:
        """Deliver (or digest, or hold) everything due now; returns items attempted."""
        now = self._clock.now()
        attempted = 0
        due = self._store.outbox_due_refs(now)
        stale = [item_id for item_id, channel in due if channel not in self._channels]
        for item in self._store.outbox_get(stale):
            self._fail(item, f"channel {item.channel!r} is no longer configured")
        for name, channel in self._channels.items():
            ids = [item_id for item_id, c in due if c == name]
            if not ids:
                continue
            decided = self._plan(name, now)
            for member_ids in decided.digests:
                self._make_digest(name, member_ids, now)
            # Only the items that may leave now are read with their (large) payloads.
            for item in self._store.outbox_get([i for i in ids if i not in decided.held]):
                if self._awaits_parent(item):
                    continue
                self._deliver(channel, item)
                attempted += 1
        self._metrics.outbox_depth.set(self._store.outbox_depth())
        return attempted

    def _plan(self, channel: str, now: float) -> Plan:
        candidates = [
            Candidate(item_id=item_id, incident_id=incident_id, opened_at=opened, due_at=due_at)
            for item_id, incident_id, opened, due_at in self._store.outbox_storm_candidates(channel)
        ]
        return plan(candidates, self._store.incidents_in_flight, now, self.settings.grouping)

    def _make_digest(self, channel: str, member_ids: Sequence[int], now: float) -> None:
        members = self._store.outbox_get(member_ids)
        views = [m.payload.get("view", {}) for m in members]
        incidents = [m.incident_id for m in members if m.incident_id is not None]
        digest_id = self._store.outbox_group(
            [m.id for m in members],
            kind="digest",
            channel=channel,
            dedupe_key=f"digest:{channel}:{members[0].id}:{members[-1].id}:{len(members)}",
            payload={
                "view": digest_view(views, self._view_settings, now=now),
                "incidents": incidents,
            },
            now=now,
        )
        if digest_id is None:
            return  # a member changed meanwhile; the next pass plans again
        log.info(
            "alert storm: %d incident notifications leave as one %s digest (outbox #%d)",
            len(members),
            channel,
            digest_id,
        )

    def _awaits_parent(self, item: OutboxItem) -> bool:
        """A follow-up waits until its incident's own email has left (or failed)."""
        if item.kind not in FOLLOW_UPS or item.incident_id is None:
            return False
        return any(
            other.kind == "incident"
            and other.channel == item.channel
            and other.status in ("pending", "grouped")
            for other in self._store.outbox_for_incident(item.incident_id)
        )

    def _envelope(self, item: OutboxItem) -> Envelope:
        view: dict[str, Any] = dict(item.payload.get("view", {}))
        references: list[str] = []
        if item.kind in FOLLOW_UPS and item.incident_id is not None:
            root = str(view.get("root_message_id") or "")
            references = [root] if root else []
            for other in self._store.outbox_for_incident(item.incident_id):
                if other.kind != "incident" or other.channel != item.channel:
                    continue
                if other.message_id and other.message_id not in references:
                    references.append(other.message_id)  # the digest it went out in
                parent_subject = other.payload.get("view", {}).get("subject")
                if parent_subject:
                    # Same subject (with Re:) and References: Gmail and Outlook thread it.
                    view["subject"] = f"Re: {parent_subject}"
        return Envelope(item.id, item.kind, view, item.created_at, tuple(references))

    def _deliver(self, channel: Channel, item: OutboxItem) -> None:
        # A server's answer is outside text too (an SMTP reply, Slack's body): it is
        # cleaned before the store, the incident's steps or the log see it.
        clean = self._view_settings.redactor.clean
        now = self._clock.now()
        if not self._store.outbox_claim(item.id, self._sender, now + SEND_LEASE_SECONDS, now):
            return  # another replica is sending it
        try:
            receipt = channel.deliver(self._envelope(item))
        except TransientDeliveryError as exc:
            self._retry(item, clean(str(exc)))
        except PermanentDeliveryError as exc:
            self._fail(item, clean(str(exc)))
        except Exception as exc:  # a bug in a template or channel: keep the item, retry later
            log.exception("delivering outbox #%d (%s) raised", item.id, item.channel)
            self._retry(item, clean(f"internal error: {type(exc).__name__}: {exc}"))
        else:
            self._done(item, receipt)

    def _done(self, item: OutboxItem, receipt: Receipt) -> None:
        now = self._clock.now()
        self._store.outbox_record(
            item.id,
            status=receipt.outcome,
            attempts=item.attempts + 1,
            next_attempt_at=now,
            sent_at=now,
            message_id=receipt.message_id,
        )
        self._metrics.emails.labels(receipt.outcome).inc()
        verb = "sent" if receipt.outcome == "sent" else "written"
        log.info("%s %s %s: %s", item.channel, describe(item), verb, receipt.detail)
        self._steps(item, f"{item.channel} {verb}: {receipt.detail}", now)

    def _retry(self, item: OutboxItem, error: str) -> None:
        now = self._clock.now()
        attempts = item.attempts + 1
        if now - item.created_at >= self.settings.give_up_seconds:
            self._fail(
                item,
                f"gave up after {attempts} attempts over "
                f"{duration_text(now - item.created_at)}: {error}",
            )
            return
        delay = self.settings.backoff(attempts)
        self._store.outbox_record(
            item.id,
            status="pending",
            attempts=attempts,
            next_attempt_at=now + delay,
            last_error=error,
        )
        self._metrics.emails.labels("retry").inc()
        log.warning(
            "%s %s not delivered (attempt %d); retrying in %s: %s",
            item.channel,
            describe(item),
            attempts,
            duration_text(delay),
            error,
        )
        if attempts == 1:  # one line in the incident's history, not one per retry
            self._steps(item, f"{item.channel} delayed, retrying with backoff: {error}", now)

    def _fail(self, item: OutboxItem, error: str) -> None:
        now = self._clock.now()
        self._store.outbox_record(
            item.id,
            status="failed",
            attempts=item.attempts + 1,
            next_attempt_at=now,
            last_error=error,
        )
        self._metrics.emails.labels("failed").inc()
        log.error("%s %s failed for good: %s", item.channel, describe(item), error)
        self._steps(item, f"{item.channel} failed, not retried: {error}", now)

    def _steps(self, item: OutboxItem, detail: str, now: float) -> None:
        incidents = (
            [item.incident_id]
            if item.incident_id is not None
            else [int(i) for i in item.payload.get("incidents", ())]
        )
        if item.kind == "digest":
            detail = f"{detail} (storm digest of {len(incidents)} incidents, outbox #{item.id})"
        for incident_id in incidents:
            self._store.add_step(incident_id, now, "notify", detail[:500])


def _round_kind(incident: Incident, kind: str) -> str:
    """An update is sent once per decision round; the other kinds once per incident."""
    return f"{kind}{incident.rounds}" if kind == "update" else kind


def describe(item: OutboxItem) -> str:
    if item.kind == "digest":
        return f"storm digest #{item.id} ({len(item.payload.get('incidents', ()))} incidents)"
    return f"{item.kind} notification #{item.id} for incident {item.incident_id}"
