"""The read side's door: with HEALER_READ_TOKEN set, the API and the pages need it.

`/healthz` and `/metrics` stay open for probes and Prometheus; the webhook (answered
before Flask, in intake.py) and the quarantine clear keep their own, stricter rule, and
so do the approval links (their signed token, healer/web/approve.py).
Unknown paths need the credential too, so a 404 reveals nothing to a stranger.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from healer.web.auth import READ_CHALLENGES, read_refusal
from healer.web.settings import WebSettings

OPEN_ENDPOINTS = frozenset(
    {
        "pages.healthz",
        "pages.metrics",
        "api.clear_quarantine",
        # The signed token is the credential of its one action (healer/web/approve.py).
        "approve.confirm",
        "approve.act",
    }
)


def init_app(app: Flask, settings: WebSettings) -> None:
    if settings.read_token is None:
        return

    @app.before_request
    def require_read_credential() -> Response | None:
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        reason = read_refusal(
            settings.read_token, settings.webhook_token, request.headers.get("Authorization", "")
        )
        if reason is None:
            return None
        response = jsonify(error=reason)
        response.status_code = 401
        for challenge in READ_CHALLENGES:
            response.headers.add("WWW-Authenticate", challenge)
        return response
