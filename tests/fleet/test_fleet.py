"""Many Docker hosts, one highly available brain, every restart exactly once.

Real daemons (one per simulated host), real exporters, a real Prometheus with the
shipped rules, three real Alertmanagers in one cluster, two real healer replicas on
a real PostgreSQL (tests/fleet/conftest.py). Restarts are counted from each
daemon's events, recorded live around the test.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from testbed.events import EventRecorder, recording
from testbed.fleet import Fleet
from testbed.processes import wait_until
from tests.fleet.conftest import FleetContainers

# After the outcome: long enough for a wrong second restart or email to show (several
# evaluation and group intervals of the fast profile, and one cluster peer timeout).
SETTLE_SECONDS = 4.0


@contextlib.contextmanager
def events_on(fleet: Fleet, *hosts: str) -> Iterator[dict[str, EventRecorder]]:
    """Each host's container events, recorded live for the duration of the block."""
    with contextlib.ExitStack() as stack:
        yield {h: stack.enter_context(recording(fleet.hosts[h].client)) for h in hosts}


def test_a_container_stopped_on_host_b_is_restarted_there_and_its_namesake_on_host_a_is_untouched(
    fleet: Fleet, on_hosts: FleetContainers
) -> None:
    name = on_hosts.name("web")
    made = {h: on_hosts.run(h, name) for h in fleet.hosts}
    fleet.wait_until_seen(name, "running", hosts=list(fleet.hosts))

    with events_on(fleet, *fleet.hosts) as events:
        stopped = time.time()
        made["docker-b"].stop()
        incident = fleet.wait_for_incident(container=name, since=stopped)
        time.sleep(SETTLE_SECONDS)

    assert incident["host"] == "docker-b", incident
    assert incident["status"] == "healed", incident
    assert len(fleet.incidents(container=name, since=stopped)) == 1
    assert events["docker-b"].count("start", made["docker-b"].id) == 1
    for host in ("docker-a", "docker-c"):
        assert events[host].actions(made[host].id) == [], f"{host}'s {name} was touched"
        made[host].reload()
        assert made[host].status == "running"


def test_an_alert_naming_a_host_the_healers_do_not_know_restarts_nothing(
    fleet: Fleet, on_hosts: FleetContainers
) -> None:
    assert "docker-c" not in fleet.known_hosts  # Prometheus watches it, the healers don't
    name = on_hosts.name("web")
    c = on_hosts.run("docker-c", name)
    fleet.wait_until_seen(name, "running", hosts=["docker-c"])

    with events_on(fleet, "docker-c") as events:
        stopped = time.time()
        c.stop()
        incident = fleet.wait_for_incident(container=name, host="docker-c", since=stopped)
        time.sleep(SETTLE_SECONDS)

    assert incident["alertname"] == "ContainerDown"
    assert incident["status"] == "skipped"
    assert incident["actions"] == []
    reason = incident["decision"]["reason"]
    assert "'docker-c' is not in HEALER_DOCKER_HOSTS" in reason, reason
    assert events["docker-c"].count("start", c.id) == 0
    c.reload()
    assert c.status == "exited"
    c.remove()  # its alert would otherwise keep firing for the rest of the module


def test_three_alertmanagers_and_two_healers_turn_one_failure_into_one_restart_and_one_email(
    fleet: Fleet, on_hosts: FleetContainers
) -> None:
    name = on_hosts.name("api")
    c = on_hosts.run("docker-a", name)
    fleet.wait_until_seen(name, "running", hosts=["docker-a"])
    duplicates_before = fleet.webhook_alerts("duplicate")

    with events_on(fleet, "docker-a") as events, holding(fleet, name) as holders:
        stopped = time.time()
        c.stop()
        incident = fleet.wait_for_incident(container=name, host="docker-a", since=stopped)
        wait_until(lambda: fleet.emails(mentioning=name), timeout=30, what="the email")
        time.sleep(SETTLE_SECONDS)

    assert incident["status"] == "healed"
    assert events["docker-a"].count("start", c.id) == 1
    assert len(fleet.emails(mentioning=name)) == 1
    assert len(fleet.incidents(container=name, since=stopped)) == 1
    # Every Alertmanager of the cluster had the alert (Prometheus sends to each) ...
    assert holders == {am.name for am in fleet.stack.alertmanagers}
    # ... and the healers were sent it more than once (both replicas get every
    # notification): the one restart and one email are not for want of duplicates.
    assert fleet.webhook_alerts("duplicate") > duplicates_before


