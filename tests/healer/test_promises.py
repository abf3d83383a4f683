"""The healer's promises, each reproduced as the review broke it, on real Docker.

Restarts are counted from the daemon's events, recorded live while the test acts
(testbed/events.py), not inferred from the healer's own record.
"""

from __future__ import annotations

import time
from pathlib import Path

import docker

from healer.model import IncidentStatus, Mode
from testbed.alerts import firing, payload
from testbed.containers import ContainerFactory, MadeContainer, wait_for_state
from testbed.events import recording
from tests.healer.conftest import HealerFactory, run_cli


def stopped(factory: ContainerFactory, **kwargs: object) -> MadeContainer:
    container = factory.run(**kwargs)  # type: ignore[arg-type]
    container.stop(timeout=0)
    wait_for_state(container, lambda a: a["State"]["Status"] == "exited")
    return container


# -- 1. check mode is absolute -------------------------------------------------------


def test_an_incident_accepted_in_heal_mode_is_not_restarted_after_the_healer_switches_to_check(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
    tmp_path: Path,
) -> None:
    data = str(tmp_path / "shared")
    c = stopped(container_factory)
    heal = make_healer(start_workers=False, HEALER_DATA_DIR=data, HEALER_MODE="heal")
    (incident_id,) = heal.post(payload(firing(c.name, container_id=c.id[:12]))).get_json()[
        "created"
    ]
    assert heal.incident(incident_id).mode is Mode.HEAL
    heal.runtime.stop()
    with recording(docker_api) as events:
        check = make_healer(HEALER_DATA_DIR=data, HEALER_MODE="check")
        incident = check.wait_done(incident_id)
    assert events.count("start", c.id) == 0
    assert incident.status is IncidentStatus.OPEN
    assert incident.mode is Mode.CHECK
    assert incident.decision is not None and "check mode" in incident.decision.reason
    assert any(s.step == "mode" for s in incident.steps)


def test_a_check_scan_never_processes_the_incidents_a_heal_mode_serve_left_queued(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
    tmp_path: Path,
) -> None:
    selector = f"itops.test.run={container_factory.run_id}"
    data = tmp_path / "data"
    c = stopped(container_factory)
    serve = make_healer(
        start_workers=False, HEALER_DATA_DIR=str(data), HEALER_MODE="heal", MANAGED_LABEL=selector
    )
    (waiting,) = serve.post(payload(firing(c.name, container_id=c.id[:12]))).get_json()["created"]
    with recording(docker_api) as events:
        done = run_cli(tmp_path, "check", MANAGED_LABEL=selector, HEALER_MODE="check")
    assert done.returncode == 0, done.stderr
    assert events.count("start", c.id) == 0
    assert "1 new incident(s)" in done.stdout, done.stdout
    assert serve.incident(waiting).stage == "queued"  # still serve's, untouched
    c.reload()
    assert c.status == "exited"


# -- 2. no alert is swallowed ----------------------------------------------------------


