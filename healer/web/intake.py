"""POST /webhook/alertmanager: authenticate, validate, dedupe, enqueue, answer fast.

This one route is served by a small WSGI component in front of Flask: it is
the hot path under an alert storm, and Flask's request machinery would cost
more than the work itself (parse, one SQLite transaction). Every other path
goes on to the Flask app.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from healer.errors import PayloadError, StoreError
from healer.model import IncidentStatus
from healer.payload import parse_payload
from healer.runtime import Runtime
from healer.web.auth import bearer_refusal

PATH = "/webhook/alertmanager"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class WebhookIntake:
    def __init__(self, runtime: Runtime, downstream: WSGIApp) -> None:
        self._rt = runtime
        self._downstream = downstream

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self._downstream(environ, start)
        status, body, headers = self.handle(environ)
        data = json.dumps(body).encode()
        start(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers],
        )
        return [data]

    def handle(self, environ: dict[str, Any]) -> tuple[str, dict[str, Any], list[tuple[str, str]]]:
        rt = self._rt
        if environ.get("REQUEST_METHOD") != "POST":
            return "405 METHOD NOT ALLOWED", {"error": "POST only"}, [("Allow", "POST")]
        refused = bearer_refusal(rt.config.webhook_token, environ.get("HTTP_AUTHORIZATION", ""))
        if refused is not None:
            rt.metrics.webhooks.labels("unauthorized").inc()
            code, reason = refused
            if code == 401:
                challenge = [("WWW-Authenticate", 'Bearer realm="healer"')]
                return "401 UNAUTHORIZED", {"error": reason}, challenge
            return "403 FORBIDDEN", {"error": reason}, []
        body = self._read_body(environ)
        if body is None:
            rt.metrics.webhooks.labels("too_large").inc()
            limit = rt.config.max_body_bytes
            return (
                "413 REQUEST ENTITY TOO LARGE",
                {"error": f"body larger than HEALER_MAX_BODY_BYTES={limit}"},
                [],
            )
        try:
            alerts = parse_payload(body, rt.config.redactor)
        except PayloadError as exc:
            rt.metrics.webhooks.labels("invalid").inc()
            return "400 BAD REQUEST", {"error": str(exc)}, []
        try:
            result = rt.store.ingest(alerts, rt.config.mode, rt.clock.now())
        except StoreError as exc:
            # Nothing was recorded: a 5xx makes Alertmanager deliver it again later.
            rt.metrics.webhooks.labels("store_error").inc()
            return "503 SERVICE UNAVAILABLE", {"error": str(exc)}, [("Retry-After", "5")]
        rt.metrics.webhooks.labels("accepted").inc(result.accepted)
        rt.metrics.webhooks.labels("duplicate").inc(result.duplicates)
        if result.created or result.requeued:
            rt.note_intake()
            rt.workers.wake(len(result.created) + len(result.requeued))
        for incident_id in result.resolved:
            incident = rt.store.get(incident_id)
            if incident is not None and incident.status is IncidentStatus.RESOLVED:
                rt.notifier.notify(incident, "resolved")
        return (
            "200 OK",
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "created": list(result.created),
                "attached": list(result.attached),
                "resolved": list(result.resolved),
            },
            [],
        )

    def _read_body(self, environ: dict[str, Any]) -> bytes | None:
        """The body, or None when it is larger than the cap (never read past it)."""
        limit = self._rt.config.max_body_bytes
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit():
            if int(length) > limit:
                return None
            return bytes(stream.read(int(length)))
        data = bytes(stream.read(limit + 1))  # chunked or unknown length
        return None if len(data) > limit else data
