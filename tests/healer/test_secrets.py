"""No secret leaves the healer: not from Docker's error text, a log line or its own settings.

Reproduces issue 12, finding 7: a `--db-password=...` inside Docker's own error
message reached `/api/incidents/1` and `alerts.log`, while the same secret in a
log line was redacted. Here a real container's restart fails with Docker's
`exec: "<its command>": ...` error carrying secrets, the real healer (heal mode)
handles the alert, and every way out is read as a user would read it: the API,
the pages, `alerts.log`, the email (.eml in the outbox), Slack, and the bytes of
the SQLite files themselves.
"""

from __future__ import annotations

import io
import json
import shlex
import tarfile
import time
import uuid
from collections.abc import Sequence
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import docker
import pytest
from markupsafe import escape

from healer.model import Incident, IncidentStatus
from healer.redact import REDACTED
from testbed.alerts import firing, payload
from testbed.containers import ContainerFactory, MadeContainer, wait_for_state
from testbed.healer_proc import TOKEN
from testbed.processes import wait_until
from testbed.slack import running_slack_receiver
from tests.healer.conftest import Healer, HealerFactory

READ_TOKEN = "read-token-5e0c2b7a9d4f1e63"
APP_PASSWORD = "qwer tyui opas dfgh"  # as Google shows it; the setting drops the spaces
OPENAI_KEY = "oai-key-7c1e9b2d4f6a8c0e"  # no known token shape: only the value can catch it
APPROVAL_SECRET = "approval-secret-3b8d1f0a6c2e"  # signs approval links: never stored, never shown


def _archive(path: str, script: str) -> bytes:
    data = script.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def failing_on_restart(
    factory: ContainerFactory, argv0: str, *, logs: Sequence[str]
) -> MadeContainer:
    """A managed container whose command is an executable named `argv0`: it prints `logs`
    and runs, then loses that executable and is killed, so restarting it fails with Docker's
    own `exec: "<argv0>": ...` error. A bare name is found on PATH (/bin), a path from /."""
    folder = "/" if "/" in argv0 else "/bin"
    container = factory.run(None, hint="secret", start=False, entrypoint=[argv0])
    script = "".join(f"echo {shlex.quote(line)}\n" for line in logs)
    container.put_archive(folder, _archive(argv0, f"#!/bin/sh\n{script}exec sleep 100000\n"))
    container.start()
    wait_until(
        lambda: len(container.logs().splitlines()) >= len(logs), what="the container's log lines"
    )
    executable = f"{folder.rstrip('/')}/{argv0}"
    assert container.exec_run(["rm", executable]).exit_code == 0
    container.kill()
    wait_for_state(container, lambda a: a["State"]["Status"] == "exited")
    return container


def emails(outbox: Path) -> list[EmailMessage]:
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def email_text(message: EmailMessage) -> str:
    """Headers, the raw (possibly encoded) source and every decoded part."""
    parts = [message.as_string()]
    parts += [str(part.get_content()) for part in message.walk() if not part.is_multipart()]
    return "\n".join(parts)


def handled(healer: Healer, container: MadeContainer) -> Incident:
    answer = healer.post(payload(firing(container.name, container_id=container.id[:12])))
    incident = healer.wait_done(answer.get_json()["created"][0])
    wait_until(lambda: emails(healer.config.outbox_dir), what="the incident's email")
    return healer.incident(incident.id)


def every_sink(healer: Healer, incident_id: int, headers: dict[str, str]) -> dict[str, str]:
    """What each way out of the healer shows, as text."""

    def get(path: str) -> str:
        response = healer.client.get(path, headers=headers)
        assert response.status_code == 200, path
        return response.get_data(as_text=True)

    config = healer.config
    database = b"".join(
        path.read_bytes()
        for path in config.data_dir.glob(f"{config.database.name}*")  # -wal and -shm too
    )
    return {
        "/api/incidents/<id>": get(f"/api/incidents/{incident_id}"),
        "/api/incidents": get("/api/incidents"),
        "incident page": get(f"/incidents/{incident_id}"),
        "status page": get("/"),
        "alerts.log": config.alerts_log.read_text(),
        "email": "\n".join(email_text(m) for m in emails(config.outbox_dir)),
        "SQLite files": database.decode("utf-8", errors="replace"),
    }


def assert_nowhere(secrets: Sequence[str], sinks: dict[str, str]) -> None:
    leaks = [
        f"{secret!r} in {where}"
        for secret in secrets
        for where, text in sinks.items()
        if secret in text
    ]
    assert not leaks, "secrets leaked: " + "; ".join(leaks)