def test_a_restartable_alert_is_acted_on_behind_a_notify_only_incident_held_open(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer()
    c = container_factory.run()
    for alertname in ("ContainerHighMemory", "ContainerHighCpu"):
        notify_only = firing(c.name, alertname=alertname, container_id=c.id[:12])
        del notify_only["labels"]["action"]
        (held_id,) = healer.post(payload(notify_only)).get_json()["created"]
        held = healer.wait_done(held_id)
        assert held.status is IncidentStatus.OPEN, held.decision
        c.stop(timeout=0)
        wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
        with recording(docker_api) as events:
            answer = healer.post(payload(firing(c.name, container_id=c.id[:12]))).get_json()
            assert answer["attached"] == [held_id] and answer["created"] == []
            wait_for_state(c, lambda a: a["State"]["Running"], timeout=20)
            incident = healer.wait_done(held_id)
        assert events.count("start", c.id) == 1, alertname
        assert incident.status is IncidentStatus.HEALED, incident.decision
        assert incident.rounds == 2
        assert incident.acting_alert is not None
        assert incident.acting_alert.alertname == "ContainerDown"
        # the alert that opened it stays the incident's name
        assert incident.alertname == alertname
        kinds = [n["kind"] for n in incident.notifications]
        assert kinds == ["incident", "update"], kinds


def test_a_restartable_alert_for_a_recreated_container_is_not_swallowed_by_a_label_hold(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer()
    name = container_factory.name("recreated")
    old = stopped(container_factory, name=name, labels={"healer.mode": "check"})
    (held_id,) = healer.post(payload(firing(name, container_id=old.id[:12]))).get_json()["created"]
    held = healer.wait_done(held_id).decision
    assert held is not None and "healer.mode=check" in held.reason
    old.remove(force=True)  # the operator recreates it without the label
    new = stopped(container_factory, name=name)
    with recording(docker_api) as events:
        second = firing(name, container_id=new.id[:12], fingerprint="fp-new", starts_at=None)
        healer.post(payload(second))
        wait_for_state(new, lambda a: a["State"]["Running"], timeout=20)
        incident = healer.wait_done(held_id)
    assert events.count("start", new.id) == 1
    assert incident.status is IncidentStatus.HEALED, incident.decision


# -- 3. identity from the live container -----------------------------------------------


def test_two_alerts_naming_different_containers_with_one_id_restart_it_at_most_once(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(HEALER_WORKERS="4")
    target = stopped(container_factory)
    other_name = container_factory.name("other")
    with recording(docker_api) as events:
        body = healer.post(
            payload(
                firing(target.name, container_id=target.id[:12]),
                firing(other_name, container_id=target.id[:12]),
            )
        ).get_json()
        first, second = (healer.wait_done(i) for i in body["created"])
    assert events.count("restart", target.id) + events.count("start", target.id) >= 1
    assert events.count("start", target.id) == 1
    assert first.status is IncidentStatus.HEALED
    assert second.status is IncidentStatus.SKIPPED
    assert second.decision is not None
    assert f"names {other_name!r}" in second.decision.reason
    assert second.actions == ()


# -- 4. one failure episode, one budget ------------------------------------------------


def test_a_crash_loop_gets_max_restart_attempts_restarts_whatever_the_number_of_alerts(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(MAX_RESTART_ATTEMPTS="3", HEALER_CRASHLOOP_RESTARTS="5")
    crasher = container_factory.run(["sh", "-c", "echo 'FATAL: worker crashed'; exit 1"])
    wait_for_state(crasher, lambda a: a["State"]["Status"] == "exited")
    with recording(docker_api) as events:
        first_alert = firing(crasher.name, container_id=crasher.id[:12], fingerprint="fp-1")
        (first_id,) = healer.post(payload(first_alert)).get_json()["created"]
        first = healer.wait_done(first_id, timeout=90)
        assert first.status is IncidentStatus.FAILED, first.decision
        # The alert resolves and fires again: a new incident, the same failure episode.
        again = firing(
            crasher.name,
            container_id=crasher.id[:12],
            fingerprint="fp-2",
            starts_at=time.strftime("%Y-%m-%dT%H:%M:%S.500Z", time.gmtime(time.time() + 1)),
        )
        (second_id,) = healer.post(payload(again)).get_json()["created"]
        second = healer.wait_done(second_id, timeout=30)
    assert events.count("start", crasher.id) == 3
    assert second.status is IncidentStatus.QUARANTINED
    assert second.actions == ()
    assert (
        second.decision is not None and "previous incident ended failed" in second.decision.reason
    )


def test_an_alert_naming_a_container_by_a_path_alias_restarts_nothing(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    # Docker's API resolves "x/../NAME" in a path to NAME; the healer must not.
    healer = make_healer()
    target = stopped(container_factory)
    alias = f"x/../{target.name}"
    with recording(docker_api) as events:
        body = healer.post(
            payload(
                firing(alias, fingerprint="fp-alias-1"),
                firing(alias, container_id=f"x/../{target.name}", fingerprint="fp-alias-2"),
            )
        ).get_json()
        incidents = [healer.wait_done(i) for i in body["created"]]
    assert events.count("start", target.id) == 0
    assert all(i.actions == () for i in incidents)
