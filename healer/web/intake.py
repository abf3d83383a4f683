"""POST /webhook/alertmanager: authenticate, validate, dedupe, enqueue, answer fast."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, jsonify, request

from healer.errors import PayloadError
from healer.model import IncidentStatus
from healer.payload import parse_payload
from healer.runtime import Runtime

bp = Blueprint("intake", __name__)


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["healer"]
    return rt


def check_bearer(token: str | None) -> tuple[Response, int] | None:
    """None when the request may proceed, else the JSON refusal."""
    if token is None:
        return None  # HEALER_INSECURE_NO_AUTH=1, refused at start-up otherwise
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        response = jsonify(error="missing bearer token (Authorization: Bearer <token>)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="healer"'
        return response, 401
    # Constant-time comparison: response timing must not reveal the token.
    if not hmac.compare_digest(presented.strip().encode(), token.encode()):
        return jsonify(error="invalid bearer token"), 403
    return None


@bp.post("/webhook/alertmanager")
def alertmanager_webhook() -> tuple[Response, int]:
    rt = runtime()
    refused = check_bearer(rt.config.webhook_token)
    if refused is not None:
        rt.metrics.webhooks.labels("unauthorized").inc()
        return refused
    body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        alerts = parse_payload(body)
    except PayloadError as exc:
        rt.metrics.webhooks.labels("invalid").inc()
        return jsonify(error=str(exc)), 400
    result = rt.store.ingest(alerts, rt.config.mode, rt.clock.now())
    rt.metrics.webhooks.labels("accepted").inc(result.accepted)
    rt.metrics.webhooks.labels("duplicate").inc(result.duplicates)
    if result.created:
        rt.workers.wake(len(result.created))
    for incident_id in result.resolved:
        incident = rt.store.get(incident_id)
        if incident is not None and incident.status is IncidentStatus.RESOLVED:
            rt.notifier.notify(incident, "resolved")
    return (
        jsonify(
            accepted=result.accepted,
            duplicates=result.duplicates,
            created=list(result.created),
            attached=list(result.attached),
            resolved=list(result.resolved),
        ),
        200,
    )
