"""A real SMTP server on loopback (aiosmtpd) for email tests.

`SmtpServer` speaks real SMTP: STARTTLS or implicit TLS with a self-signed
certificate made for the test (`make_cert`), AUTH PLAIN/LOGIN against a user
table, and it keeps every message it accepted. `stop()` and `start()` reuse
the same port, so a test can have the server down when an incident happens
and up again later.

`fault` switches on the fault injector, for replies a healthy server cannot be
made to give on demand:
  "451" — MAIL FROM answered 451 4.3.0 (transient: the sender must retry)
  "550" — DATA answered 550 5.4.5 (Gmail's daily quota: must not be retried)
  "535" — every AUTH refused with 535 5.7.8, whatever the password
"""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from testbed.processes import free_port

Security = Literal["starttls", "ssl", "none"]
FAULTS = {
    "451": "451 4.3.0 Fault injector: temporary local problem, try again later",
    "550": "550 5.4.5 Fault injector: Daily user sending quota exceeded.",
    "535": "535 5.7.8 Fault injector: Username and Password not accepted.",
}


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


def make_cert(directory: Path) -> CertPair:
    """A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return CertPair(cert, key)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    tls: bool
    user: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        """The decoded text/<subtype> body ("plain" or "html")."""
        body = self.message.get_body((subtype,))
        assert body is not None, f"no text/{subtype} part"
        assert isinstance(body, EmailMessage)
        return str(body.get_content())


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, _server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.server.mail_commands += 1
        if self.server.fault == "451":
            return FAULTS["451"]
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.server.fault == "550":
            return FAULTS["550"]
        user = None
        if session.auth_data is not None and isinstance(session.auth_data, LoginPassword):
            user = session.auth_data.login.decode()
        self.server.record(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=bytes(envelope.original_content or envelope.content),
                # An implicit-TLS listener speaks nothing but TLS.
                tls=session.ssl is not None or self.server.security == "ssl",
                user=user,
            )
        )
        return "250 2.0.0 OK: queued"


class SmtpServer:
    """A loopback SMTP server that can be stopped and started again on its port."""

    def __init__(
        self,
        *,
        security: Security = "none",
        cert: CertPair | None = None,
        users: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        if security != "none" and cert is None:
            raise ValueError(f"security={security} needs a certificate")
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.security = security
        self.cert = cert
        self.users = dict(users or {})
        self.fault: str | None = None  # see the module docstring
        self.mail_commands = 0
        self.auth_attempts = 0
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> SmtpServer:
        if self._controller is not None:
            return self
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "smtp.test",
            "ready_timeout": 5.0,
        }
        if self.users:
            kwargs["authenticator"] = self._authenticate
            # aiosmtpd only knows about STARTTLS: with implicit TLS (or none) AUTH is
            # offered but not required, else it warns; tests check `Received.user`.
            kwargs["auth_required"] = self.security == "starttls"
            kwargs["auth_require_tls"] = self.security == "starttls"
        if self.security == "starttls":
            kwargs["tls_context"] = self._tls()
            kwargs["require_starttls"] = True
        elif self.security == "ssl":
            kwargs["ssl_context"] = self._tls()
        controller = Controller(_Handler(self), **kwargs)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def _tls(self) -> ssl.SSLContext:
        assert self.cert is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert.cert), str(self.cert.key))
        return context

    def _authenticate(
        self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, auth_data: Any
    ) -> AuthResult:
        self.auth_attempts += 1
        if self.fault == "535":
            return AuthResult(success=False, handled=False, message=FAULTS["535"])
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.users.get(user) == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    # -- what arrived -------------------------------------------------------------
    def record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least `count` messages arrived; returns all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise TimeoutError(f"{len(self.messages)} of {count} email(s) arrived in {timeout}s")