@contextlib.contextmanager
def holding(fleet: Fleet, container: str) -> Iterator[set[str]]:
    """The names of the Alertmanagers that held an alert about `container` at some
    moment of the block (a resolved alert leaves their API, so they are watched)."""
    holders: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for am in fleet.stack.alertmanagers:
                with contextlib.suppress(requests.RequestException):
                    alerts = requests.get(f"{am.url}/api/v2/alerts", timeout=2).json()
                    if any(a["labels"].get("container") == container for a in alerts):
                        holders.add(am.name)
            done.wait(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield holders
    finally:
        done.set()
        watcher.join(timeout=5)


def _post_to_every_alertmanager(fleet: Fleet, labels: dict[str, str], *, ends_in: float) -> None:
    now = datetime.now(UTC)
    body = [
        {
            "labels": labels,
            "annotations": {"summary": f"Container {labels['container']} is down"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(seconds=ends_in)).isoformat(),
        }
    ]
    for am in fleet.stack.alertmanagers:
        requests.post(f"{am.url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def _inhibited_everywhere(fleet: Fleet, labels: dict[str, str]) -> bool:
    def state(am_url: str) -> Any:
        alerts = requests.get(f"{am_url}/api/v2/alerts", timeout=5).json()
        return next((a for a in alerts if a["labels"] == labels), None)

    found = [state(am.url) for am in fleet.stack.alertmanagers]
    return all(a is not None and a["status"]["inhibitedBy"] for a in found)


def test_host_b_daemon_down_silences_its_container_alerts_while_host_a_still_heals(
    fleet: Fleet, on_hosts: FleetContainers
) -> None:
    b_name, a_name = on_hosts.name("web"), on_hosts.name("api")
    # Back with its daemon by itself (restart policy), so nothing is left to heal after.
    on_hosts.run("docker-b", b_name, restart_policy={"Name": "always"})
    a = on_hosts.run("docker-a", a_name)
    fleet.wait_until_seen(b_name, "running", hosts=["docker-b"])
    fleet.wait_until_seen(a_name, "running", hosts=["docker-a"])
    b_instance = fleet.exporters["docker-b"].url.removeprefix("http://")
    daemon_b = fleet.hosts["docker-b"]
    down_since = time.time()

    daemon_b.stop()  # its containers stop with it
    try:
        wait_until(
            lambda: fleet.firing("DockerDaemonUnreachable", host="docker-b"),
            timeout=30,
            interval=0.2,
            what="DockerDaemonUnreachable for docker-b",
        )
        fleet.wait_for_incident(
            alertname="DockerDaemonUnreachable", host="docker-b", since=down_since
        )

        # Prometheus fired no container alert for docker-b: its exporter withdrew the
        # series. The race the inhibition is for - a ContainerDown Prometheus sent just
        # before - is injected here, into every member of the cluster (a fault a real
        # part cannot produce on demand).
        stale_down = {
            "alertname": "ContainerDown",
            "action": "restart",
            "container": b_name,
            "host": "docker-b",
            "instance": b_instance,
            "job": "exporter",
            "severity": "warning",
        }
        _post_to_every_alertmanager(fleet, stale_down, ends_in=300)
        wait_until(
            lambda: _inhibited_everywhere(fleet, stale_down),
            timeout=10,
            what="the stale ContainerDown for docker-b to be inhibited on every Alertmanager",
        )

        with events_on(fleet, "docker-a") as events:
            stopped = time.time()
            a.stop()
            healed = fleet.wait_for_incident(container=a_name, host="docker-a", since=stopped)
            time.sleep(SETTLE_SECONDS)
        assert healed["status"] == "healed"
        assert events["docker-a"].count("start", a.id) == 1

        about_b = [i for i in fleet.incidents(host="docker-b", since=down_since) if i["container"]]
        assert about_b == [], "a container alert for docker-b reached the healers"
        _post_to_every_alertmanager(fleet, stale_down, ends_in=0)
    finally:
        daemon_b.start()
    fleet.wait_until_seen(b_name, "running", hosts=["docker-b"], timeout=60)
    wait_until(
        lambda: not fleet.firing("DockerDaemonUnreachable", host="docker-b"),
        timeout=30,
        what="DockerDaemonUnreachable for docker-b to resolve",
    )
