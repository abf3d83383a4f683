"""The outbox as the config asks for it: the email channel (SMTP, or .eml files when
no credentials are set), Slack when its webhook is set, and the storm settings."""

from __future__ import annotations

from healer.approvals import approval_links, email_links
from healer.clock import Clock
from healer.config import HealerConfig
from healer.metrics import HealerMetrics
from healer.notify.alerts_log import AlertsLog
from healer.notify.delivery import Channel
from healer.notify.eml import EmlFolder
from healer.notify.mail import EmailChannel, MailRenderer, MailTransport
from healer.notify.outbox import OutboxNotifier
from healer.notify.slack import SlackChannel
from healer.notify.smtp import SmtpTransport
from healer.notify.view import ViewSettings
from healer.store import Store


def email_channel(config: HealerConfig, clock: Clock) -> EmailChannel:
    """SMTP when credentials are configured, else the .eml folder (the embedded default)."""
    renderer = MailRenderer(
        sender=config.smtp.sender, recipients=config.smtp.recipients, redactor=config.redactor
    )
    transport: MailTransport
    undelivered = None
    if config.smtp.configured:
        transport = SmtpTransport(config.smtp)
        undelivered = EmlFolder(config.outbox_dir / "undelivered")
    else:
        transport = EmlFolder(config.outbox_dir)
    return EmailChannel(renderer, transport, now=clock.now, undelivered=undelivered)


def outbox_from_config(
    config: HealerConfig, *, store: Store, clock: Clock, metrics: HealerMetrics
) -> OutboxNotifier:
    view_settings = ViewSettings.from_config(
        config, email_links(approval_links(config, store, clock), config.web.public_url)
    )
    channels: list[Channel] = [email_channel(config, clock)]
    if config.slack_webhook_url:
        channels.append(
            SlackChannel(
                config.slack_webhook_url,
                timeout=config.smtp.timeout_seconds,
                redactor=config.redactor,
            )
        )
    notes = []
    if not config.smtp.configured:
        notes.append(
            "email: no SMTP credentials (EMAIL_FROM, EMAIL_TO and EMAIL_APP_PASSWORD); "
            f"each email is written as an .eml file to {config.outbox_dir}"
        )
    return OutboxNotifier(
        store,
        channels,
        view_settings=view_settings,
        alerts_log=AlertsLog(config.alerts_log, config.redactor),
        clock=clock,
        metrics=metrics,
        settings=config.outbox,
        startup_notes=notes,
    )
