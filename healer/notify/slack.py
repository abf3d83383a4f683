"""Optional Slack channel: the same views posted to an incoming webhook as Block Kit.

Slack reads `<...>` as links and mentions (`<!channel>`), so every piece of
text from a log, an alert or a model is escaped the way Slack documents
(&, <, >) before it is put in a block. The webhook URL is a credential: it
never appears in an error message, and the installation's redactor (which
counts it among the secrets) scrubs every message before it is posted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests

from healer.notify.delivery import (
    Envelope,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
)
from healer.redactor import Redactor

SECTION_CHARS = 2900  # Slack's limit is 3000 per text object
HEADER_CHARS = 150
LOG_LINES = 10
DIGEST_LINES = 25


def esc(value: object) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code_block(lines: Sequence[str]) -> str:
    # A log line cannot close the code block early and format the rest of the message.
    body = "\n".join(esc(line).replace("```", "'''") for line in lines)
    return f"```{cut(body, SECTION_CHARS - 8)}```"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_CHARS)}}


def _buttons(links: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    if not links:
        return []
    elements = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": cut(str(link["label"]), 75)},
            "url": str(link["url"]),
        }
        for link in links[:5]
    ]
    return [{"type": "actions", "elements": elements}]


def incident_blocks(view: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    resolved = kind == "resolved"
    title = view.get("subject", "")
    if resolved:
        what = view.get("container") or view.get("alertname")
        title = f"RESOLVED: {what} {view.get('alert_phrase', '')}"
    fields = [
        ("Container", view.get("container")),
        ("Host", view.get("host") or view.get("instance")),
        ("Alert", view.get("alertname")),
        ("Severity", str(view.get("severity", "")).upper()),
        ("Outcome", "resolved" if resolved else view.get("outcome")),
        ("Mode", view.get("mode")),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(str(title), HEADER_CHARS)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": cut(f"*{name}*\n{esc(value)}", 1900)}
                for name, value in fields
                if value
            ],
        },
    ]
    if view.get("summary"):
        blocks.append(_section(esc(view["summary"])))
    diagnosis = view.get("diagnosis")
    if diagnosis:
        text = (
            f"*Diagnosis* ({esc(diagnosis.get('source_label', ''))}): "
            f"*{esc(diagnosis.get('category', ''))}* — {esc(diagnosis.get('root_cause', ''))}\n"
            f"Restart safe: *{'yes' if diagnosis.get('restart_safe') else 'no'}*"
        )
        if diagnosis.get("recommendation"):
            text += f"\nRecommendation: {esc(diagnosis['recommendation'])}"
        blocks.append(_section(text))
    if not resolved:
        lines = [f"*What the healer did*: {esc(view.get('decision', ''))}"]
        for action in view.get("actions") or ():
            error = f" — {esc(action.get('error'))}" if action.get("error") else ""
            lines.append(
                f"• {esc(action.get('action'))} #{action.get('attempt')}: "
                f"{esc(action.get('result'))} ({esc(action.get('duration', ''))}){error}"
            )
        verification = view.get("verification")
        if verification:
            verdict = "passed" if verification.get("ok") else "FAILED"
            lines.append(f"Verification {verdict}: {esc(verification.get('summary', ''))}")
        blocks.append(_section("\n".join(lines)))
        evidence = view.get("evidence") or {}
        logs = list(evidence.get("log_excerpt") or ())[-LOG_LINES:]
        if logs:
            blocks.append(_section(f"Last {len(logs)} log lines:\n" + code_block(logs)))
    blocks.extend(_buttons(view.get("links") or ()))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": esc(
                        f"incident #{view.get('incident_id')} · opened {view.get('opened_at')}"
                    ),
                }
            ],
        }
    )
    return blocks


def digest_blocks(view: Mapping[str, Any]) -> list[dict[str, Any]]:
    incidents = list(view.get("incidents") or ())
    lines = [
        f"• *{esc(i.get('container') or i.get('alertname'))}* {esc(i.get('alert_phrase', ''))}"
        f" — {esc(i.get('outcome', ''))}"
        for i in incidents[:DIGEST_LINES]
    ]
    if len(incidents) > DIGEST_LINES:
        lines.append(f"… and {len(incidents) - DIGEST_LINES} more")
    counts = ", ".join(f"{c['count']} {esc(c['label'])}" for c in view.get("counts") or ())
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": cut(str(view.get("subject")), HEADER_CHARS)},
        },
        _section(f"*{view.get('count')} incidents in one burst*: {counts}"),
        _section("\n".join(lines)),
    ]
    blocks.extend(_buttons(view.get("links") or ()))
    return blocks


def slack_message(envelope: Envelope) -> dict[str, Any]:
    view = envelope.view
    blocks = (
        digest_blocks(view) if envelope.kind == "digest" else incident_blocks(view, envelope.kind)
    )
    fallback = str(view.get("subject", "healer notification"))
    if envelope.kind == "resolved":
        fallback = f"RESOLVED: {fallback}"
    return {"text": cut(fallback, 300), "blocks": blocks}


class SlackChannel:
    name = "slack"

    def __init__(
        self,
        webhook_url: str,
        *,
        timeout: float,
        redactor: Redactor,
        session: requests.Session | None = None,
    ) -> None:
        self._url = webhook_url
        self._timeout = timeout
        self._redactor = redactor
        self._session = session or requests.Session()

    def describe(self) -> str:
        return "a Slack incoming webhook"

    def deliver(self, envelope: Envelope) -> Receipt:
        body = self._redactor.scrub_data(slack_message(envelope))
        try:
            response = self._session.post(self._url, json=body, timeout=self._timeout)
        except requests.RequestException as exc:
            # requests' messages contain the URL, which is the credential.
            raise TransientDeliveryError(
                f"Slack webhook unreachable ({type(exc).__name__})"
            ) from None
        answer = " ".join(response.text.split())[:200]
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientDeliveryError(f"Slack answered {response.status_code} {answer}")
        if response.status_code >= 400:
            raise PermanentDeliveryError(
                f"Slack refused the message: {response.status_code} {answer}"
            )
        return Receipt("sent", "posted to Slack")
