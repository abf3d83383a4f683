"""Validation of Alertmanager's v4 webhook payload into `Alert` values.

Strict about what the healer relies on, lenient about everything else:
unknown fields (newer Alertmanager versions add some) are ignored.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from fleet.rfc3339 import ZERO_TIME, parse_rfc3339
from healer.errors import PayloadError
from healer.model import Alert
from healer.redactor import NO_SECRETS, Redactor

MAX_ALERTS = 1000
MAX_LABELS = 100
MAX_VALUE_CHARS = 8192
MAX_NUMBER_DIGITS = 100

# Accepted times are clamped into this window (1970-01-01 .. 2200-01-01 UTC). A time
# outside it comes from a broken clock, never from a real alert, and clamping keeps
# everything downstream in range: `iso()` (datetime stops at year 9999, and an offset
# of -23:59 pushes 9999-12-31 past it), arithmetic, SQLite REAL columns.
EARLIEST = 0.0
LATEST = 7_258_118_400.0


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
        raw: Any = json.loads(body, parse_int=_small_int)
    except RecursionError:
        # The C decoder stops at the interpreter's recursion limit and unwinds cleanly:
        # an Alertmanager payload is four levels deep, so this is never a real one.
        raise PayloadError("body is nested too deeply to be an Alertmanager payload") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PayloadError("body must be a JSON object (an Alertmanager webhook payload)")
    try:
        payload = WebhookPayload.model_validate(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise PayloadError(f"{_shorten(where)}: {first['msg']}") from None
    if payload.version != "4":
        raise PayloadError(f'version: expected "4", got {_excerpt(payload.version)}')
    alerts = []
    for index, item in enumerate(payload.alerts):
        if item.startsAt == ZERO_TIME:
            raise PayloadError(f"alerts.{index}.startsAt: the zero time means unset")
        starts = _time(f"alerts.{index}.startsAt", item.startsAt)
        # Alertmanager's zero time (or none at all) in endsAt: the alert has not ended.
        ends = (
            None if item.endsAt in ("", ZERO_TIME) else _time(f"alerts.{index}.endsAt", item.endsAt)
        )
        if "alertname" not in item.labels:
            raise PayloadError(f"alerts.{index}.labels: alertname is missing")
        alerts.append(
            Alert(
                fingerprint=item.fingerprint,
                status=item.status,
                labels=item.labels,
                annotations={k: redactor.clean(v) for k, v in item.annotations.items()},
                starts_at=starts,
                ends_at=ends,
                generator_url=item.generatorURL,
            )
        )
    return alerts


def _small_int(text: str) -> int:
    # Python refuses int() over 4300 digits with a bare ValueError; no number in an
    # Alertmanager payload comes near this, so say plainly what is wrong.
    if len(text) > MAX_NUMBER_DIGITS:
        raise PayloadError(f"body has a number of {len(text)} digits (at most {MAX_NUMBER_DIGITS})")
    return int(text)


def _time(where: str, text: str) -> float:
    """A time the healer can store, compute with and show: checked as a calendar date,
    then clamped into EARLIEST..LATEST."""
    try:
        seconds = parse_rfc3339(text)
    except ValueError as exc:
        raise PayloadError(f"{where}: {exc}: {_excerpt(text)}") from None
    return min(max(seconds, EARLIEST), LATEST)


def _shorten(text: str, limit: int = 80) -> str:
    """A refusal names the bad input without echoing 8 KiB of it (label names, values)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _excerpt(text: str) -> str:
    return _shorten(repr(text))
