"""What the on-call person reads: the email as it arrives at a real SMTP server."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

import pytest

from healer.model import Category, Diagnosis, Incident, IncidentStatus, Mode, Source
from healer.notify.delivery import Envelope
from healer.notify.mail import MailRenderer
from healer.notify.view import ViewSettings, incident_view
from healer.redactor import NO_SECRETS
from healer.store import SqliteStore
from testbed.smtp import Received
from tests.notify.conftest import (
    HOSTILE_LOG,
    TO,
    USER,
    OutboxFactory,
    SmtpFactory,
    record_incident,
    smtp_env,
    stored,
)
from tests.notify.example import EXAMPLE_FILE, example_html

TOKEN = "webhook-token-0123456789abcdef"
SETTINGS = ViewSettings(
    public_url="https://healer.example.com",
    grafana_url="https://grafana.example.com",
    domain="example.com",
    redactor=NO_SECRETS,
)


def rendered(incident: Incident, kind: str = "incident") -> EmailMessage:
    view = incident_view(incident, kind, SETTINGS, now=time.time())
    renderer = MailRenderer(sender=USER, recipients=TO, redactor=NO_SECRETS)
    return renderer.render(Envelope(1, kind, view, time.time()), now=time.time())


def html_of(msg: EmailMessage) -> str:
    body = msg.get_body(("html",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def one_email(outbox_factory: OutboxFactory, smtp_server: SmtpFactory, **kw: object) -> Received:
    server = smtp_server()
    outbox = outbox_factory(**smtp_env(server))
    incident = record_incident(outbox.store, **kw)  # type: ignore[arg-type]
    outbox.notifier.notify(incident, "incident")
    (received,) = server.wait_for(1)
    return received


def test_an_incident_email_arrives_with_text_and_html_parts_and_says_what_happened(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    received = one_email(outbox_factory, smtp_server)
    msg = received.message
    assert received.subject == "[CRITICAL] prod-web-01 down — healed after 1 restart"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert received.rcpt_tos == TO
    assert received.user == USER
    assert USER in str(msg["From"])
    assert msg["Auto-Submitted"] == "auto-generated"
    text, html = received.part("plain"), received.part("html")
    for body in (text, html):
        assert "The app exits because it cannot reach its database at db:5432." in body
        assert "Check that prod-db-01 is up" in body  # recommendation
        assert "rules engine" in body  # where the diagnosis came from
        assert "dependency" in body.lower()
        assert "running and stable for 10s" in body  # verification
        assert "400 ms" in body  # the restart's timing
        assert "docker-host-1" in body and "exporter:9417" in body
        assert "https://healer.example.com/incidents/" in body
        assert "https://grafana.example.com/d/itops-fleet" in body
        assert "http://prometheus.example.com:9090/graph?g0.expr=docker_container_state" in body
        assert "https://runbooks.example.com/runbook.md#containerdown" in body
    assert "#b42318" in html  # the critical colour bar
    assert "<link" not in html and "<img" not in html and "<style" not in html  # no assets


def test_hostile_log_lines_arrive_as_escaped_text_never_as_markup(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    received = one_email(outbox_factory, smtp_server)
    html, text = received.part("html"), received.part("plain")
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert not re.search(r"<\s*script", html, re.IGNORECASE)
    assert "<img" not in html and "onerror=alert" in html  # only ever as escaped text
    # The injection attempt is quoted inside the log block, and changes nothing.
    injection = html.index("IGNORE ALL PREVIOUS INSTRUCTIONS")
    assert html.rfind("<pre", 0, injection) > html.rfind("</pre>", 0, injection)
    assert received.subject.endswith("healed after 1 restart")
    # Plain text is not markup: the lines are shown as they were logged.
    for line in HOSTILE_LOG:
        assert line in text


def test_hostile_alert_labels_cannot_inject_headers_or_links(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    received = one_email(
        outbox_factory,
        smtp_server,
        container="evil\r\nBcc: attacker@evil.example",
        annotations={
            "summary": "<b>bold</b> claim",
            "runbook_url": "javascript:alert(document.cookie)",
        },
    )
    msg = received.message
    assert msg["Bcc"] is None
    assert received.rcpt_tos == TO
    assert "\n" not in received.subject and "evil Bcc: attacker@evil.example" in received.subject
    html = received.part("html")
    assert "javascript:" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; claim" in html


@pytest.mark.parametrize(
    ("kwargs", "subject"),
    [
        ({"restarts": 2}, "[CRITICAL] prod-web-01 down — healed after 2 restarts"),
        (
            {"status": IncidentStatus.QUARANTINED, "restarts": 0},
            "[CRITICAL] prod-web-01 down — NOT healed, quarantined",
        ),
        (
            {
                "status": IncidentStatus.OPEN,
                "mode": Mode.CHECK,
                "restarts": 0,
                "severity": "warning",
                "reason": "check mode (HEALER_MODE=check): diagnosis only, no restart",
            },
            "[WARNING] prod-web-01 down — check mode: diagnosis only",
        ),
        (
            {"status": IncidentStatus.FAILED, "restart_error": "409 Conflict"},
            "[CRITICAL] prod-web-01 down — restart failed",
        ),
        (
            {"status": IncidentStatus.FAILED, "restarts": 3, "verified": False},
            "[CRITICAL] prod-web-01 down — NOT healed after 3 restarts",
        ),
        (
            {
                "status": IncidentStatus.SKIPPED,
                "restarts": 0,
                "reason": "prod-web-01 is paused, which only an operator does; left alone",
            },
            "[CRITICAL] prod-web-01 down — skipped: is paused, which only an operator does",
        ),
        (
            {"status": IncidentStatus.OPEN, "restarts": 0, "alertname": "ContainerOOMKilled"},
            "[CRITICAL] prod-web-01 OOM-killed — not restarted: is back",
        ),
    ],
)
def test_the_subject_says_what_broke_and_what_the_healer_did(
    tmp_path: object, kwargs: dict[str, object], subject: str
) -> None:
    store = SqliteStore(":memory:")
    try:
        msg = rendered(record_incident(store, **kwargs))  # type: ignore[arg-type]
    finally:
        store.close()
    assert msg["Subject"] == subject


def test_the_diagnosis_says_when_it_came_from_the_llm() -> None:
    store = SqliteStore(":memory:")
    diagnosis = Diagnosis(
        category=Category.CONFIGURATION,
        root_cause="A required variable DATABASE_URL is missing.",
        restart_safe=False,
        recommendation="Set DATABASE_URL in the service's environment.",
        source=Source.LLM,
        note="the model agreed with the rules",
    )
    try:
        msg = rendered(record_incident(store, diagnosis=diagnosis))
    finally:
        store.close()
    html = html_of(msg)
    assert "from the LLM" in html
    assert "Restart safe:</span> <strong>no</strong>" in html
    assert "the model agreed with the rules" in html


def test_no_secret_of_the_installation_ever_leaves_in_an_email(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server()
    outbox = outbox_factory(**smtp_env(server), HEALER_WEBHOOK_TOKEN=TOKEN)
    incident = record_incident(
        outbox.store,
        # Evidence is redacted when gathered; these arrive by other roads.
        log_lines=(f"Authorization: Bearer {TOKEN}",),
        annotations={"summary": f"token {TOKEN} and password {outbox.config.smtp.password}"},
        diagnosis=Diagnosis(
            category=Category.CONFIGURATION,
            root_cause=f"The model repeated the token {TOKEN}",
            restart_safe=True,
            recommendation="none",
            source=Source.LLM,
        ),
    )
    outbox.notifier.notify(incident, "incident")
    (received,) = server.wait_for(1)
    raw = received.message.as_string()
    for secret in (TOKEN, outbox.config.smtp.password):
        assert secret not in raw
        assert secret not in received.part("html") and secret not in received.part("plain")
    assert "[REDACTED]" in received.part("html")
    assert TOKEN not in outbox.config.alerts_log.read_text()


def test_message_ids_are_stable_per_incident_and_distinct_between_incidents() -> None:
    store = SqliteStore(":memory:")
    try:
        first = record_incident(store)
        second = record_incident(store, container="prod-app-01")
        again = store.get(first.id)
        assert again is not None
        a, b, c = rendered(first), rendered(again), rendered(second)
    finally:
        store.close()
    assert a["Message-ID"] == b["Message-ID"]
    assert a["Message-ID"] != c["Message-ID"]
    assert re.fullmatch(rf"<incident-{first.id}\.\d+\.[0-9a-f]{{8}}@example\.com>", a["Message-ID"])


def test_a_resolved_check_mode_incident_gets_a_threaded_follow_up(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server()
    outbox = outbox_factory(**smtp_env(server))
    incident = record_incident(
        outbox.store,
        status=IncidentStatus.OPEN,
        mode=Mode.CHECK,
        restarts=0,
        reason="check mode (HEALER_MODE=check): diagnosis only, no restart",
    )
    outbox.notifier.notify(incident, "incident")
    # Alertmanager reports the alert resolved: the store closes the open incident.
    resolved_alert = incident.alert.__class__(
        **{**incident.alert.__dict__, "status": "resolved", "ends_at": time.time()}
    )
    (resolved_id,) = outbox.store.ingest([resolved_alert], Mode.CHECK, time.time()).resolved
    resolved = outbox.store.get(resolved_id)
    assert resolved is not None and resolved.status is IncidentStatus.RESOLVED
    outbox.notifier.notify(resolved, "resolved")
    first, follow_up = server.wait_for(2)
    root = first.message["Message-ID"]
    assert follow_up.message["In-Reply-To"] == root
    assert root in str(follow_up.message["References"])
    assert follow_up.message["Message-ID"] != root
    assert follow_up.subject == f"Re: {first.subject}"
    assert "resolved at" in follow_up.part("plain")
    statuses = [n["status"] for n in stored(outbox.store, incident.id).notifications]
    assert statuses == ["sent", "sent"]


def test_the_committed_example_email_is_what_the_templates_render() -> None:
    assert EXAMPLE_FILE.read_text() == example_html(), (
        "docs/email-example.html is stale: run "
        "`.venv/bin/python -m tests.notify.example > docs/email-example.html`"
    )
