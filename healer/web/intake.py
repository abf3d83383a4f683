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

from healer.errors import PayloadError
from healer.intake import AlertIntake
from healer.metrics import HealerMetrics
from healer.model import Alert, Mode
from healer.payload import parse_payload
from healer.redactor import Redactor
from healer.web.auth import bearer_refusal
from healer.web.boundary import STORE_FAILURES, internal_error, store_unavailable
from healer.web.settings import WebSettings

log = logging.getLogger(__name__)

PATH = "/webhook/alertmanager"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Answer = tuple[str, dict[str, Any], list[tuple[str, str]]]


class WebhookIntake:
    """The webhook's HTTP side; `AlertIntake` (healer/intake.py) does the recording."""

    def __init__(
        self,
        intake: AlertIntake,
        settings: WebSettings,
        mode: Mode,
        redactor: Redactor,
        metrics: HealerMetrics,
        downstream: WSGIApp,
    ) -> None:
        self._intake = intake
        self._settings = settings
        self._mode = mode
        self._redactor = redactor
        self._metrics = metrics
        self._downstream = downstream

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self._downstream(environ, start)
        try:
            status, body, headers = self.handle(environ)
        except Exception as exc:
            # The outermost boundary of the webhook: a bug still answers JSON, and its
            # traceback is in the log under the id the answer carries.
            self._metrics.webhooks.labels("error").inc()
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
        metrics = self._metrics
        if environ.get("REQUEST_METHOD") != "POST":
            return "405 METHOD NOT ALLOWED", {"error": "POST only"}, [("Allow", "POST")]
        refused = bearer_refusal(
            self._settings.webhook_token, environ.get("HTTP_AUTHORIZATION", "")
        )
        if refused is not None:
            metrics.webhooks.labels("unauthorized").inc()
            code, reason = refused
            if code == 401:
                challenge = [("WWW-Authenticate", 'Bearer realm="healer"')]
                return "401 UNAUTHORIZED", {"error": reason}, challenge
            return "403 FORBIDDEN", {"error": reason}, []
        try:
            body = self._read_body(environ)
            if body is None:
                metrics.webhooks.labels("too_large").inc()
                limit = self._settings.max_body_bytes
                return (
                    "413 REQUEST ENTITY TOO LARGE",
                    {"error": f"body larger than HEALER_MAX_BODY_BYTES={limit}"},
                    [],
                )
            alerts = parse_payload(body, self._redactor)
        except PayloadError as exc:
            metrics.webhooks.labels("invalid").inc()
            return "400 BAD REQUEST", {"error": str(exc)}, []
        try:
            return self._enqueue(alerts)
        except STORE_FAILURES as exc:
            # Nothing was recorded: a 5xx makes Alertmanager deliver it again later.
            metrics.webhooks.labels("unavailable").inc()
            return "503 SERVICE UNAVAILABLE", store_unavailable(exc), [("Retry-After", "5")]

    def _enqueue(self, alerts: list[Alert]) -> Answer:
        result = self._intake.accept(alerts, self._mode)
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
        limit = self._settings.max_body_bytes
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
