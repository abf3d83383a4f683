"""The bearer-token check the webhook and the operator API share."""

from __future__ import annotations

import hmac

MISSING = "missing bearer token (Authorization: Bearer <token>)"
INVALID = "invalid bearer token"


def bearer_refusal(token: str | None, header: str) -> tuple[int, str] | None:
    """None when `header` carries the token (or auth is off), else (status, reason)."""
    if token is None:
        return None  # HEALER_INSECURE_NO_AUTH=1; `serve` refuses to start otherwise
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return 401, MISSING
    # Constant-time comparison: response timing must not reveal the token.
    if not hmac.compare_digest(presented.strip().encode(), token.encode()):
        return 403, INVALID
    return None
