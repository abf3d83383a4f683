"""Stop a managed container and watch the real chain heal it, tell about it, and record it."""

from __future__ import annotations

import json
import time

import docker
import requests

from testbed.alerts import firing, payload
from testbed.containers import starts_since, wait_for_state
from testbed.events import recording
from testbed.healer_proc import TOKEN
from tests.e2e.conftest import MAIL_TO, ChainFactory, settle


def test_a_stopped_managed_container_is_healed_verified_emailed_once_and_recorded(
    chain: ChainFactory, docker_api: docker.DockerClient
) -> None:
    c = chain("heal")
    web = c.managed(name=c.factory.name("prod-web-01"))
    bystander = c.factory.run(managed=False)  # no managed label: nobody may touch it
    c.wait_scraped(web.name)
    stopped_at = time.time()
    web.stop(timeout=1)
    bystander.stop(timeout=0)
    incident = c.wait_incident(web.name, lambda i: i["stage"] == "done")
    healed_at = time.time()
    assert incident["status"] == "healed", c.logs()
    assert incident["alertname"] == "ContainerDown"
    assert incident["mode"] == "heal"
    assert [a["result"] for a in incident["actions"]] == ["ok"]
    assert incident["verification"]["ok"] is True
    assert incident["diagnosis"]["source"] in ("rules", "llm")
    wait_for_state(web, lambda a: a["State"]["Running"])
    (mail,) = c.smtp.wait_for(1, timeout=20)
    assert web.name in mail.subject
    assert "healed" in mail.subject
    assert mail.rcpt_tos == (MAIL_TO,)
    assert mail.part("html") and mail.part("plain")
    # Alertmanager's resolved notification reaches the healed incident.
    resolved = c.wait_incident(web.name, lambda i: i["resolved_at"] is not None)
    assert resolved["status"] == "healed"
    settle(3)
    assert len(c.smtp.messages) == 1, [m.subject for m in c.smtp.messages]
    assert starts_since(docker_api, web.id, stopped_at) == 1
    bystander.reload()
    assert bystander.status == "exited"
    assert c.incident_for(bystander.name) is None
    print(f"\nstop → healed and verified through the whole chain: {healed_at - stopped_at:.1f}s")


def test_check_mode_emails_the_diagnosis_restarts_nothing_and_resolution_closes_it(
    chain: ChainFactory, docker_api: docker.DockerClient
) -> None:
    c = chain("check")
    app = c.managed(["sh", "-c", "echo 'ready'; exec sleep 100000"])
    c.wait_scraped(app.name)
    stopped_at = time.time()
    app.stop(timeout=1)
    incident = c.wait_incident(app.name, lambda i: i["stage"] == "done")
    assert incident["status"] == "open"
    assert incident["actions"] == []
    assert "check mode" in incident["decision"]["reason"]
    (mail,) = c.smtp.wait_for(1, timeout=20)
    assert "check mode" in mail.subject
    app.reload()
    assert app.status == "exited"
    assert starts_since(docker_api, app.id, stopped_at) == 0
    # A human fixes it; Alertmanager's resolved notification closes the incident.
    app.start()
    closed = c.wait_incident(app.name, lambda i: i["status"] == "resolved")
    assert closed["closed_at"] is not None
    follow_up = c.smtp.wait_for(2, timeout=20)[1]
    assert follow_up.message["In-Reply-To"] == mail.message["Message-ID"]


def test_an_unmanaged_container_is_never_touched_even_with_a_spoofed_alert(
    chain: ChainFactory,
) -> None:
    c = chain("heal")
    victim = c.factory.run(managed=False)
    victim.stop(timeout=0)
    spoofed = firing(victim.name, environment="production", itops_e2e="yes")
    answer = requests.post(
        f"{c.healer.url}/webhook/alertmanager",
        data=json.dumps(payload(spoofed)),
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 200
    incident = c.wait_incident(victim.name, lambda i: i["stage"] == "done")
    assert incident["status"] == "skipped"
    assert incident["actions"] == []
    victim.reload()
    assert victim.status == "exited"


def test_a_crash_looping_container_is_quarantined_with_one_escalation_not_restarted_forever(
    chain: ChainFactory, docker_api: docker.DockerClient
) -> None:
    c = chain("heal", MAX_RESTART_ATTEMPTS="3", HEALER_CRASHLOOP_RESTARTS="2")
    crasher = c.managed(["sh", "-c", "sleep 1; echo 'FATAL: worker crashed'; exit 1"])
    c.wait_scraped(crasher.name)
    wait_for_state(crasher, lambda a: a["State"]["Status"] == "exited", timeout=20)
    # Restarts are counted from the daemon's events recorded live (its own buffer is short).
    with recording(docker_api) as events:
        incident = c.wait_incident(crasher.name, lambda i: i["stage"] == "done", timeout=90)
        assert incident["status"] == "quarantined", c.logs()
        restarts = len(incident["actions"])
        assert restarts == 2
        (mail,) = c.smtp.wait_for(1, timeout=20)
        assert "quarantined" in mail.subject
        quarantined = requests.get(f"{c.healer.url}/api/quarantine", timeout=5).json()
        assert [q["container"] for q in quarantined["quarantined"]] == [crasher.name]
        settle(8)  # alerts keep firing; nothing restarts it again, nobody is emailed again
    assert events.count("start", crasher.id) == restarts
    assert len(c.smtp.messages) == 1
