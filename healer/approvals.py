"""Approval links: which actions an incident offers, and the signed links for them.

Incidents held for a human — open after check mode or a "restart will not help",
or failed — offer *Restart now*, *Quarantine* and *Mark resolved* in their email and
on their page. Each is a signed, single-use link that expires
(HEALER_APPROVAL_TTL_SECONDS); opening it shows a confirmation page, and only the
confirmation's POST acts (healer/approval_desk.py, healer/web/approve.py).

The signing secret is HEALER_APPROVAL_SECRET (or _FILE) when set. Otherwise the first
healer to need it makes one and keeps it in the store, so every replica sharing a
PostgreSQL store signs and checks with the same one (with SQLite it lives in
healer.db in HEALER_DATA_DIR). Deleting that row, or setting the setting, voids
every link issued before.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from healer.approval_token import Action, new_nonce, sign, signing_key
from healer.clock import Clock
from healer.errors import StoreError
from healer.model import Incident, IncidentStatus, iso

if TYPE_CHECKING:  # config builds its sections from here: no import at run time
    from healer.config import HealerConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApprovalSettings:
    # HEALER_APPROVAL_SECRET; None: made once and kept in the store (shared by replicas)
    secret: str | None = field(default=None, repr=False)
    ttl_seconds: float = 3600.0  # HEALER_APPROVAL_TTL_SECONDS; 0 turns approvals off

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0


class SecretStore(Protocol):
    def approval_secret(self, candidate: str, now: float) -> str: ...


class ApprovalKey:
    """The signing key, resolved on first use (the store may not answer at start-up)
    and then kept: the setting's secret, else the one shared through the store."""

    def __init__(self, settings: ApprovalSettings, store: SecretStore, clock: Clock) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def get(self) -> bytes:
        """The key; StoreError when it must come from a store that cannot answer now."""
        with self._lock:
            if self._key is None:
                secret = self._settings.secret or self._store.approval_secret(
                    secrets.token_urlsafe(32), self._clock.now()
                )
                self._key = signing_key(secret)
            return self._key


def offered(incident: Incident, max_restart_attempts: int) -> tuple[Action, ...]:
    """The actions a person may approve on `incident` now: none unless it concluded
    waiting for a human; no restart or quarantine without a container; no restart once
    the incident's restart budget is spent (the policy would refuse it anyway)."""
    if not incident.concluded or incident.status not in (
        IncidentStatus.OPEN,
        IncidentStatus.FAILED,
    ):
        return ()
    if not incident.container:
        return (Action.RESOLVE,)
    if incident.restarts >= max_restart_attempts:
        return (Action.QUARANTINE, Action.RESOLVE)
    return (Action.RESTART, Action.QUARANTINE, Action.RESOLVE)


class ApprovalLinks:
    """Signs the links an incident offers, for its email (absolute, HEALER_PUBLIC_URL)
    and its page (relative to the healer)."""

    def __init__(
        self,
        key: ApprovalKey,
        settings: ApprovalSettings,
        clock: Clock,
        *,
        max_restart_attempts: int,
    ) -> None:
        self._key = key
        self._settings = settings
        self._clock = clock
        self._max_restart_attempts = max_restart_attempts

    @property
    def key(self) -> ApprovalKey:
        return self._key

    @property
    def ttl_seconds(self) -> float:
        return self._settings.ttl_seconds

    def offered(self, incident: Incident) -> tuple[Action, ...]:
        if not self._settings.enabled:
            return ()
        return offered(incident, self._max_restart_attempts)

    def links(self, incident: Incident, base_url: str = "") -> list[dict[str, str]]:
        """[{action, label, url, expires_at}] for each action `incident` offers; [] when
        approvals are off. Every link has its own nonce: each is single-use on its own."""
        actions = self.offered(incident)
        if not actions:
            return []
        key = self._key.get()
        expires = math.ceil(self._clock.now() + self._settings.ttl_seconds)
        return [
            {
                "action": action.value,
                "label": action.label,
                "url": f"{base_url}/approve/{sign(key, incident.id, action, expires, new_nonce())}",
                "expires_at": iso(expires) or "",
            }
            for action in actions
        ]


def approval_links(config: HealerConfig, store: SecretStore, clock: Clock) -> ApprovalLinks:
    """The links as the config asks for them (the email's and the pages' alike)."""
    return ApprovalLinks(
        ApprovalKey(config.approvals, store, clock),
        config.approvals,
        clock,
        max_restart_attempts=config.policy.max_restart_attempts,
    )


def email_links(
    links: ApprovalLinks, public_url: str
) -> Callable[[Incident], list[dict[str, str]]] | None:
    """The links an email carries, to HEALER_PUBLIC_URL (none without one). A store that
    cannot give the secret now costs the email its buttons, never the email."""
    if not public_url:
        return None

    def for_email(incident: Incident) -> list[dict[str, str]]:
        try:
            return links.links(incident, public_url)
        except StoreError as exc:
            log.warning("incident %d's email goes without approval links: %s", incident.id, exc)
            return []

    return for_email
