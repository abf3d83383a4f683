"""The SMTP boundary against a real server: TLS, AUTH, and how failures are classified."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from healer.notify.delivery import PermanentDeliveryError, TransientDeliveryError
from healer.notify.mail import MailRenderer
from healer.notify.smtp import SmtpSettings, SmtpTransport
from healer.redactor import NO_SECRETS
from testbed.processes import free_port
from testbed.smtp import CertPair, SmtpServer
from tests.notify.conftest import PASSWORD, TO, USER, SmtpFactory


def transport_for(server: SmtpServer, *, password: str = PASSWORD) -> SmtpTransport:
    return SmtpTransport(
        SmtpSettings(
            host=server.host,
            port=server.port,
            security=server.security,
            timeout_seconds=5,
            sender=USER,
            recipients=TO,
            password=password,
            allow_plaintext_auth=server.security == "none",  # the loopback test server
        )
    )


def message() -> EmailMessage:
    return MailRenderer(sender=USER, recipients=TO, redactor=NO_SECRETS).test_message(
        "test", now=time.time()
    )


def test_starttls_with_a_self_signed_certificate_and_auth_delivers_to_every_recipient(
    smtp_server: SmtpFactory, trust_cert: CertPair
) -> None:
    server = smtp_server(security="starttls", cert=trust_cert)
    outcome, detail = transport_for(server).send(message())
    (received,) = server.wait_for(1)
    assert outcome == "sent"
    assert received.tls and received.user == USER
    assert received.rcpt_tos == TO
    assert detail == f"to {', '.join(TO)} via 127.0.0.1:{server.port} (starttls)"


def test_implicit_tls_on_the_ssl_port_delivers(
    smtp_server: SmtpFactory, trust_cert: CertPair
) -> None:
    server = smtp_server(security="ssl", cert=trust_cert)
    transport_for(server).send(message())
    (received,) = server.wait_for(1)
    assert received.tls and received.user == USER


def test_a_certificate_nobody_trusts_is_reported_not_retried(
    smtp_server: SmtpFactory, tls_cert: CertPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    server = smtp_server(security="starttls", cert=tls_cert)
    with pytest.raises(PermanentDeliveryError, match="TLS certificate not trusted"):
        transport_for(server).send(message())
    assert server.messages == []


def test_a_wrong_password_is_a_permanent_error_that_explains_app_passwords(
    smtp_server: SmtpFactory, trust_cert: CertPair
) -> None:
    server = smtp_server(security="starttls", cert=trust_cert)
    with pytest.raises(PermanentDeliveryError, match="SMTP 535") as caught:
        transport_for(server, password="not-the-password").send(message())
    assert "app password" in str(caught.value)
    assert "not-the-password" not in str(caught.value)
    assert server.messages == []


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("451", TransientDeliveryError, "SMTP 451"),
        ("550", PermanentDeliveryError, "SMTP 550 5.4.5"),
        ("535", PermanentDeliveryError, "SMTP 535"),
    ],
)
def test_server_replies_are_classified_4xx_transient_and_5xx_permanent(
    smtp_server: SmtpFactory, fault: str, error: type[Exception], code: str
) -> None:
    server = smtp_server()
    server.fault = fault  # the fault injector: a healthy server cannot be made to say these
    with pytest.raises(error, match=code):
        transport_for(server).send(message())
    assert server.messages == []


def test_a_server_that_is_down_is_a_transient_error() -> None:
    nobody = SmtpServer(port=free_port())  # never started
    with pytest.raises(TransientDeliveryError, match=r"127\.0\.0\.1"):
        transport_for(nobody).send(message())
