"""Signed approval links: what a token carries, how it is signed, and how it is checked.

A token is `a1.<incident>.<action>.<expires>.<nonce>.<mac>`: the incident id, one of
the three actions, the Unix second it expires, 16 random URL-safe characters, and an
HMAC-SHA256 over everything before it (base64url, unpadded). The key is derived from
the server secret for this one purpose, so the secret signs nothing else.

Pure: no clock, no store. Whether a valid token was already used is the store's
question (healer/store/approvals.py); this module only says whether it is authentic
and still in date.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from healer.errors import HealerError

VERSION = "a1"
# Longer than any token this module makes: anything longer is refused unread.
MAX_TOKEN_CHARS = 160
_NONCE = re.compile(r"[A-Za-z0-9_-]{16}")
_MAC = re.compile(r"[A-Za-z0-9_-]{43}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_PURPOSE = b"itops-healer approval links v1"


class Action(StrEnum):
    RESTART = "restart"
    QUARANTINE = "quarantine"
    RESOLVE = "resolve"

    @property
    def label(self) -> str:
        return {"restart": "Restart now", "quarantine": "Quarantine", "resolve": "Mark resolved"}[
            self.value
        ]


@dataclass(frozen=True)
class Grant:
    """What an authentic, unexpired token allows: one action on one incident, once."""

    incident_id: int
    action: Action
    expires_at: int
    nonce: str


class ApprovalLinkError(HealerError):
    """The token is not one this healer signed, or it has expired. `expired` tells which,
    so a person can be told "ask for a new link" rather than "this is not a link"."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


def signing_key(secret: str) -> bytes:
    """The approval links' own key, derived from the server secret."""
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def new_nonce() -> str:
    return secrets.token_urlsafe(12)  # 12 random bytes: 16 URL-safe characters


def sign(key: bytes, incident_id: int, action: Action, expires_at: int, nonce: str) -> str:
    if not _NONCE.fullmatch(nonce):
        raise ValueError("a nonce is 16 URL-safe characters")
    body = f"{VERSION}.{incident_id}.{action.value}.{expires_at}.{nonce}"
    return f"{body}.{_mac(key, body)}"


def check(key: bytes, token: str, now: float) -> Grant:
    """The grant `token` carries, or ApprovalLinkError. The MAC is checked before any field
    is believed, in constant time; an expired token is refused even if never used."""
    if len(token) > MAX_TOKEN_CHARS:
        raise ApprovalLinkError("not a valid approval link")
    parts = token.split(".")
    if len(parts) != 6 or parts[0] != VERSION:
        raise ApprovalLinkError("not a valid approval link")
    _, incident, action, expires, nonce, mac = parts
    if not (_MAC.fullmatch(mac) and _NONCE.fullmatch(nonce)):
        raise ApprovalLinkError("not a valid approval link")
    body = token.rpartition(".")[0]
    if not hmac.compare_digest(mac, _mac(key, body)):
        raise ApprovalLinkError("not a valid approval link (altered, or signed by another healer)")
    # Authentic from here on: the fields are ours, but still parsed defensively.
    if not (_DIGITS.fullmatch(incident) and _DIGITS.fullmatch(expires)):
        raise ApprovalLinkError("not a valid approval link")
    try:
        parsed = Action(action)
    except ValueError:
        raise ApprovalLinkError("not a valid approval link") from None
    if now >= int(expires):
        raise ApprovalLinkError("this approval link has expired", expired=True)
    return Grant(int(incident), parsed, int(expires), nonce)


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
