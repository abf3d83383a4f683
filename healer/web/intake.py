"""POST /webhook/alertmanager: authenticate, validate, dedupe, enqueue, answer fast.

This one route is served by a small WSGI component in front of Flask: it is
the hot path under an alert storm, and Flask's request machinery would cost
more than the work itself (parse, one SQLite transaction). Every other path
goes on to the Flask app.

Flask's error handlers do not reach here, so this component answers every
outcome itself, always in JSON: 4xx for what the caller sent, 503 when the
store cannot write (Alertmanager retries it), 500 with an error id for a bug.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from healer.errors import PayloadError, StoreError
from healer.model import IncidentStatus
from healer.payload import parse_payload
from healer.runtime import Runtime
from healer.web.auth import bearer_refusal
from healer.web.boundary import STORE_FAILURES, internal_error, store_unavailable

log = logging.getLogger(__name__)

PATH = "/webhook/alertmanager"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Answer = tuple[str, dict[str, Any], list[tuple[str, str]]]


class WebhookIntake:
    def __init__(self, runtime: Runtime, downstream: WSGIApp) -> None:
        self._rt = runtime
        self._downstream = downstream

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self._downstream(environ, start)
        try:
            status, body, headers = self.handle(environ)
        except Exception as exc:
            # The outermost boundary of the webhook: a bug still answers JSON, and its
            # traceback is in the log under the id the answer carries.
            self._rt.metrics.webhooks.labels("error").inc()
            status, body, headers = (
                "500 INTERNAL SERVER ERROR",
                internal_error(exc, "POST", PATH),
                [],
            )
        data = json.dumps(body).encode()
        start(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers],
        )
        return [data]

    def handle(self, environ: dict[str, Any]) -> Answer:
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
        try:
            body = self._read_body(environ)
            if body is None:
                rt.metrics.webhooks.labels("too_large").inc()
                limit = rt.config.max_body_bytes
                return (
                    "413 REQUEST ENTITY TOO LARGE",
                    {"error": f"body larger than HEALER_MAX_BODY_BYTES={limit}"},
                    [],
                )
            alerts = parse_payload(body, rt.config.redactor)
        except PayloadError as exc:
            rt.metrics.webhooks.labels("invalid").inc()
            return "400 BAD REQUEST", {"error": str(exc)}, []
        try:
            return self._enqueue(alerts)
        except STORE_FAILURES as exc:
            # Nothing was recorded: a 5xx makes Alertmanager deliver it again later.
            rt.metrics.webhooks.labels("unavailable").inc()
            return "503 SERVICE UNAVAILABLE", store_unavailable(exc), [("Retry-After", "5")]

    def _enqueue(self, alerts: list[Any]) -> Answer:
        rt = self._rt
        result = rt.store.ingest(alerts, rt.config.mode, rt.clock.now())
        rt.metrics.webhooks.labels("accepted").inc(result.accepted)
        rt.metrics.webhooks.labels("duplicate").inc(result.duplicates)
        if result.created or result.requeued:
            rt.note_intake()
            rt.workers.wake(len(result.created) + len(result.requeued))
        try:
            for incident_id in result.resolved:
                incident = rt.store.get(incident_id)
                if incident is not None and incident.status is IncidentStatus.RESOLVED:
                    rt.notifier.notify(incident, "resolved")
        except StoreError as exc:
            # The alerts are recorded: a 5xx now would make Alertmanager's retry a
            # duplicate. The housekeeper queues any follow-up that was missed here.
            log.warning("resolved follow-ups wait for the housekeeper: %s", exc)
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
        """The body, or None when it is larger than the cap (never read past it).

        PayloadError when Content-Length is not a number or the body breaks off.
        """
        limit = self._rt.config.max_body_bytes
        length = environ.get("CONTENT_LENGTH") or ""
        # Servers hand headers over as latin-1 text: "²" passes isdigit() but not int().
        if length and not (length.isascii() and length.isdigit()):
            raise PayloadError(f"Content-Length is not a whole number: {length[:20]!r}")
        stream = environ["wsgi.input"]
        try:
            if length:
                # More digits than the cap has is larger than the cap; int() refuses
                # strings over 4300 digits, so decide that without it.
                if len(length.lstrip("0")) > len(str(limit)) or int(length) > limit:
                    return None
                return bytes(stream.read(int(length)))
            data = bytes(stream.read(limit + 1))  # chunked or unknown length
        except OSError as exc:
            # The client went away mid-body (each server raises its own OSError kind).
            raise PayloadError(f"body could not be read: {exc}") from None
        return None if len(data) > limit else data
