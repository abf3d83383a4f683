"""The incident pipeline end to end on real containers: restart, verify, refuse, record."""

from __future__ import annotations

import time

import docker

from healer.model import IncidentStatus
from testbed.alerts import firing, payload
from testbed.containers import ContainerFactory, MadeContainer, health, wait_for_state
from tests.healer.conftest import HealerFactory


def stopped(factory: ContainerFactory, **kwargs: object) -> MadeContainer:
    container = factory.run(**kwargs)  # type: ignore[arg-type]
    container.stop(timeout=0)
    wait_for_state(container, lambda a: a["State"]["Status"] == "exited")
    return container


def started_at(container: MadeContainer) -> str:
    container.reload()
    return str(container.attrs["State"]["StartedAt"])


def test_a_stopped_managed_container_is_restarted_verified_and_recorded(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer()
    c = stopped(container_factory)
    body = healer.post(payload(firing(c.name, container_id=c.id[:12]))).get_json()
    incident = healer.wait_done(body["created"][0])
    assert incident.status is IncidentStatus.HEALED
    assert [a.result for a in incident.actions] == ["ok"]
    assert incident.verification is not None
    assert incident.verification.ok
    assert incident.diagnosis is not None
    assert incident.diagnosis.source.value == "rules"
    wait_for_state(c, lambda a: a["State"]["Running"])
    (line,) = healer.alerts_log()
    assert line["status"] == "healed"
    assert line["container"] == c.name
    api = healer.client.get(f"/api/incidents/{incident.id}").get_json()
    for key in (
        "id",
        "container",
        "alertname",
        "status",
        "mode",
        "opened_at",
        "closed_at",
        "diagnosis",
        "actions",
        "verification",
        "notifications",
    ):
        assert key in api
    assert set(api["diagnosis"]) >= {
        "category",
        "root_cause",
        "restart_safe",
        "recommendation",
        "source",
    }
    assert api["actions"][0]["duration_seconds"] is not None


def test_a_container_that_dies_again_right_after_restart_is_not_reported_healed(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer(MAX_RESTART_ATTEMPTS="2", HEALER_VERIFY_WINDOW_SECONDS="2")
    c = container_factory.run(["sh", "-c", "sleep 0.5; exit 1"])
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    body = healer.post(payload(firing(c.name))).get_json()
    incident = healer.wait_done(body["created"][0], timeout=60)
    assert incident.status is IncidentStatus.FAILED
    assert len(incident.actions) == 2
    assert incident.verification is not None
    assert not incident.verification.ok
    assert "did not stay up" in incident.verification.summary or "stopped again" in (
        incident.verification.summary
    )


def test_an_unmanaged_container_with_spoofed_alert_labels_is_never_touched(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer()
    c = stopped(container_factory, managed=False)
    before = started_at(c)
    spoofed = firing(c.name, environment="production", managed_value="production", critical="true")
    incident = healer.wait_done(healer.post(payload(spoofed)).get_json()["created"][0])
    assert incident.status is IncidentStatus.SKIPPED
    assert incident.actions == ()
    assert "managed label" in (incident.decision.reason if incident.decision else "")
    assert started_at(c) == before
    c.reload()
    assert c.status == "exited"


def test_check_mode_diagnoses_and_notifies_but_never_restarts(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer(HEALER_MODE="check")
    c = stopped(container_factory)
    incident = healer.wait_done(healer.post(payload(firing(c.name))).get_json()["created"][0])
    assert incident.status is IncidentStatus.OPEN
    assert incident.actions == ()
    assert incident.diagnosis is not None
    c.reload()
    assert c.status == "exited"
    (line,) = healer.alerts_log()
    assert line["mode"] == "check"


def test_a_resolved_alert_closes_the_open_incident_with_a_follow_up(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer(HEALER_MODE="check")
    c = stopped(container_factory)
    alert = firing(c.name)
    incident = healer.wait_done(healer.post(payload(alert)).get_json()["created"][0])
    assert incident.status is IncidentStatus.OPEN
    resolved = alert | {"status": "resolved", "endsAt": "2030-01-01T00:00:00Z"}
    body = healer.post(payload(resolved, status="resolved")).get_json()
    assert body["resolved"] == [incident.id]
    closed = healer.incident(incident.id)
    assert closed.status is IncidentStatus.RESOLVED
    assert closed.closed_at is not None
    assert [line["kind"] for line in healer.alerts_log()] == ["incident", "resolved"]


def test_a_crash_looping_container_is_quarantined_and_not_restarted_again(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer(
        MAX_RESTART_ATTEMPTS="3", HEALER_CRASHLOOP_RESTARTS="2", HEALER_VERIFY_WINDOW_SECONDS="1.5"
    )
    c = container_factory.run(["sh", "-c", "echo FATAL: cannot start; sleep 0.3; exit 1"])
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    first = healer.wait_done(
        healer.post(payload(firing(c.name, starts_at="2026-11-30T00:00:00Z"))).get_json()[
            "created"
        ][0],
        timeout=60,
    )
    assert first.status is IncidentStatus.QUARANTINED
    assert len(first.actions) == 2
    again = healer.post(payload(firing(c.name, starts_at="2026-11-30T00:05:00Z"))).get_json()
    second = healer.wait_done(again["created"][0])
    assert second.status is IncidentStatus.QUARANTINED
    assert second.actions == ()
    # One escalation email for the quarantine, none for the repeat.
    assert [line["incident_id"] for line in healer.alerts_log()] == [first.id]
    quarantined = healer.client.get("/api/quarantine").get_json()["quarantined"]
    assert [q["container"] for q in quarantined] == [c.name]
    cleared = healer.client.post(
        f"/api/quarantine/{c.name}/clear", headers={"Authorization": "Bearer wrong-token-000000"}
    )
    assert cleared.status_code == 403
    cleared = healer.client.post(
        f"/api/quarantine/{c.name}/clear",
        headers={"Authorization": f"Bearer {healer.config.web.webhook_token}"},
    )
    assert cleared.status_code == 200
    assert healer.client.get("/api/quarantine").get_json()["quarantined"] == []


def test_a_container_that_recovered_before_the_healer_acted_is_left_alone(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer()
    c = container_factory.run()
    before = started_at(c)
    incident = healer.wait_done(healer.post(payload(firing(c.name))).get_json()["created"][0])
    assert incident.status is IncidentStatus.SKIPPED
    assert "recovered" in (incident.decision.reason if incident.decision else "")
    assert started_at(c) == before


def test_an_alert_about_a_replaced_container_does_not_restart_its_successor(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer()
    c = stopped(container_factory)
    alert = firing(c.name, container_id="0123456789ab")
    incident = healer.wait_done(healer.post(payload(alert)).get_json()["created"][0])
    assert incident.status is IncidentStatus.SKIPPED
    assert "replaced" in (incident.decision.reason if incident.decision else "")
    c.reload()
    assert c.status == "exited"


def test_the_healers_own_stack_is_never_restarted(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer()
    c = stopped(container_factory, labels={"itops.component": "prometheus"})
    incident = healer.wait_done(healer.post(payload(firing(c.name))).get_json()["created"][0])
    assert incident.status is IncidentStatus.SKIPPED
    c.reload()
    assert c.status == "exited"


def test_an_unhealthy_container_is_restarted_and_waited_for_until_healthy(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer()
    c = container_factory.run(
        ["sh", "-c", "sleep 1; touch /tmp/healthy; exec sleep 100000"],
        healthcheck=health(["CMD", "test", "-f", "/tmp/healthy"], interval=0.3, retries=1),
    )
    wait_for_state(c, lambda a: a["State"]["Health"]["Status"] == "healthy")
    c.exec_run(["rm", "/tmp/healthy"])
    wait_for_state(c, lambda a: a["State"]["Health"]["Status"] == "unhealthy")
    alert = firing(c.name, alertname="ContainerUnhealthy")
    incident = healer.wait_done(healer.post(payload(alert)).get_json()["created"][0])
    assert incident.status is IncidentStatus.HEALED
    assert incident.verification is not None
    assert incident.verification.health_status == "healthy"
    assert incident.verification.waited_seconds >= 1.0  # it waited for the health check


def test_incidents_are_listed_newest_first(
    make_healer: HealerFactory, docker_api: docker.DockerClient
) -> None:
    healer = make_healer(start_workers=False)
    for name in ("a", "b", "c"):
        healer.post(payload(firing(f"never-existed-{name}-{time.time_ns()}")))
    listed = healer.client.get("/api/incidents").get_json()["incidents"]
    ids = [i["id"] for i in listed]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 3
    assert healer.client.get("/api/incidents?limit=x").status_code == 400
    assert healer.client.get("/api/incidents?status=nope").status_code == 400


def test_a_quarantine_is_lifted_once_the_container_has_run_stably_for_the_release_period(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer(start_workers=False, HEALER_QUARANTINE_RELEASE_SECONDS="1")
    store, housekeeper = healer.runtime.store, healer.runtime.housekeeper
    flapping = container_factory.run(["sh", "-c", "exit 1"])
    recovered = container_factory.run()
    now = time.time()
    store.quarantine(flapping.name, "test", None, now - 60)
    store.quarantine(recovered.name, "test", None, now - 60)
    wait_for_state(flapping, lambda a: a["State"]["Status"] == "exited")
    time.sleep(1.1)  # the running one has now been up for longer than the release period
    assert housekeeper.run_once() == [recovered.name]
    assert [q.container for q in store.quarantined()] == [flapping.name]


def test_an_alert_about_no_single_container_is_recorded_and_told_never_failed(
    make_healer: HealerFactory,
) -> None:
    healer = make_healer()
    stack_alert = firing("", alertname="HealerHealFailed", action="")
    stack_alert["labels"].pop("container")
    stack_alert["annotations"]["description"] = "The healer gave up on prod-web-01."
    incident = healer.wait_done(healer.post(payload(stack_alert)).get_json()["created"][0])
    assert incident.status is IncidentStatus.OPEN
    assert incident.actions == ()
    assert incident.diagnosis is not None
    assert incident.diagnosis.root_cause == "The healer gave up on prod-web-01."
    assert "not about one container" in (incident.decision.reason if incident.decision else "")
    assert [line["alertname"] for line in healer.alerts_log()] == ["HealerHealFailed"]


def test_an_alert_for_a_name_that_is_only_an_id_prefix_never_reaches_that_container(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    # Docker resolves an unknown name as an id prefix: "inspect 3f" would return the
    # container whose id starts with 3f. The healer must look names up exactly.
    healer = make_healer()
    victim = stopped(container_factory)
    prefix = victim.id[:6]
    incident = healer.wait_done(healer.post(payload(firing(prefix))).get_json()["created"][0])
    assert incident.status is IncidentStatus.SKIPPED
    assert "no longer exists" in (incident.decision.reason if incident.decision else "")
    victim.reload()
    assert victim.status == "exited"