def test_a_password_in_dockers_restart_error_is_redacted_everywhere_like_the_same_in_a_log(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    secret = f"hunter2-{uuid.uuid4().hex[:12]}"
    healer = make_healer(NOTIFY_GROUP_WAIT_SECONDS="0.2")
    container = failing_on_restart(
        container_factory,
        f"--db-password={secret}",
        logs=[f"starting orders --db-password={secret} --port 8080"],
    )

    incident = handled(healer, container)

    # Docker's error carried the secret down the restart path ...
    assert incident.status is IncidentStatus.FAILED
    assert incident.actions and all(a.result == "error" for a in incident.actions)
    assert "executable file not found" in incident.actions[0].error
    # ... and it is nowhere: not where it was recorded, not where it leaves.
    assert_nowhere([secret], every_sink(healer, incident.id, {}))
    # The key stays, so a reader knows which setting was involved, as in a log line.
    assert 'exec: "--db-password=[REDACTED]": executable' in incident.actions[0].error
    assert incident.verification is not None
    assert "--db-password=[REDACTED]" in incident.verification.summary
    assert any("--db-password=[REDACTED]" in s.detail for s in incident.steps)
    assert "--db-password=[REDACTED] --port 8080" in str(incident.evidence)


def test_a_password_in_the_command_of_a_container_that_never_started_is_redacted_everywhere(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    # Docker keeps the start error in State.Error; the classifier quotes it as the root cause,
    # which alerts.log, the email and Slack all carry.
    secret = f"hunter2-{uuid.uuid4().hex[:12]}"
    healer = make_healer(NOTIFY_GROUP_WAIT_SECONDS="0.2")
    container = container_factory.run(None, start=False, entrypoint=[f"--db-password={secret}"])
    with pytest.raises(docker.errors.APIError, match="executable file not found"):
        container.start()

    incident = handled(healer, container)

    assert incident.diagnosis is not None
    assert "executable file not found" in incident.diagnosis.root_cause
    assert_nowhere([secret], every_sink(healer, incident.id, {}))
    (line,) = healer.alerts_log()
    assert "--db-password=[REDACTED]" in line["root_cause"]


def test_the_installations_own_secrets_in_logs_and_dockers_error_reach_no_sink(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    with running_slack_receiver() as receiver:
        healer = make_healer(
            NOTIFY_GROUP_WAIT_SECONDS="0.2",
            HEALER_READ_TOKEN=READ_TOKEN,
            EMAIL_APP_PASSWORD=APP_PASSWORD,
            OPENAI_API_KEY=OPENAI_KEY,
            SLACK_WEBHOOK_URL=receiver.url,
            HEALER_APPROVAL_SECRET=APPROVAL_SECRET,
        )
        # Each SECRET_KEYS value, bare (no key= before it for a pattern to find).
        values = [TOKEN, READ_TOKEN, APP_PASSWORD, OPENAI_KEY, receiver.url, APPROVAL_SECRET]
        container = failing_on_restart(
            container_factory,
            "run " + " ".join(values),  # the Slack URL makes it a path: run .../secretpath0123
            logs=[f"connecting with {value}" for value in values],
        )

        incident = handled(healer, container)
        wait_until(lambda: receiver.posts, what="the Slack post")

        assert incident.actions and all(a.result == "error" for a in incident.actions)
        assert "no such file or directory" in incident.actions[0].error
        sinks = every_sink(healer, incident.id, {"Authorization": f"Bearer {READ_TOKEN}"})
        sinks["Slack"] = str(receiver.posts)
        secrets = [*values, APP_PASSWORD.replace(" ", ""), "secretpath0123"]
        assert_nowhere(secrets, sinks)
        assert incident.actions[0].error.count("[REDACTED]") >= len(values)
        assert "connecting with [REDACTED]" in str(incident.evidence)


def test_a_password_in_an_alert_annotation_is_stored_redacted(
    make_healer: HealerFactory,
) -> None:
    healer = make_healer(start_workers=False)
    alert = firing("prod-db-01")
    alert["annotations"]["description"] = "login failed with DB_PASSWORD=hunter2-annot"

    (incident_id,) = healer.post(payload(alert)).get_json()["created"]

    annotations = healer.incident(incident_id).alert.annotations
    assert annotations["description"] == f"login failed with DB_PASSWORD={REDACTED}"
    assert annotations["summary"] == "prod-db-01 is down"  # ordinary prose untouched


def test_a_secret_already_in_the_store_is_scrubbed_from_every_web_response(
    make_healer: HealerFactory,
) -> None:
    # A row written before redaction existed, say. Quotes and & make JSON and HTML encode it.
    read_token = "r3ad&'tok\"en-0123456789abcdef"
    healer = make_healer(start_workers=False, HEALER_READ_TOKEN=read_token)
    (incident_id,) = healer.post(payload(firing("prod-web-01"))).get_json()["created"]
    healer.runtime.store.add_step(incident_id, time.time(), "note", f"old row: {read_token}")

    headers = {"Authorization": f"Bearer {TOKEN}"}
    for path in (f"/api/incidents/{incident_id}", "/api/incidents", f"/incidents/{incident_id}"):
        body = healer.client.get(path, headers=headers).get_data(as_text=True)
        for form in (read_token, json.dumps(read_token)[1:-1], str(escape(read_token))):
            assert form not in body, (path, form)
        assert f"old row: {REDACTED}" in body, path
