"""The durable outbox: written first, delivered once, retried when it makes sense."""

from __future__ import annotations

import email
import email.policy
import logging
import time

import pytest

from healer.model import IncidentStatus, Mode
from testbed.processes import wait_until
from tests.notify.conftest import (
    OutboxFactory,
    SmtpFactory,
    record_incident,
    smtp_env,
    stored,
)


def test_a_notification_is_queued_logged_and_sent_exactly_once(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server()
    outbox = outbox_factory(**smtp_env(server))
    incident = record_incident(outbox.store)
    outbox.notifier.notify(incident, "incident")
    outbox.notifier.notify(incident, "incident")  # a resumed incident notifies again
    server.wait_for(1)
    (item,) = outbox.wait_settled()
    time.sleep(0.5)
    assert len(server.messages) == 1
    assert item.status == "sent" and item.attempts == 1 and item.message_id
    assert server.messages[0].message["Message-ID"] == item.message_id
    (line,) = outbox.alerts_log()
    assert line["kind"] == "incident" and line["incident_id"] == incident.id
    assert line["subject"] == "[CRITICAL] prod-web-01 down — healed after 1 restart"
    assert line["channels"] == ["email"]
    assert outbox.emails("sent") == 1
    assert outbox.metrics.registry.get_sample_value("healer_outbox_depth") == 0
    (notification,) = stored(outbox.store, incident.id).notifications
    assert notification["status"] == "sent" and notification["channel"] == "email"
    assert any(
        s.step == "notify" and "sent" in s.detail for s in stored(outbox.store, incident.id).steps
    )


def test_a_lone_incident_email_leaves_within_the_group_wait(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server()
    outbox = outbox_factory(**smtp_env(server), NOTIFY_GROUP_WAIT_SECONDS="0.5")
    incident = record_incident(outbox.store)
    started = time.monotonic()
    outbox.notifier.notify(incident, "incident")
    server.wait_for(1)
    took = time.monotonic() - started
    assert 0.5 <= took < 2.0, took


def test_an_smtp_server_down_at_the_incident_and_up_later_gets_the_email_once(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server(start=False)  # down when the incident happens
    outbox = outbox_factory(**smtp_env(server), NOTIFY_RETRY_SECONDS="0.1")
    incident = record_incident(outbox.store)
    outbox.notifier.notify(incident, "incident")
    wait_until(lambda: outbox.emails("retry") >= 3, timeout=10, what="three failed attempts")
    (item,) = outbox.items()
    assert item.status == "pending" and "Connection refused" in item.last_error
    assert item.next_attempt_at > item.created_at  # the schedule is in the row, not in memory
    server.start()  # "a minute later"
    server.wait_for(1, timeout=15)
    (item,) = outbox.wait_settled()
    time.sleep(0.5)
    assert len(server.messages) == 1
    assert item.status == "sent" and item.last_error == ""
    assert outbox.emails("sent") == 1 and outbox.emails("failed") == 0
    steps = [s.detail for s in stored(outbox.store, incident.id).steps if s.step == "notify"]
    assert steps[0].startswith("email delayed, retrying with backoff")
    assert steps[-1].startswith("email sent: to ")


def test_backoff_grows_exponentially_up_to_a_cap(outbox_factory: OutboxFactory) -> None:
    settings = outbox_factory(start=False, NOTIFY_RETRY_SECONDS="30").notifier.settings
    assert [settings.backoff(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert settings.backoff(20) == 900  # 15 minutes, then steady


@pytest.mark.parametrize(
    ("fault", "password", "code"),
    [(None, "wrong-password-1234", "535"), ("550", None, "550 5.4.5")],
    ids=["wrong password", "gmail daily quota"],
)
def test_a_permanent_refusal_is_reported_once_and_never_retried(
    outbox_factory: OutboxFactory,
    smtp_server: SmtpFactory,
    fault: str | None,
    password: str | None,
    code: str,
) -> None:
    server = smtp_server()
    server.fault = fault
    env = smtp_env(server)
    if password:
        env["EMAIL_APP_PASSWORD"] = password
    outbox = outbox_factory(**env, NOTIFY_RETRY_SECONDS="0.1")
    incident = record_incident(outbox.store)
    outbox.notifier.notify(incident, "incident")
    (item,) = outbox.wait_settled()
    time.sleep(1.0)  # ten retry periods: nothing more may happen
    assert item.status == "failed" and item.attempts == 1
    assert code in item.last_error
    assert server.auth_attempts + server.mail_commands <= 2  # one connection's worth
    assert server.messages == []
    assert outbox.emails("failed") == 1 and outbox.emails("retry") == 0
    (notification,) = stored(outbox.store, incident.id).notifications
    assert notification["status"] == "failed" and code in notification["last_error"]
    # Never lost: the message nobody would take is kept for a human.
    (kept,) = (outbox.config.outbox_dir / "undelivered").glob("*.eml")
    assert kept.name in item.last_error
    assert password is None or password not in item.last_error


def test_a_queued_retry_survives_a_healer_restart_and_is_sent_once(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server(start=False)
    first = outbox_factory(**smtp_env(server), NOTIFY_RETRY_SECONDS="0.3")
    incident = record_incident(first.store)
    first.notifier.notify(incident, "incident")
    wait_until(lambda: first.emails("retry") >= 1, timeout=10, what="a failed attempt")
    first.notifier.stop()
    first.store.close()
    server.start()
    second = outbox_factory(data_dir=first.config.data_dir, **smtp_env(server))
    server.wait_for(1)
    (item,) = second.wait_settled()
    time.sleep(0.5)
    assert len(server.messages) == 1
    assert item.status == "sent" and item.attempts >= 2


def test_without_credentials_each_email_is_written_as_an_eml_file_in_the_outbox(
    outbox_factory: OutboxFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="healer.notify.outbox"):
        outbox = outbox_factory(EMAIL_TO="oncall@example.com")  # no password: no SMTP
    assert any(
        ".eml file" in r.message and str(outbox.config.outbox_dir) in r.message
        for r in caplog.records
    )
    incident = record_incident(outbox.store)
    outbox.notifier.notify(incident, "incident")
    (item,) = outbox.wait_settled()
    assert item.status == "written"
    (eml,) = outbox.config.outbox_dir.glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "[CRITICAL] prod-web-01 down — healed after 1 restart"
    assert msg["To"] == "oncall@example.com"
    assert msg.get_body(("html",)) is not None and msg.get_body(("plain",)) is not None
    assert f"incident-{incident.id}" in eml.name
    assert outbox.emails("written") == 1
    (notification,) = stored(outbox.store, incident.id).notifications
    assert notification["status"] == "written"


def test_a_30_container_storm_becomes_one_digest(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server()
    outbox = outbox_factory(**smtp_env(server), NOTIFY_GROUP_WAIT_SECONDS="0.5")
    opened = time.time()
    incidents = [
        record_incident(
            outbox.store,
            container=f"prod-svc-{n:02d}",
            severity="critical" if n == 7 else "warning",
            status=IncidentStatus.OPEN,
            mode=Mode.CHECK,
            restarts=0,
            reason="check mode (HEALER_MODE=check): diagnosis only, no restart",
            opened_at=opened,  # one Alertmanager group: opened together
        )
        for n in range(30)
    ]
    for incident in incidents:
        outbox.notifier.notify(incident, "incident")
    (digest,) = server.wait_for(1)
    items = outbox.wait_settled()
    time.sleep(0.8)
    assert len(server.messages) == 1
    assert digest.subject == ("[CRITICAL] Alert storm: 30 containers down — 30 diagnosis only")
    text, html = digest.part("plain"), digest.part("html")
    for n in range(30):
        assert f"prod-svc-{n:02d}" in text and f"prod-svc-{n:02d}" in html
    assert text.index("prod-svc-07") < text.index("prod-svc-00")  # critical first
    (digest_item,) = [i for i in items if i.kind == "digest"]
    members = [i for i in items if i.kind == "incident"]
    assert len(members) == 30
    for member in members:
        assert member.digest_id == digest_item.id
        assert member.status == "sent" and member.message_id == digest.message["Message-ID"]
    api = stored(outbox.store, incidents[0].id).notifications[0]
    assert api["digest_id"] == digest_item.id and api["status"] == "sent"
    assert outbox.emails("sent") == 1
    assert len(outbox.alerts_log()) == 30  # every notification is still one alerts.log line


def test_a_storm_waits_for_its_incidents_still_in_progress_then_sends_one_digest(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server()
    outbox = outbox_factory(
        **smtp_env(server), NOTIFY_GROUP_WAIT_SECONDS="0.2", NOTIFY_DIGEST_THRESHOLD="5"
    )
    opened = time.time()
    done = [record_incident(outbox.store, container=f"web-{n}", opened_at=opened) for n in range(3)]
    busy = [
        record_incident(outbox.store, container=f"app-{n}", opened_at=opened + 0.1, finish=False)
        for n in range(3)
    ]
    for incident in done:
        outbox.notifier.notify(incident, "incident")
    time.sleep(1.0)  # five group waits: held, because three siblings are still being healed
    assert server.messages == []
    for incident in busy:
        outbox.notifier.notify(incident, "incident")
        outbox.store.finish(incident.id, time.time())
    (digest,) = server.wait_for(1)
    outbox.wait_settled()
    time.sleep(0.5)
    assert len(server.messages) == 1
    assert "6 containers down — 6 healed" in digest.subject


def test_a_few_incidents_at_once_are_not_a_storm(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server()
    outbox = outbox_factory(**smtp_env(server))
    opened = time.time()
    for n in range(4):  # below NOTIFY_DIGEST_THRESHOLD=5
        outbox.notifier.notify(
            record_incident(outbox.store, container=f"web-{n}", opened_at=opened), "incident"
        )
    received = server.wait_for(4)
    assert sorted(r.subject for r in received) == [
        f"[CRITICAL] web-{n} down — healed after 1 restart" for n in range(4)
    ]


def test_flush_delivers_what_is_queued_without_the_sender_thread(
    outbox_factory: OutboxFactory, smtp_server: SmtpFactory
) -> None:
    # What a one-shot `healer check` needs before it exits.
    server = smtp_server()
    outbox = outbox_factory(start=False, **smtp_env(server))
    outbox.notifier.notify(record_incident(outbox.store), "incident")
    assert outbox.notifier.flush(timeout=5) == 1
    assert len(server.messages) == 1
    (item,) = outbox.items()
    assert item.status == "sent"
