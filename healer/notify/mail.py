"""Incident views as multipart/alternative emails, and the email channel.

Templates live next to this module (`templates/*.html|txt`). HTML templates are
autoescaped: log lines, annotations and model text are data, so a `<script>`
in a container's log arrives as the text "<script>". The finished subject and
bodies are scrubbed of this installation's secrets once more before sending.
"""

from __future__ import annotations

import functools
import re
import socket
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

from healer.model import iso
from healer.notify.delivery import Envelope, Outcome, PermanentDeliveryError, Receipt
from healer.notify.view import digest_message_id, mail_domain, one_line
from healer.redactor import Redactor

TEMPLATES = Path(__file__).parent / "templates"
SENDER_NAME = "IT Ops Healer"
FALLBACK_SENDER = "healer@localhost"
TEMPLATE_FOR_KIND = {
    "incident": "incident",
    "resolved": "incident",
    "update": "incident",
    "digest": "digest",
}
_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}")


def css_colour(value: object) -> str:
    """Only a hex colour may reach a style attribute; anything else turns neutral grey."""
    text = str(value)
    return text if _COLOUR.fullmatch(text) else "#475467"


def capfirst(value: object) -> str:
    text = str(value)
    return text[:1].upper() + text[1:]


@functools.cache  # compiling the templates costs ~0.2 s; the environment is thread-safe
def template_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        # A field an old outbox row lacks renders empty instead of failing the send.
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["colour"] = css_colour
    env.filters["capfirst"] = capfirst
    compile_all(env)
    return env


def compile_all(env: Environment) -> None:
    """Compile every template now, in the thread that builds the healer.

    CPython 3.11 keeps AST-construction state per interpreter, not per thread, so two
    threads compiling at once can fail with "AST constructor recursion depth mismatch"
    (python/cpython#106905). Jinja compiles a template on first use; doing it all up
    front, before the worker and HTTP threads start, means none is compiled concurrently.
    """
    for name in env.list_templates():
        env.get_template(name)


class MailRenderer:
    """Turns an envelope into the exact message a mail server receives."""

    def __init__(self, *, sender: str, recipients: Sequence[str], redactor: Redactor) -> None:
        self.sender = sender or FALLBACK_SENDER
        self.recipients = tuple(recipients)
        self.domain = mail_domain(self.sender)
        self._redactor = redactor
        self._env = template_env()

    def bodies(self, template: str, view: Any) -> tuple[str, str]:
        """(plain text, HTML) for `template` ("incident", "digest", "test")."""
        text = self._env.get_template(f"{template}.txt").render(view=view)
        html = self._env.get_template(f"{template}.html").render(view=view)
        return self._redactor.scrub(text), self._redactor.scrub(html)

    def render(self, envelope: Envelope, *, now: float) -> EmailMessage:
        view = envelope.view
        template = TEMPLATE_FOR_KIND.get(envelope.kind, "incident")
        text, html = self.bodies(template, view)
        message_id = str(view.get("message_id") or "")
        if envelope.kind == "digest" or not message_id:
            message_id = digest_message_id(envelope.item_id, envelope.created_at, self.domain)
        msg = self._headers(str(view.get("subject") or "Healer notification"), message_id, now)
        if envelope.references:
            msg["In-Reply-To"] = envelope.references[-1]
            msg["References"] = " ".join(envelope.references)
        msg["X-Healer-Kind"] = envelope.kind
        if view.get("incident_id") is not None:
            msg["X-Healer-Incident"] = str(view["incident_id"])
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        return msg

    def test_message(self, transport: str, *, now: float) -> EmailMessage:
        subject = "[INFO] Healer test message"
        view = {
            "subject": subject,
            "preheader": f"Email from the healer works ({transport}).",
            "severity_colour": "#175cd3",
            "transport": transport,
            "written_at": iso(now),
        }
        text, html = self.bodies("test", view)
        msg = self._headers(subject, make_msgid("healer-test", self.domain), now)
        msg["X-Healer-Kind"] = "test"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        return msg

    def _headers(self, subject: str, message_id: str, now: float) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = self._redactor.scrub(one_line(subject, 250))
        msg["From"] = formataddr((SENDER_NAME, self.sender))
        msg["To"] = ", ".join(self.recipients) or "undisclosed-recipients:;"
        msg["Date"] = formatdate(now, usegmt=True)
        msg["Message-ID"] = message_id
        # RFC 3834: an automatic message; vacation responders should not answer it.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        return msg


class MailTransport(Protocol):
    """Gets a finished message to its destination: an SMTP server or a folder."""

    def send(self, msg: EmailMessage, *, stem: str) -> tuple[Outcome, str]: ...

    def describe(self) -> str: ...


class Undelivered(Protocol):
    def write(self, msg: EmailMessage, stem: str) -> Path: ...


class EmailChannel:
    """The email channel: render, then hand to SMTP (or the .eml folder)."""

    name = "email"

    def __init__(
        self,
        renderer: MailRenderer,
        transport: MailTransport,
        *,
        now: Callable[[], float],
        undelivered: Undelivered | None = None,
    ) -> None:
        self.renderer = renderer
        self.transport = transport
        self._now = now
        self._undelivered = undelivered

    def describe(self) -> str:
        return self.transport.describe()

    def deliver(self, envelope: Envelope) -> Receipt:
        msg = self.renderer.render(envelope, now=self._now())
        stem = eml_stem(envelope)
        try:
            outcome, detail = self.transport.send(msg, stem=stem)
        except PermanentDeliveryError as exc:
            if self._undelivered is None:
                raise
            # Never lost: a message no server will take is kept where a human can open it.
            try:
                kept = self._undelivered.write(msg, stem)
            except OSError:
                raise exc from None
            raise PermanentDeliveryError(f"{exc}; the message is kept in {kept}") from exc
        return Receipt(outcome, detail, message_id=str(msg["Message-ID"]))


def eml_stem(envelope: Envelope) -> str:
    """A file name (without .eml) that is the same for every attempt of one item."""
    stamp = (iso(envelope.created_at) or "").replace(":", "").replace("-", "")[:15]
    parts = [f"{stamp}Z", f"{envelope.item_id:06d}"]
    incident = envelope.view.get("incident_id")
    if incident is not None:
        parts.append(f"incident-{incident}")
    parts.append(envelope.kind)
    if envelope.view.get("container"):
        parts.append(str(envelope.view["container"]))
    return "-".join(parts)


def local_hostname() -> str:
    """The EHLO name; gethostname() needs no DNS, unlike smtplib's getfqdn() default."""
    return socket.gethostname() or "healer"
