"""What every notification channel shares: the envelope it is given, the receipt
it returns and the two ways delivery can fail.

Channels translate their library's errors (smtplib, requests) into
`TransientDeliveryError` (try again later) or `PermanentDeliveryError` (trying
again cannot help) at their boundary; the outbox sender only knows these two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from healer.errors import HealerError

Outcome = Literal["sent", "written"]


class DeliveryError(HealerError):
    """A notification could not be delivered (this attempt)."""


class TransientDeliveryError(DeliveryError):
    """The server was unreachable or answered 4xx: the outbox retries with backoff."""


class PermanentDeliveryError(DeliveryError):
    """Bad credentials, a refused address, a spent quota: retrying cannot help."""


@dataclass(frozen=True)
class Envelope:
    """One outbox item as a channel sees it.

    `view` is the JSON-ready content built when the notification was queued
    (see `healer.notify.view`); `references` are the Message-IDs this one
    follows up on, oldest first, for threading.
    """

    item_id: int
    kind: str  # incident | resolved | digest | test
    view: Mapping[str, Any]
    created_at: float
    references: Sequence[str] = field(default=())


@dataclass(frozen=True)
class Receipt:
    outcome: Outcome
    detail: str  # for people: "to a@b via smtp.gmail.com:587 (starttls)", a file path, ...
    message_id: str = ""


class Channel(Protocol):
    """A way to deliver a notification: email (SMTP or .eml files) or Slack."""

    name: str

    def deliver(self, envelope: Envelope) -> Receipt: ...

    def describe(self) -> str:
        """One line for the start-up log: where notifications of this channel go."""
        ...
