"""Validation of Alertmanager's v4 webhook payload into `Alert` values.

Strict about what the healer relies on, lenient about everything else:
unknown fields (newer Alertmanager versions add some) are ignored.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from fleet.facts import parse_docker_time
from healer.errors import PayloadError
from healer.model import Alert
from healer.redactor import NO_SECRETS, Redactor

MAX_ALERTS = 1000
MAX_LABELS = 100
MAX_VALUE_CHARS = 8192


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=MAX_VALUE_CHARS)


class WebhookAlert(_Lenient):
    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str] = Field(max_length=MAX_LABELS)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=MAX_LABELS)
    startsAt: str  # noqa: N815 - Alertmanager's field name
    endsAt: str = ""  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = Field(min_length=1, max_length=128)


class WebhookPayload(_Lenient):
    version: str
    status: str = Field(pattern="^(firing|resolved)$")
    receiver: str = ""
    alerts: list[WebhookAlert] = Field(max_length=MAX_ALERTS)


def parse_payload(body: bytes, redactor: Redactor = NO_SECRETS) -> list[Alert]:
    """The alerts of one webhook call; raises PayloadError with a reason a human can act on.

    Annotations are prose that may quote a label or a log line: cleaned with `redactor`
    before anything stores them. Labels are identity and stay as sent."""
    try:
        raw: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PayloadError("body must be a JSON object (an Alertmanager webhook payload)")
    try:
        payload = WebhookPayload.model_validate(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise PayloadError(f"{where}: {first['msg']}") from None
    if payload.version != "4":
        raise PayloadError(f'version: expected "4", got {payload.version!r}')
    alerts = []
    for index, item in enumerate(payload.alerts):
        starts = parse_docker_time(item.startsAt)
        if starts is None:
            raise PayloadError(f"alerts.{index}.startsAt: not an RFC 3339 time: {item.startsAt!r}")
        if "alertname" not in item.labels:
            raise PayloadError(f"alerts.{index}.labels: alertname is missing")
        alerts.append(
            Alert(
                fingerprint=item.fingerprint,
                status=item.status,
                labels=item.labels,
                annotations={k: redactor.clean(v) for k, v in item.annotations.items()},
                starts_at=starts,
                ends_at=parse_docker_time(item.endsAt),
                generator_url=item.generatorURL,
            )
        )
    return alerts
