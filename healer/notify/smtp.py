"""Sending through an SMTP server (Gmail by default) with smtplib.

This is the one place smtplib's errors are translated: 4xx replies and
connection problems are transient (the outbox retries them); 5xx replies —
535 bad credentials, 550 5.4.5 Gmail's daily quota, refused addresses — are
permanent, reported once and not retried.

TLS trusts the system's CA store. A relay with a private CA is trusted by
pointing OpenSSL's standard `SSL_CERT_FILE` at its certificate.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from healer.notify.delivery import Outcome, PermanentDeliveryError, TransientDeliveryError
from healer.notify.mail import local_hostname

AUTH_CODES = frozenset({530, 534, 535})
HINTS = {
    530: "the server wants a login first: set EMAIL_APP_PASSWORD",
    534: "the server refused this kind of login: for Gmail use an app password",
    535: (
        "the server refused the login for EMAIL_FROM with EMAIL_APP_PASSWORD: for Gmail, "
        "turn on 2-Step Verification and use a 16-letter app password, not the account password"
    ),
    552: "the message or mailbox is over a size or storage limit",
}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # starttls | ssl | none
    timeout_seconds: float
    sender: str
    recipients: tuple[str, ...]
    password: str = field(repr=False, default="")
    allow_plaintext_auth: bool = False

    @property
    def configured(self) -> bool:
        """SMTP is used with credentials, or without them only for an explicit plain relay
        (SMTP_SECURITY=none); otherwise messages go to .eml files in the outbox folder."""
        if not (self.sender and self.recipients):
            return False
        return bool(self.password) or self.security == "none"

    def describe(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"


def classify(code: int, text: str, what: str) -> TransientDeliveryError | PermanentDeliveryError:
    """The outbox's view of an SMTP reply code."""
    message = f"{what}: SMTP {code} {text}".strip()
    hint = HINTS.get(code)
    if code == 550 and "5.4.5" in text:
        hint = "the account's daily sending quota is used up (Gmail: about 500 a day)"
    if hint:
        message += f" ({hint})"
    if 400 <= code < 500:
        return TransientDeliveryError(message)
    return PermanentDeliveryError(message)


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())


class SmtpTransport:
    """One connection per message: a healer sends a handful a day, and a fresh
    connection never trips over a server's idle timeout."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        tls_context: Callable[[], ssl.SSLContext] = ssl.create_default_context,
    ) -> None:
        self.settings = settings
        self._tls_context = tls_context

    def describe(self) -> str:
        return f"SMTP {self.settings.describe()} as {self.settings.sender}"

    def send(self, msg: EmailMessage, *, stem: str = "") -> tuple[Outcome, str]:
        s = self.settings
        where = s.describe()
        try:
            refused = self._send(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {addr: (code, _text(text)) for addr, (code, text) in exc.recipients.items()}
            worst = min(code for code, _ in codes.values())  # any 4xx makes it worth a retry
            detail = "; ".join(f"{a}: {c} {t}" for a, (c, t) in codes.items())
            raise classify(worst, detail, f"{where} refused every recipient") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(
                f"{where}: {exc} (check SMTP_SECURITY; Gmail is starttls on 587 or ssl on 465)"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise classify(exc.smtp_code, _text(exc.smtp_error), where) from None
        except ssl.SSLCertVerificationError as exc:
            # Retrying cannot make an untrusted certificate trusted: a human must look.
            raise PermanentDeliveryError(
                f"{where}: TLS certificate not trusted ({exc.verify_message})"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise TransientDeliveryError(f"{where}: {reason}") from None
        accepted = [r for r in s.recipients if r not in refused]
        detail = f"to {', '.join(accepted)} via {where}"
        if refused:
            detail += "; refused: " + ", ".join(
                f"{a} ({c} {_text(t)})" for a, (c, t) in refused.items()
            )
        return "sent", detail

    def _send(self, msg: EmailMessage) -> dict[str, tuple[int, bytes]]:
        s = self.settings
        if s.password and s.security == "none" and not s.allow_plaintext_auth:
            # The config refuses this at start-up; this guard keeps the promise for any
            # other caller that builds settings by hand.
            raise PermanentDeliveryError(
                f"{s.describe()}: refusing to send EMAIL_APP_PASSWORD without TLS "
                "(SMTP_SECURITY=none; set SMTP_ALLOW_PLAINTEXT_AUTH=true to allow it)"
            )
        client: smtplib.SMTP
        if s.security == "ssl":
            client = smtplib.SMTP_SSL(
                s.host,
                s.port,
                local_hostname=local_hostname(),
                timeout=s.timeout_seconds,
                context=self._tls_context(),
            )
        else:
            client = smtplib.SMTP(
                s.host, s.port, local_hostname=local_hostname(), timeout=s.timeout_seconds
            )
        try:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=self._tls_context())
                client.ehlo()
            if s.password:
                client.login(s.sender, s.password)
            return client.send_message(msg, from_addr=s.sender, to_addrs=list(s.recipients))
        finally:
            # The message is accepted once DATA is answered 250; a failing QUIT
            # must not turn that into a retry (and a duplicate email).
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()
