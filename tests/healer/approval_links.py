"""Finding the approval links where a person finds them: in an email's HTML part, or
on the incident page."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

LABELS = {"Restart now": "restart", "Quarantine": "quarantine", "Mark resolved": "resolve"}


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (text, href)
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.found.append(("".join(self._text).strip(), self._href))
            self._href = None


def approval_links(html: str) -> dict[str, str]:
    """{action: url} of the approval buttons in `html` (by their labels)."""
    parser = _Anchors()
    parser.feed(html)
    return {LABELS[text]: href for text, href in parser.found if text in LABELS}


def html_part(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert isinstance(body, EmailMessage), "no text/html part"
    return str(body.get_content())


def read_eml(path: Path) -> EmailMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def emails_in(outbox: Path) -> list[EmailMessage]:
    """The .eml files the healer wrote (no SMTP configured), oldest first."""
    return [read_eml(p) for p in sorted(outbox.glob("*.eml"))]
