"""deploy/fleet/agent.compose.yml brought up for real, in front of a simulated host.

The agent's own images (built on the local base; testbed/agent.override.yml), the
socket proxy mounting a simulated host's socket (testbed/dockerhosts.py) instead of
the machine's shared daemon, certificates from deploy/fleet/make-certs.sh. From
outside, as the central stack would: the exporter's /metrics through its published
port, and a restart through the published mutual-TLS port with the healer's own
client. Then `down -v` leaves nothing behind.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests

from healer.config import load_config
from healer.docker_port import DockerAdapter
from healer.wiring import host_client
from testbed.compose import ComposeProject, compose_available
from testbed.containers import ContainerFactory
from testbed.dockerhosts import SimulatedHost, simulated_hosts
from testbed.events import recording
from testbed.fleet import FLEET_DIR, SERVICE_CMD
from testbed.healer_proc import healer_env
from testbed.processes import REPO, wait_until
from testbed.scrape import parse_samples
from tests.fleet.test_remote_access import make_certs

OVERRIDE = REPO / "testbed" / "agent.override.yml"
HEALTHY_WITHIN = 120  # the images' health checks run every 15 s


@dataclass
class Agent:
    project: ComposeProject
    host: SimulatedHost
    certs: Path
    up_seconds: float


@pytest.fixture(scope="module")
def agent(
    tmp_path_factory: pytest.TempPathFactory, docker_api: docker.DockerClient
) -> Iterator[Agent]:
    if not compose_available():
        pytest.fail("`docker compose` (v2) does not answer; `make test` installs it")
    folder = tmp_path_factory.mktemp("agent")
    certs = make_certs(folder / "certs", "docker-a=127.0.0.1")
    with simulated_hosts(["docker-a"]) as hosts:
        host = hosts["docker-a"]
        env_file = folder / ".env"
        env_file.write_text(
            f"ITOPS_AGENT_ADDRESS=127.0.0.1\n"
            f"ITOPS_AGENT_TLS_DIR={certs / 'agent' / 'docker-a'}\n"
            f"ITOPS_TEST_DOCKER_SOCKET={host.socket}\n"
        )
        project = ComposeProject(
            f"itops-agent-{uuid.uuid4().hex[:8]}",
            env_file,
            files=(FLEET_DIR / "agent.compose.yml", OVERRIDE),
        )
        try:
            project.run("build", "socket-proxy", "exporter", timeout=1800)
            started = time.monotonic()
            project.run("up", "-d", "--wait", "--wait-timeout", str(HEALTHY_WITHIN), timeout=600)
            up = time.monotonic() - started
            print(f"\nagent project {project.name}: up -d --wait {up:.1f} s")
            yield Agent(project, host, certs, up)
        except BaseException:
            print(project.logs(tail=60))
            raise
        finally:
            project.run("down", "-v", "--remove-orphans", "--timeout", "5", check=False)
            project.remove_project_images(docker_api)


def healer_door(agent: Agent) -> DockerAdapter:
    address = agent.project.address("socket-proxy", 2377)
    config = load_config(
        healer_env(
            agent.certs / "healer-data",
            HEALER_DOCKER_HOSTS=f"docker-a=tcp://{address}",
            HEALER_DOCKER_TLS_DIR=str(agent.certs / "healer"),
        ),
        dotenv_file=None,
    )
    (spec,) = config.docker_hosts
    return DockerAdapter(host_client(spec, config), config.redactor)


@pytest.mark.timeout(2400)  # includes building the images, minutes on a cold cache
def test_the_agent_comes_up_healthy_and_a_remote_healer_restarts_through_its_tls_port(
    agent: Agent, docker_api: docker.DockerClient
) -> None:
    records = {r["Service"]: r for r in agent.project.containers()}
    assert set(records) == {"socket-proxy", "exporter"}
    for record in records.values():
        assert (record["State"], record["Health"]) == ("running", "healthy"), record
    # The plain roles are never published; only the TLS port and the metrics are.
    published = {
        service: set(
            docker_api.containers.get(agent.project.container_name(service)).attrs["HostConfig"][
                "PortBindings"
            ]
        )
        for service in records
    }
    assert published == {"socket-proxy": {"2377/tcp"}, "exporter": {"9417/tcp"}}

    web = ContainerFactory(agent.host.client).run(SERVICE_CMD, hint="web", network_mode="none")
    metrics = f"{agent.project.url('exporter', 9417)}/metrics"
    wait_until(
        lambda: (
            parse_samples(requests.get(metrics, timeout=5).text).get(
                (
                    "docker_container_state",
                    frozenset({"container": web.name, "state": "running"}.items()),
                )
            )
            == 1.0
        ),
        timeout=30,
        interval=0.5,
        what=f"the agent's exporter to publish {web.name} running",
    )

    door = healer_door(agent)
    facts = door.find(web.name)
    assert facts is not None and facts.id == web.id
    with recording(agent.host.client) as events:
        door.restart(web.id, 1)
    assert events.count("restart", web.id) == 1


def test_down_leaves_no_container_network_or_volume_of_the_agent(
    agent: Agent, docker_api: docker.DockerClient
) -> None:
    agent.project.run("down", "-v", "--remove-orphans", "--timeout", "5")
    assert agent.project.leftovers(docker_api) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }
