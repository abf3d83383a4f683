"""Several healer replicas on one PostgreSQL store: every restart exactly once.

Real `python -m healer serve` processes, a real PostgreSQL server, real Docker;
restarts are counted from the daemon's events recorded live.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import requests

from testbed.alerts import firing, payload
from testbed.containers import ContainerFactory, MadeContainer, wait_for_state
from testbed.events import recording
from testbed.healer_proc import TOKEN, healer_env, start_healer
from testbed.postgres import PgServer
from testbed.processes import Service, wait_until

AUTH = {"Authorization": f"Bearer {TOKEN}"}
Replicas = Callable[..., list[Service]]


@pytest.fixture
def replicas(tmp_path: Path, postgres: PgServer) -> Iterator[Replicas]:
    url = postgres.create_database()
    started: list[Service] = []

    def start(count: int = 2, **overrides: str) -> list[Service]:
        for n in range(count):
            env = healer_env(tmp_path / f"replica-{n}", HEALER_DATABASE_URL=url, **overrides)
            started.append(start_healer(env, tmp_path, name=f"replica-{n}"))
        return started

    yield start
    for service in started:
        service.stop()


def stopped(factory: ContainerFactory) -> MadeContainer:
    c = factory.run()
    c.stop(timeout=0)
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    return c


def post(service: Service, body: str, timeout: float = 10) -> requests.Response:
    return requests.post(
        f"{service.url}/webhook/alertmanager", data=body, headers=AUTH, timeout=timeout
    )


def incidents(service: Service) -> list[dict[str, object]]:
    answer = requests.get(f"{service.url}/api/incidents", timeout=5).json()
    found: list[dict[str, object]] = answer["incidents"]
    return found


def emails(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("replica-*/outbox/*.eml"))


def test_duplicate_deliveries_to_two_replicas_restart_once_and_email_once(
    replicas: Replicas,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
    tmp_path: Path,
) -> None:
    a, b = replicas()
    c = stopped(container_factory)
    body = json.dumps(payload(firing(c.name, container_id=c.id[:12])))
    answers: list[int] = []
    with recording(docker_api) as events:
        # Three Alertmanagers in a cluster may each deliver the same notification.
        threads = [
            threading.Thread(target=lambda s=s: answers.append(post(s, body).status_code))
            for s in (a, b, a, b)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [200] * 4
        wait_until(
            lambda: [i["stage"] for i in incidents(b)] == ["done"], timeout=60, what="the heal"
        )
        wait_until(lambda: len(emails(tmp_path)) >= 1, timeout=20, what="the email")
        time.sleep(3)  # room for a second restart or email, which must not come
    (incident,) = incidents(a)
    assert incident["status"] == "healed"
    assert events.count("start", c.id) == 1
    assert len(emails(tmp_path)) == 1


def test_a_replica_killed_mid_incident_leaves_it_to_the_other_one_restart_in_total(
    replicas: Replicas, container_factory: ContainerFactory, docker_api: docker.DockerClient
) -> None:
    # A long stability window keeps the incident in verification long enough to kill it there.
    a, b = replicas(HEALER_VERIFY_WINDOW_SECONDS="4")
    c = stopped(container_factory)
    with recording(docker_api) as events:
        (incident_id,) = post(a, json.dumps(payload(firing(c.name)))).json()["created"]
        wait_until(
            lambda: any(i["actions"] for i in incidents(b) if i["id"] == incident_id),
            timeout=20,
            what="replica a's restart",
        )
        a.kill()  # SIGKILL: replica a holds the incident's lease and never comes back
        wait_until(
            lambda: [i["stage"] for i in incidents(b)] == ["done"],
            timeout=60,
            what="replica b to adopt and finish the incident",
        )
    (incident,) = incidents(b)
    assert incident["status"] == "healed"
    actions = incident["actions"]
    assert isinstance(actions, list) and len(actions) == 1  # verified by b, not restarted again
    assert events.count("start", c.id) == 1


def test_postgresql_restarted_under_the_replicas_loses_nothing(
    replicas: Replicas,
    container_factory: ContainerFactory,
    postgres: PgServer,
) -> None:
    a, b = replicas()
    c = stopped(container_factory)
    postgres.stop()
    try:
        during = post(a, json.dumps(payload(firing(c.name, container_id=c.id[:12]))))
        assert during.status_code == 503  # Alertmanager retries it
        assert requests.get(f"{b.url}/healthz", timeout=10).status_code == 503
    finally:
        postgres.start()
    # Alertmanager's retry after the outage: both replicas reconnect by themselves.
    wait_until(
        lambda: (
            post(b, json.dumps(payload(firing(c.name, container_id=c.id[:12])))).status_code == 200
        ),
        timeout=30,
        what="the retry to be accepted",
    )
    wait_until(lambda: [i["stage"] for i in incidents(a)] == ["done"], timeout=60, what="heal")
    assert incidents(a)[0]["status"] == "healed"
    wait_for_state(c, lambda s: s["State"]["Running"])
    assert requests.get(f"{a.url}/healthz", timeout=10).status_code == 200
