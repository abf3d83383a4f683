"""Incident memory on real Docker and a real SMTP server: a failure that keeps coming
back shows its history, changes the recommendation, and with HEALER_RECURRENCE_HOLD
is held for a human instead of restarted."""

from __future__ import annotations

from pathlib import Path

import docker

from healer.memory import Memory
from healer.model import Incident, IncidentStatus
from testbed.alerts import firing, payload
from testbed.containers import ContainerFactory, MadeContainer, wait_for_state
from testbed.events import recording
from testbed.processes import wait_until
from testbed.smtp import SmtpServer
from tests.healer.conftest import Healer, HealerFactory
from tests.notify.conftest import smtp_env

# Starts clean, then fails the same way whenever /tmp/die appears (the test's trigger):
# the same decisive line each time, with a different number in it.
FLAKY = [
    "sh",
    "-c",
    "rm -f /tmp/die; echo 'worker started'; while [ ! -f /tmp/die ]; do sleep 0.2; done;"
    ' echo "ERROR: connection to queue at 10.0.0.5:5672 refused (attempt $$)"; exit 3',
]


def fail_once_more(c: MadeContainer) -> None:
    c.exec_run(["touch", "/tmp/die"])
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")


def incident_for(healer: Healer, c: MadeContainer, n: int) -> Incident:
    # Each failure is a new alert (Prometheus fires again after the container was up).
    alert = firing(c.name, container_id=c.id[:12], fingerprint=f"fp-{c.name}-{n}")
    alert["startsAt"] = f"2030-01-01T00:00:{n:02d}.000Z"
    (incident_id,) = healer.post(payload(alert)).get_json()["created"]
    return healer.wait_done(incident_id)


def test_a_recurring_failure_shows_its_history_and_a_restart_only_hides_it(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    smtp_sink: SmtpServer,
    docker_api: docker.DockerClient,
    tmp_path: Path,
) -> None:
    data = str(tmp_path / "shared")
    healer = make_healer(
        **smtp_env(smtp_sink),
        HEALER_DATA_DIR=data,
        HEALER_RECURRENCE_THRESHOLD="2",
        NOTIFY_GROUP_WAIT_SECONDS="0.2",
    )
    c = container_factory.run(FLAKY)
    wait_until(lambda: b"worker started" in c.logs(), what="the worker to start")
    seen: list[Incident] = []
    for n in range(3):
        fail_once_more(c)
        seen.append(incident_for(healer, c, n))
        wait_for_state(c, lambda a: a["State"]["Running"])
    first, second, third = seen
    assert all(i.status is IncidentStatus.HEALED for i in seen), [i.decision for i in seen]
    memories = [Memory.from_dict(i.memory or {}) for i in seen]
    # One failure, one signature, whatever the number in its line.
    assert len({m.signature for m in memories}) == 1
    assert [m.seen for m in memories] == [0, 1, 2]
    assert memories[0].summary == "first time in 7 days"
    assert memories[1].summary.startswith("seen once before in 7 days; last time a restart")
    assert "healed it and it stayed up" in memories[2].summary
    assert memories[2].last_incident == second.id
    assert second.closed_at is not None
    assert memories[2].stayed_up_seconds is not None
    assert abs(memories[2].stayed_up_seconds - (third.opened_at - second.closed_at)) < 0.2
    # Past the threshold the recommendation changes; without the hold it still restarts.
    assert not memories[1].recurring and memories[2].recurring
    assert third.diagnosis is not None
    assert third.diagnosis.recommendation.startswith("This failure keeps coming back (seen twice")
    assert "a restart only hides this" in third.diagnosis.recommendation
    assert first.diagnosis is not None and "keeps coming back" not in first.diagnosis.recommendation
    # ... shown in the email, the page and the API
    mails = smtp_sink.wait_for(3, timeout=15)
    last_mail = mails[-1].part("plain")
    assert "HISTORY (RECURRING)" in last_mail
    assert "Seen twice before in 7 days; last time a restart healed it" in last_mail
    assert "A restart only hides this." in last_mail
    assert "HISTORY" not in mails[0].part("plain")
    page = healer.client.get(f"/incidents/{third.id}").get_data(as_text=True)
    assert 'id="memory"' in page and "Seen twice before in 7 days" in page
    api = healer.client.get(f"/api/incidents/{third.id}").get_json()
    assert api["memory"]["seen"] == 2 and api["memory"]["recurring"] is True
    assert api["memory"]["last_incident"] == second.id

    # With HEALER_RECURRENCE_HOLD=true the next one is held for a human: no restart.
    healer.runtime.stop()
    holding = make_healer(
        HEALER_DATA_DIR=data, HEALER_RECURRENCE_THRESHOLD="2", HEALER_RECURRENCE_HOLD="true"
    )
    fail_once_more(c)
    with recording(docker_api) as events:
        held = incident_for(holding, c, 3)
    assert events.count("start", c.id) == 0
    assert held.status is IncidentStatus.OPEN
    assert held.decision is not None
    assert "HEALER_RECURRENCE_HOLD=true" in held.decision.reason
    assert "seen 3 times before in 7 days" in held.decision.reason


def test_a_different_failure_of_the_same_container_is_remembered_apart(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer()
    c = container_factory.run(FLAKY)
    wait_until(lambda: b"worker started" in c.logs(), what="the worker to start")
    fail_once_more(c)
    crashed = incident_for(healer, c, 0)
    wait_for_state(c, lambda a: a["State"]["Running"])
    c.stop(timeout=0)  # an operator's stop is another failure than the worker's own crash
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    stopped = incident_for(healer, c, 1)
    assert crashed.memory is not None and stopped.memory is not None
    assert crashed.memory["signature"] != stopped.memory["signature"]
    assert stopped.memory["seen"] == 0
