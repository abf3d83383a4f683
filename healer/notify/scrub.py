"""The last line of defence: this installation's own secrets never leave in a message.

Evidence is redacted when it is gathered; this runs again on everything a
channel is about to send, because a secret can also arrive through an alert
annotation, a model's answer or an error message.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

REDACTED = "[REDACTED]"
# Shorter values would turn ordinary words into [REDACTED]; real secrets (tokens
# of 16+ characters, Gmail's 16-letter app passwords, URLs) are never this short.
MIN_SECRET_CHARS = 6


def secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret as typed and as it appears HTML-escaped, longest first."""
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            forms.add(secret)
            forms.add(html.escape(secret))
    return tuple(sorted(forms, key=len, reverse=True))


def scrub_text(text: str, secrets: Sequence[str]) -> str:
    for secret in secret_forms(secrets):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_data(data: Any, secrets: Sequence[str]) -> Any:
    """A copy of JSON-like `data` with every string scrubbed (keys included)."""
    if isinstance(data, str):
        return scrub_text(data, secrets)
    if isinstance(data, dict):
        return {scrub_text(str(k), secrets): scrub_data(v, secrets) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [scrub_data(v, secrets) for v in data]
    return data
