"""`python -m healer test-email`: one test message through the configured transport.

It uses the same renderer and transports as incident email, so a passing test
means incident email will get through too (or, without credentials, that the
.eml folder is writable).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from healer.config import HealerConfig
from healer.notify.delivery import DeliveryError
from healer.notify.eml import EmlFolder
from healer.notify.mail import MailRenderer
from healer.notify.slack import SlackChannel
from healer.notify.smtp import SmtpTransport
from healer.redactor import Redactor


@dataclass(frozen=True)
class SendResult:
    ok: bool
    message: str


def send_test_message(config: HealerConfig) -> SendResult:
    """Send (or write) one test email, and post to Slack when it is configured."""
    renderer = MailRenderer(
        sender=config.smtp.sender, recipients=config.smtp.recipients, redactor=config.redactor
    )
    now = time.time()
    results = [_email(config, renderer, now)]
    if config.slack_webhook_url:
        results.append(_slack(config, config.redactor))
    return SendResult(all(r.ok for r in results), "\n".join(r.message for r in results))


def _email(config: HealerConfig, renderer: MailRenderer, now: float) -> SendResult:
    if not config.smtp.configured:
        missing = [
            key
            for key, value in (
                ("EMAIL_FROM", config.smtp.sender),
                ("EMAIL_TO", config.smtp.recipients),
                ("EMAIL_APP_PASSWORD", config.smtp.password),
            )
            if not value
        ]
        folder = EmlFolder(config.outbox_dir)
        msg = renderer.test_message(folder.describe(), now=now)
        try:
            path = folder.write(msg, f"test-{int(now)}")
        except OSError as exc:
            return SendResult(False, f"cannot write the test message to {folder.path}: {exc}")
        return SendResult(
            True,
            f"no SMTP credentials ({', '.join(missing)} not set): wrote the test message to {path}",
        )
    settings = config.smtp
    transport = SmtpTransport(settings)
    msg = renderer.test_message(settings.describe(), now=now)
    try:
        _outcome, detail = transport.send(msg)
    except DeliveryError as exc:
        return SendResult(False, f"test email NOT sent: {exc}")
    return SendResult(True, f"test email sent {detail}")


def _slack(config: HealerConfig, redactor: Redactor) -> SendResult:
    from healer.notify.delivery import Envelope

    channel = SlackChannel(
        config.slack_webhook_url, timeout=config.smtp.timeout_seconds, redactor=redactor
    )
    view = {"subject": "[INFO] Healer test message", "summary": "Slack from the healer works."}
    try:
        channel.deliver(Envelope(0, "test", view, time.time()))
    except DeliveryError as exc:
        return SendResult(False, f"Slack test NOT posted: {exc}")
    return SendResult(True, "Slack test message posted")
