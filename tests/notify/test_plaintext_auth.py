"""A password never crosses the network without TLS unless the operator allows it.

Reproduces the review's finding: with SMTP_SECURITY=none and EMAIL_APP_PASSWORD set,
the healer logged in over a plain connection and a local server received the
password in clear. Now start-up refuses, with one line naming the keys.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from healer.config import load_config
from healer.errors import ConfigError
from healer.notify.delivery import PermanentDeliveryError
from healer.notify.mail import MailRenderer
from healer.notify.smtp import SmtpSettings, SmtpTransport
from healer.redactor import NO_SECRETS
from tests.healer.conftest import run_cli
from tests.notify.conftest import PASSWORD, TO, USER, SmtpFactory, smtp_env


def plaintext_env(server_env: dict[str, str]) -> dict[str, str]:
    env = dict(server_env)
    env.pop("SMTP_ALLOW_PLAINTEXT_AUTH")
    return env


def test_a_password_without_tls_stops_start_up_with_one_line_naming_the_keys(
    smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = smtp_server(security="none")
    with pytest.raises(ConfigError) as info:
        load_config(
            {"HEALER_DATA_DIR": str(tmp_path), **plaintext_env(smtp_env(server))},
            dotenv_file=None,
        )
    line = str(info.value)
    assert "\n" not in line
    for key in ("EMAIL_APP_PASSWORD", "SMTP_SECURITY=none", "SMTP_ALLOW_PLAINTEXT_AUTH=true"):
        assert key in line
    assert PASSWORD not in line


@pytest.mark.parametrize("command", ["test-email", "serve"])
def test_the_cli_refuses_to_send_a_password_in_clear_and_the_server_hears_nothing(
    smtp_server: SmtpFactory, tmp_path: Path, command: str
) -> None:
    server = smtp_server(security="none")
    done = run_cli(
        tmp_path,
        command,
        drop=("SMTP_ALLOW_PLAINTEXT_AUTH",),
        extra=smtp_env(server),
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "SMTP_ALLOW_PLAINTEXT_AUTH" in line and "EMAIL_APP_PASSWORD" in line
    assert server.auth_attempts == 0 and server.mail_commands == 0


def test_an_explicit_opt_in_allows_a_trusted_plain_relay(
    smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = smtp_server(security="none")
    config = load_config({"HEALER_DATA_DIR": str(tmp_path), **smtp_env(server)}, dotenv_file=None)
    assert config.smtp.allow_plaintext_auth
    SmtpTransport(config.smtp).send(
        MailRenderer(sender=USER, recipients=TO, redactor=NO_SECRETS).test_message(
            "t", now=time.time()
        )
    )
    (received,) = server.wait_for(1)
    assert received.user == USER and not received.tls


def test_the_transport_itself_refuses_a_password_without_tls_when_not_allowed(
    smtp_server: SmtpFactory,
) -> None:
    server = smtp_server(security="none")
    transport = SmtpTransport(
        SmtpSettings(
            host=server.host,
            port=server.port,
            security="none",
            timeout_seconds=5,
            sender=USER,
            recipients=TO,
            password=PASSWORD,
        )
    )
    message = MailRenderer(sender=USER, recipients=TO, redactor=NO_SECRETS).test_message(
        "t", now=time.time()
    )
    with pytest.raises(PermanentDeliveryError, match="SMTP_ALLOW_PLAINTEXT_AUTH"):
        transport.send(message)
    assert server.auth_attempts == 0 and server.mail_commands == 0


def test_a_slack_webhook_url_is_refused_over_plain_http_to_another_host(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            {
                "HEALER_DATA_DIR": str(tmp_path),
                "SLACK_WEBHOOK_URL": "http://hooks.slack.example/services/T0/B0/XyZzY",
            },
            dotenv_file=None,
        )
    assert "SLACK_WEBHOOK_URL=***" in str(info.value) and "XyZzY" not in str(info.value)
    https = load_config(
        {"HEALER_DATA_DIR": str(tmp_path), "SLACK_WEBHOOK_URL": "https://hooks.slack.com/x"},
        dotenv_file=None,
    )
    assert https.slack_webhook_url == "https://hooks.slack.com/x"
