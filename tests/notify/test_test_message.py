"""`python -m healer test-email`: one message through the configured transport."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from healer.config import load_config
from healer.notify.delivery_check import send_test_message
from testbed.processes import REPO
from testbed.smtp import CertPair
from tests.notify.conftest import TO, USER, SmtpFactory, smtp_env


def test_the_test_email_goes_through_starttls_and_auth_and_says_where_it_went(
    smtp_server: SmtpFactory, trust_cert: CertPair, tmp_path: Path
) -> None:
    server = smtp_server(security="starttls", cert=trust_cert)
    config = load_config({"HEALER_DATA_DIR": str(tmp_path), **smtp_env(server)}, dotenv_file=None)
    result = send_test_message(config)
    (received,) = server.wait_for(1)
    assert result.ok
    assert result.message == (
        f"test email sent to {', '.join(TO)} via 127.0.0.1:{server.port} (starttls)"
    )
    assert received.subject == "[INFO] Healer test message"
    assert received.tls and received.user == USER
    assert received.part("plain") and received.part("html")


def test_a_wrong_password_fails_the_test_email_with_the_smtp_code(
    smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = smtp_server()
    env = {**smtp_env(server), "EMAIL_APP_PASSWORD": "wrong-password-1234"}
    config = load_config({"HEALER_DATA_DIR": str(tmp_path), **env}, dotenv_file=None)
    result = send_test_message(config)
    assert not result.ok
    assert "SMTP 535" in result.message and "app password" in result.message
    assert "wrong-password-1234" not in result.message


def test_the_cli_without_credentials_writes_the_test_email_to_the_outbox_folder(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HEALER_DATA_DIR": str(tmp_path),
        "EMAIL_TO": "oncall@example.com",
    }
    done = subprocess.run(
        [sys.executable, "-m", "healer", "test-email"],
        env=env,
        cwd=tmp_path,  # no .env file here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert "EMAIL_FROM, EMAIL_APP_PASSWORD not set" in done.stdout
    assert str(eml) in done.stdout
