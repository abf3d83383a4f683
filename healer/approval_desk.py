"""Where a signed link is read and, on its confirmation's POST, applied once.

The desk never touches a container. A restart approval queues the incident for a
round that the policy decides with `approved=True` (which lifts check mode and the
diagnosis' hold, nothing else); resolve and quarantine change the incident's own
state and queue a follow-up email in its thread. Every approval lands on the
incident's timeline, in its JSON (`approvals`), in that follow-up and, with it, in
alerts.log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from healer.approval_token import Action, ApprovalLinkError, Grant, check
from healer.approvals import ApprovalLinks
from healer.clock import Clock
from healer.model import Approval, Decision, Incident, IncidentStatus
from healer.ports import Notifier
from healer.store.approvals import Applied, ApprovalRequest
from healer.store.quarantine import QuarantineEntry

log = logging.getLogger(__name__)


class DeskStore(Protocol):
    """What the desk may do with the store: read an incident, record an approval."""

    def get(self, incident_id: int) -> Incident | None: ...

    def approval_by_nonce(self, nonce: str) -> Approval | None: ...

    def apply_approval(self, request: ApprovalRequest) -> Applied: ...

    def quarantined(self) -> list[QuarantineEntry]: ...


@dataclass(frozen=True)
class Ticket:
    """What a link is, as its page shows it."""

    code: int  # the HTTP status of its page
    message: str
    grant: Grant | None = None
    incident: Incident | None = None
    used: Approval | None = None  # when the link was used before (by whom, when)

    @property
    def actionable(self) -> bool:
        return self.code == 200 and self.used is None and self.grant is not None

    @property
    def action(self) -> Action | None:
        return self.grant.action if self.grant else None


class ApprovalDesk:
    def __init__(
        self,
        links: ApprovalLinks,
        store: DeskStore,
        notifier: Notifier,
        clock: Clock,
        *,
        on_queued: Callable[[int], None],
        on_quarantined: Callable[[int], None] = lambda count: None,
    ) -> None:
        self._key = links.key
        self._links = links
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._on_queued = on_queued
        self._on_quarantined = on_quarantined

    @property
    def enabled(self) -> bool:
        return self._links.ttl_seconds > 0

    def links(self, incident: Incident, base_url: str = "") -> list[dict[str, str]]:
        return self._links.links(incident, base_url)

    def read(self, token: str) -> Ticket:
        """What `token` allows now (for its confirmation page); acts on nothing."""
        try:
            grant = check(self._key.get(), token, self._clock.now())
        except ApprovalLinkError as exc:
            return Ticket(410 if exc.expired else 403, str(exc))
        incident = self._store.get(grant.incident_id)
        if incident is None:
            return Ticket(404, f"incident #{grant.incident_id} does not exist", grant)
        used = self._store.approval_by_nonce(grant.nonce)
        if used is not None:
            return Ticket(200, "this link was used", grant, incident, used)
        if grant.action not in self._offered(incident):
            return Ticket(
                409,
                f"incident #{incident.id} is {incident.status.value}"
                + ("" if incident.concluded else " (being processed)")
                + f": there is nothing to {grant.action.value} now",
                grant,
                incident,
            )
        return Ticket(200, "confirm", grant, incident)

    def approve(self, token: str, confirm: str, by: str) -> Ticket:
        """Apply `token`'s action once, from address `by`; `confirm` is the action the
        confirmation form names (a form that does not say what it confirms does nothing)."""
        ticket = self.read(token)
        if not ticket.actionable or ticket.grant is None or ticket.incident is None:
            if ticket.used is not None:
                return Ticket(409, "this link was already used", *_rest(ticket))
            return ticket
        grant, incident = ticket.grant, ticket.incident
        if confirm != grant.action.value:
            return Ticket(400, "the confirmation does not name this link's action", grant)
        now = self._clock.now()
        applied = self._store.apply_approval(
            ApprovalRequest(
                nonce=grant.nonce,
                incident_id=grant.incident_id,
                action=grant.action.value,
                by=by,
                at=now,
                decision=_decision(grant.action, incident, by),
            )
        )
        if applied is Applied.USED:
            return Ticket(409, "this link was already used", grant, incident)
        if applied is not Applied.APPLIED:
            return Ticket(409, f"incident #{incident.id} no longer waits for a human", grant)
        log.info(
            "incident %d (%s): %s approved from %s",
            incident.id,
            incident.container,
            grant.action.value,
            by,
        )
        self._after(grant.action, incident.id)
        return self.read(token)

    def _after(self, action: Action, incident_id: int) -> None:
        if action is Action.RESTART:
            self._on_queued(1)  # the workers decide the approved round (and email after)
            return
        if action is Action.QUARANTINE:
            self._on_quarantined(len(self._store.quarantined()))
        current = self._store.get(incident_id)
        if current is not None:
            self._notifier.notify(current, "update")

    def _offered(self, incident: Incident) -> tuple[Action, ...]:
        return self._links.offered(incident)


def _rest(ticket: Ticket) -> tuple[Grant | None, Incident | None, Approval | None]:
    return ticket.grant, ticket.incident, ticket.used


def _decision(action: Action, incident: Incident, by: str) -> Decision | None:
    """The decision a person's resolve or quarantine puts in place of the held one."""
    if action is Action.RESOLVE:
        return Decision(
            restart=False,
            status=IncidentStatus.RESOLVED,
            reason=f"marked resolved by a person (approval from {by})",
        )
    if action is Action.QUARANTINE:
        return Decision(
            restart=False,
            status=IncidentStatus.QUARANTINED,
            reason=f"{incident.container} quarantined by a person (approval from {by}); "
            "nothing restarts it until the quarantine is cleared or lifts by itself",
            quarantine=True,
        )
    return None
