"""Who may do what over HTTP: the webhook's bearer token and the optional read credential.

Credentials are parsed by Werkzeug (`Authorization.from_header`), never by hand;
every comparison is constant-time, so response timing reveals nothing about a token.
"""

from __future__ import annotations

import hmac

from werkzeug.datastructures import Authorization

MISSING = "missing bearer token (Authorization: Bearer <token>)"
INVALID = "invalid bearer token"
READ_MISSING = (
    "this healer requires HEALER_READ_TOKEN to read: send Authorization: Bearer <token>, "
    "or sign in with any user name and the token as the password"
)
READ_INVALID = "invalid read credential"
# Two challenges: API clients use Bearer, browsers prompt for Basic.
READ_CHALLENGES = ('Bearer realm="healer"', 'Basic realm="healer", charset="UTF-8"')


def _same(presented: str, token: str) -> bool:
    return hmac.compare_digest(presented.encode(), token.encode())


def bearer_refusal(token: str | None, header: str) -> tuple[int, str] | None:
    """None when `header` carries the token (or auth is off), else (status, reason)."""
    if token is None:
        return None  # HEALER_INSECURE_NO_AUTH=1; `serve` refuses to start otherwise
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return 401, MISSING
    if not _same(presented.strip(), token):
        return 403, INVALID
    return None


def read_refusal(read_token: str | None, webhook_token: str | None, header: str) -> str | None:
    """None when the request may read the API and pages, else the reason for a 401.

    Without HEALER_READ_TOKEN reading is open (compose publishes the port on loopback
    only). With it, a Bearer token or HTTP basic (any user, the token as password) must
    carry the read token or the webhook token: whoever may write may also read.
    """
    if read_token is None:
        return None
    auth = Authorization.from_header(header or None)
    if auth is None:
        return READ_MISSING
    if auth.type == "bearer":
        presented = auth.token or ""
    elif auth.type == "basic":
        presented = auth.password or ""
    else:
        return READ_MISSING
    accepted = [t for t in (read_token, webhook_token) if t]
    # Compare against every accepted token, so timing does not tell which one matched.
    matches = [_same(presented, token) for token in accepted]
    return None if presented and any(matches) else READ_INVALID
