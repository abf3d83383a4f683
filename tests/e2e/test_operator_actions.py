"""Operations someone asked for are never healed, with the shipped rules and timings.

The whole chain runs with the SHIPPED profile (1s scrapes and evaluations, the
8s hold after an operation, ContainerDown's 2s, group_wait 0s). The healer
restarts through Docker's restart call, and each one shows in the daemon's
events stream as a `restart` event, so the live recording counts the healer's
restarts: the `restart` events beyond the ones the test itself caused (0 expected).
After each operation the chain is watched for longer than the hold, the `for:`
and a scrape and an evaluation, when a heal would long have happened.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import docker

from testbed.containers import RUN_LABEL, health, wait_for_state
from testbed.events import recording
from testbed.processes import wait_until
from testbed.promstack import SHIPPED
from tests.e2e.conftest import E2E, ChainFactory

# The 8s hold + ContainerDown's 2s + a scrape and an evaluation (1s each) + margin.
WATCH_SECONDS = 16.0


def heal_chain(chain: ChainFactory) -> E2E:
    return chain("heal", profile=SHIPPED)


def assert_nothing_healed(c: E2E, container: str) -> None:
    incident = c.incident_for(container)
    assert incident is None or not incident["actions"], (incident, c.logs())


def test_docker_restart_of_a_managed_container_is_not_healed(
    chain: ChainFactory, docker_api: docker.DockerClient
) -> None:
    c = heal_chain(chain)
    # `sleep` as PID 1 ignores SIGTERM: the restart waits out its 3s grace period.
    web = c.managed()
    c.wait_scraped(web.name)
    with recording(docker_api) as events:
        web.restart(timeout=3)
        wait_for_state(web, lambda a: a["State"]["Running"])
        time.sleep(WATCH_SECONDS)
    assert events.count("restart", web.id) == 1  # the operator's own
    assert_nothing_healed(c, web.name)


def test_a_stop_followed_by_a_start_within_the_hold_is_not_healed_and_a_stop_left_alone_is(
    chain: ChainFactory, docker_api: docker.DockerClient
) -> None:
    c = heal_chain(chain)
    web = c.managed()
    c.wait_scraped(web.name)
    with recording(docker_api) as events:
        web.stop(timeout=1)
        time.sleep(5)  # an operator's pause, shorter than the 8s hold
        web.start()
        time.sleep(WATCH_SECONDS)
        assert events.count("restart", web.id) == 0, c.logs()
        assert_nothing_healed(c, web.name)
        # The same stop, left alone, is healed: the chain was watching all along.
        web.stop(timeout=1)
        c.wait_incident(web.name, lambda i: i["stage"] == "done", timeout=60)
    assert events.count("restart", web.id) == 1


def test_a_container_in_its_health_start_period_is_not_healed_until_the_period_is_over(
    chain: ChainFactory, docker_api: docker.DockerClient
) -> None:
    c = heal_chain(chain)
    with recording(docker_api) as events:
        started = time.monotonic()
        # A check that always fails; Docker ignores failures for the first 25s.
        app = c.managed(
            healthcheck=health(["CMD", "false"], interval=1, retries=1, start_period=25)
        )
        c.wait_scraped(app.name)
        time.sleep(max(0.0, 20 - (time.monotonic() - started)))
        app.reload()
        assert app.attrs["State"]["Health"]["Status"] == "starting"
        assert events.count("restart", app.id) == 0, c.logs()
        assert_nothing_healed(c, app.name)
        # After the start period it turns unhealthy and the chain restarts it.
        c.wait_incident(app.name, lambda i: i["stage"] == "done", timeout=60)
    assert events.count("restart", app.id) >= 1


def test_compose_force_recreate_of_a_managed_service_is_not_healed(
    chain: ChainFactory, docker_api: docker.DockerClient, tmp_path: Path
) -> None:
    c = heal_chain(chain)
    key, value = c.label.split("=")
    project = f"itops-ops-{c.factory.run_id}"
    compose_file = tmp_path / "compose.yml"
    compose_file.write_text(
        "services:\n"
        "  app:\n"
        f"    image: {c.factory.client.images.get('itops-test/busybox:1').tags[0]}\n"
        '    command: ["sleep", "100000"]\n'
        "    stop_grace_period: 2s\n"
        f"    labels: {{{key}: '{value}', {RUN_LABEL}: '{c.factory.run_id}'}}\n"
    )

    def compose(*args: str) -> None:
        subprocess.run(
            ["docker", "compose", "-p", project, "-f", str(compose_file), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    name = f"{project}-app-1"
    try:
        compose("up", "-d")
        c.wait_scraped(name)
        with recording(docker_api) as events:
            compose("up", "-d", "--force-recreate")
            short_id = str(docker_api.containers.get(name).id)[:12]
            wait_until(
                lambda: c.stack.query(
                    f'docker_container_info{{container="{name}",id="{short_id}"}}'
                ),
                timeout=20,
                what="Prometheus to see the replacement",
            )
            time.sleep(WATCH_SECONDS)
        assert events.count("destroy") >= 1  # the old container was replaced
        assert events.count("restart") == 0, c.logs()
        assert_nothing_healed(c, name)
    finally:
        compose("down", "-t", "0")
