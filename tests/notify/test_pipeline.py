"""Email from the whole healer: real containers, the real pipeline, a real SMTP server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from healer.model import IncidentStatus
from testbed.alerts import firing, payload
from testbed.containers import ContainerFactory, wait_for_state
from testbed.healer_proc import TOKEN, healer_env, start_healer
from testbed.processes import wait_until
from tests.healer.conftest import HealerFactory
from tests.notify.conftest import SmtpFactory, smtp_env

AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def test_a_stopped_managed_container_is_healed_and_exactly_one_email_arrives(
    make_healer: HealerFactory, container_factory: ContainerFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server()
    healer = make_healer(**smtp_env(server), NOTIFY_GROUP_WAIT_SECONDS="0.2")
    c = container_factory.run(
        ["sh", "-c", "echo 'serving <b>orders</b> on :8080'; exec sleep 1000"]
    )
    wait_until(lambda: c.logs(), what="the container's first log line")
    c.stop(timeout=0)
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    body = healer.post(payload(firing(c.name, container_id=c.id[:12]))).get_json()
    incident = healer.wait_done(body["created"][0])
    assert incident.status is IncidentStatus.HEALED
    (received,) = server.wait_for(1, timeout=15)
    time.sleep(0.5)
    assert len(server.messages) == 1
    assert received.subject == f"[WARNING] {c.name} down — healed after 1 restart"
    html = received.part("html")
    assert "serving &lt;b&gt;orders&lt;/b&gt; on :8080" in html  # the real log, escaped
    assert "rules engine" in html
    api = healer.client.get(f"/api/incidents/{incident.id}").get_json()
    (notification,) = api["notifications"]
    assert notification["status"] == "sent" and notification["channel"] == "email"
    metrics = healer.client.get("/metrics").get_data(as_text=True)
    assert 'healer_emails_total{outcome="sent"} 1.0' in metrics
    assert len(healer.alerts_log()) == 1


def test_thirty_containers_down_in_one_alertmanager_group_make_one_digest_email(
    make_healer: HealerFactory, container_factory: ContainerFactory, smtp_server: SmtpFactory
) -> None:
    server = smtp_server()
    healer = make_healer(**smtp_env(server), HEALER_MODE="check", NOTIFY_GROUP_WAIT_SECONDS="0.5")
    names = [container_factory.run(start=False, hint="storm").name for _ in range(30)]
    body = healer.post(payload(*(firing(name) for name in names))).get_json()
    assert len(body["created"]) == 30
    for incident_id in body["created"]:
        healer.wait_done(incident_id)
    (digest,) = server.wait_for(1, timeout=20)
    time.sleep(1.0)
    assert len(server.messages) == 1
    assert digest.subject.startswith("[WARNING] Alert storm: 30 containers down")
    text = digest.part("plain")
    assert all(name in text for name in names)
    first = healer.client.get(f"/api/incidents/{body['created'][0]}").get_json()
    assert first["notifications"][0]["digest_id"] is not None
    assert first["notifications"][0]["status"] == "sent"


def _incident(url: str, incident_id: int) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{url}/api/incidents/{incident_id}", timeout=5).json()
    return answer


def test_a_healer_killed_with_an_email_queued_sends_it_once_after_restart(
    tmp_path: Path, smtp_server: SmtpFactory
) -> None:
    server = smtp_server(start=False)  # the email cannot leave before the kill
    env = healer_env(
        tmp_path / "data",
        HEALER_MODE="check",
        NOTIFY_GROUP_WAIT_SECONDS="0",
        NOTIFY_RETRY_SECONDS="0.5",
        **smtp_env(server),
    )
    healer = start_healer(env, tmp_path)
    try:
        alert = firing("itops-notify-no-such-container")
        answer = requests.post(
            f"{healer.url}/webhook/alertmanager",
            data=json.dumps(payload(alert)),
            headers=AUTH,
            timeout=10,
        ).json()
        (incident_id,) = answer["created"]
        wait_until(
            lambda: _incident(healer.url, incident_id)["notifications"][0]["attempts"] >= 1,
            timeout=30,
            what="a failed delivery attempt",
        )
    finally:
        healer.kill()  # SIGKILL: no shutdown hook runs
    server.start()
    restarted = start_healer(env, tmp_path, name="healer-2")
    try:
        (received,) = server.wait_for(1, timeout=30)
        wait_until(
            lambda: _incident(restarted.url, incident_id)["notifications"][0]["status"] == "sent",
            timeout=10,
            what="the notification to be recorded as sent",
        )
        time.sleep(1.0)
        assert len(server.messages) == 1
        assert "itops-notify-no-such-container" in received.subject
        assert "skipped" in received.subject
    finally:
        restarted.stop()
