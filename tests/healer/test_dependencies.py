"""Dependency-aware healing on real Docker: a provider and the dependents that failed with
it are one incident and one email, the provider is healed first, and each dependent
after it only if it is still down.

The graph is Compose's own labels (a real `docker compose up` of
tests/healer/compose/dependencies.yml) or `healer.depends-on`. Restarts are counted
from the daemon's events, recorded live.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from healer.model import Incident, IncidentStatus
from testbed.alerts import firing, payload
from testbed.compose import ComposeProject, compose_available
from testbed.containers import ContainerFactory, wait_for_state
from testbed.events import EventRecorder, recording
from testbed.processes import wait_until
from testbed.smtp import SmtpServer
from tests.healer.conftest import Healer, HealerFactory
from tests.notify.conftest import smtp_env

COMPOSE_FILE = Path(__file__).parent / "compose" / "dependencies.yml"


class Stack:
    def __init__(self, project: ComposeProject, run: str) -> None:
        self.project = project
        self.run = run
        self.names = {s: project.container_name(s) for s in ("db", "app1", "app2")}

    def __getitem__(self, service: str) -> str:
        return self.names[service]


@pytest.fixture
def stack(tmp_path: Path, docker_api: docker.DockerClient) -> Iterator[Stack]:
    if not compose_available():
        pytest.fail("docker compose (v2) is not installed; `make test` installs it")
    run = uuid.uuid4().hex[:8]
    env_file = tmp_path / "compose.env"
    env_file.write_text(f"ITOPS_RUN={run}\n")
    project = ComposeProject(f"itops-deps-{run}", env_file, files=(COMPOSE_FILE,))
    try:
        project.run("up", "-d", "--wait", timeout=180)
        yield Stack(project, run)
    finally:
        project.run("down", "-v", "--timeout", "0", check=False)
    assert project.leftovers(docker_api) == {"containers": [], "networks": [], "volumes": []}


def container_id(client: docker.DockerClient, name: str) -> str:
    return str(client.containers.get(name).id)


def state(client: docker.DockerClient, name: str) -> dict[str, Any]:
    attrs: dict[str, Any] = client.api.inspect_container(name)
    return attrs


def event_index(events: EventRecorder, action: str, cid: str) -> int:
    for n, event in enumerate(list(events.events)):
        if event.get("Action") == action and event.get("id") == cid:
            return n
    raise AssertionError(f"no {action} event for {cid[:12]}")


def wait_done(healer: Healer, *ids: int, timeout: float = 60) -> list[Incident]:
    return [healer.wait_done(i, timeout=timeout) for i in ids]


def test_a_database_and_two_apps_failing_together_are_one_incident_one_email_database_first(
    stack: Stack,
    make_healer: HealerFactory,
    smtp_sink: SmtpServer,
    docker_api: docker.DockerClient,
) -> None:
    server = smtp_sink
    healer = make_healer(
        **smtp_env(server),
        MANAGED_LABEL=f"itops.test.run={stack.run}",
        HEALER_VERIFY_WINDOW_SECONDS="2",
        NOTIFY_GROUP_WAIT_SECONDS="0.3",
        HEALER_WORKERS="3",
    )
    db, app1, app2 = stack["db"], stack["app1"], stack["app2"]
    ids = {name: container_id(docker_api, name) for name in (db, app1, app2)}
    docker_api.api.kill(db)
    wait_until(lambda: state(docker_api, app1)["State"]["Status"] == "exited", timeout=20)
    wait_until(
        lambda: state(docker_api, app2)["State"]["Health"]["Status"] == "unhealthy", timeout=20
    )
    with recording(docker_api) as events:
        # Alertmanager delivers each container's group on its own: the database first.
        first = healer.post(payload(firing(db, container_id=ids[db][:12]))).get_json()
        (lead_id,) = first["created"]
        wait_until(lambda: len(healer.incident(lead_id).dependents) == 2, timeout=10)
        later = healer.post(
            payload(
                firing(app1, container_id=ids[app1][:12]),
                firing(app2, alertname="ContainerUnhealthy", container_id=ids[app2][:12]),
            )
        ).get_json()
        assert later["created"] == [] and later["attached"] == [lead_id, lead_id]
        (lead,) = wait_done(healer, lead_id)
        wait_until(lambda: state(docker_api, app1)["State"]["Running"], timeout=10)
    # The database was restarted first; app1 only once the database was healthy again;
    # app2, which recovered by itself, never.
    assert events.count("start", ids[db]) == 1
    assert events.count("start", ids[app1]) == 1
    assert events.count("start", ids[app2]) == 0
    assert (
        event_index(events, "start", ids[db])
        < event_index(events, "health_status: healthy", ids[db])
        < event_index(events, "start", ids[app1])
    )
    assert lead.status is IncidentStatus.HEALED, lead.decision
    outcomes = {d.container: d for d in lead.dependents}
    assert outcomes[app1].outcome == "healed" and len(outcomes[app1].actions) == 1
    assert outcomes[app1].alertname == "ContainerDown"
    assert outcomes[app2].outcome == "recovered" and outcomes[app2].actions == ()
    assert healer.runtime.store.count_incidents() == 1
    # One email, about the database, listing both apps and what became of them.
    (message,) = server.wait_for(1, timeout=15)
    time.sleep(1.0)
    assert len(server.messages) == 1
    assert message.subject == f"[WARNING] {db} down (+2 dependents) — healed after 1 restart"
    text = message.part("plain")
    assert f"{app1} (ContainerDown): restarted, verified" in text
    assert f"{app2} (ContainerUnhealthy): recovered by itself, not touched" in text
    api = healer.client.get(f"/api/incidents/{lead_id}").get_json()
    assert [d["container"] for d in api["dependents"]] == [app1, app2]
    assert api["dependents"][0]["actions"][0]["result"] == "ok"
    page = healer.client.get(f"/incidents/{lead_id}").get_data(as_text=True)
    assert 'id="dependents"' in page and app2 in page


def test_the_healer_depends_on_label_groups_containers_compose_did_not_start(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(MANAGED_LABEL=f"itops.test.run={container_factory.run_id}")
    provider = container_factory.run(hint="queue")
    dependent = container_factory.run(hint="worker", labels={"healer.depends-on": provider.name})
    for c in (provider, dependent):
        c.stop(timeout=0)
        wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    with recording(docker_api) as events:
        # Both alerts in one delivery, the dependent's first: its incident is folded into
        # the provider's instead of restarting the worker while its queue is down.
        body = healer.post(
            payload(
                firing(dependent.name, container_id=dependent.id[:12]),
                firing(provider.name, container_id=provider.id[:12]),
            )
        ).get_json()
        dep_id, lead_id = body["created"]
        folded, lead = wait_done(healer, dep_id, lead_id)
    assert events.count("start", provider.id) == 1
    assert events.count("start", dependent.id) == 1
    assert event_index(events, "start", provider.id) < event_index(events, "start", dependent.id)
    assert lead.status is IncidentStatus.HEALED
    assert folded.grouped_into == lead_id and folded.status is IncidentStatus.SKIPPED
    assert [(d.container, d.outcome, d.merged_incident) for d in lead.dependents] == [
        (dependent.name, "healed", dep_id)
    ]
    # One notification for the two: the provider's.
    assert [n["kind"] for n in lead.notifications] == ["incident"]
    assert folded.notifications == ()
    assert len(healer.alerts_log()) == 1


def test_a_dependent_is_not_restarted_while_its_provider_stays_down_in_check_mode(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(
        MANAGED_LABEL=f"itops.test.run={container_factory.run_id}", HEALER_MODE="check"
    )
    provider = container_factory.run(hint="db")
    dependent = container_factory.run(hint="app", labels={"healer.depends-on": provider.name})
    for c in (provider, dependent):
        c.stop(timeout=0)
        wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    with recording(docker_api) as events:
        body = healer.post(
            payload(
                firing(provider.name, container_id=provider.id[:12]),
                firing(dependent.name, container_id=dependent.id[:12]),
            )
        ).get_json()
        lead = wait_done(healer, *body["created"])[0]
    assert events.count("start") == 0
    assert lead.status is IncidentStatus.OPEN
    (member,) = lead.dependents
    assert member.outcome == "held" and provider.name in member.reason


def test_dependents_that_waited_with_a_held_provider_are_healed_once_its_alert_resolves(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(MANAGED_LABEL=f"itops.test.run={container_factory.run_id}")
    # The operator keeps the provider for themselves (diagnose only): it is held open.
    provider = container_factory.run(hint="db", labels={"healer.mode": "check"})
    dependent = container_factory.run(hint="app", labels={"healer.depends-on": provider.name})
    for c in (provider, dependent):
        c.stop(timeout=0)
        wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    since = "2030-01-01T00:00:00.000Z"
    down = firing(provider.name, container_id=provider.id[:12], starts_at=since)
    (lead_id,) = healer.post(payload(down)).get_json()["created"]
    held = healer.wait_done(lead_id)
    assert held.status is IncidentStatus.OPEN
    assert [(d.container, d.outcome) for d in held.dependents] == [(dependent.name, "held")]
    provider.start()  # the operator fixed it
    wait_for_state(provider, lambda a: a["State"]["Running"])
    with recording(docker_api) as events:
        resolved = {**down, "status": "resolved"}
        body = healer.post(payload(resolved, status="resolved")).get_json()
        assert body["resolved"] == [lead_id]
        wait_until(
            lambda: (
                healer.incident(lead_id).dependents[0].outcome != "pending"
                and healer.incident(lead_id).stage == "done"
            ),
            timeout=30,
        )
    lead = healer.incident(lead_id)
    assert events.count("start", dependent.id) == 1, lead.dependents
    assert lead.status is IncidentStatus.RESOLVED
    assert lead.dependents[0].outcome == "healed"
    assert [n["kind"] for n in lead.notifications] == ["incident", "resolved", "update"]
