"""The Dockerfiles build, and the images run together through the socket proxy.

Built on a Debian base made locally with debootstrap (scripts/testbed.sh), as
no registry is reachable here, by `docker compose build` with the test bed's override;
elsewhere the Dockerfiles' defaults are used (python:3.11-slim-bookworm, and
debian:bookworm-slim for the socket proxy).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator

import docker
import docker.errors
import pytest
import requests

from testbed.alerts import firing, payload
from testbed.compose import AGENT_SERVICES, ComposeProject, env_file_from_example
from testbed.containers import ContainerFactory, wait_for_state
from testbed.healer_proc import TOKEN
from testbed.processes import REPO, free_port, wait_until
from testbed.scrape import scrape, value
from tests.socketproxy.haproxy import exchange, status_of

LOCAL_BASE = "itops-base/debian-python:bookworm"
IMAGES = {
    "exporter": "exporter/Dockerfile",
    "healer": "healer/Dockerfile",
    "socketproxy": "socketproxy/Dockerfile",
}


@pytest.fixture(scope="module")
def images(
    docker_api: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    # A tag of this run's own: test runs from other checkouts share the daemon.
    run = uuid.uuid4().hex[:8]
    try:
        docker_api.images.get(LOCAL_BASE)
    except docker.errors.ImageNotFound:
        yield from built_on_the_default_base(docker_api, run)
        return
    # On the local base, through the same Compose build as tests/stack/test_compose_up.py:
    # both go through the daemon's BuildKit, so whichever runs second finds every layer in
    # its cache (the classic `docker build` keeps a cache of its own).
    project = ComposeProject(
        f"itops-images-{run}", env_file_from_example(tmp_path_factory.mktemp("images"))
    )
    project.run("build", *AGENT_SERVICES, timeout=1800)
    yield {name: f"itops-testbed/{name}:{project.name}" for name in IMAGES}
    project.remove_project_images(docker_api)


def built_on_the_default_base(
    docker_api: docker.DockerClient, run: str
) -> Iterator[dict[str, str]]:
    """Elsewhere: `docker build` with the Dockerfiles' default base, from a registry."""
    tags = {}
    for name, dockerfile in IMAGES.items():
        tag = f"itops/{name}:test-{run}"
        result = subprocess.run(
            ["docker", "build", "-q", "-f", dockerfile, "-t", tag, "."],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, f"building {dockerfile} failed:\n{result.stderr[-3000:]}"
        tags[name] = tag
    yield tags
    for tag in tags.values():
        # noprune keeps the layers, the build cache of the next run.
        with contextlib.suppress(docker.errors.APIError):
            docker_api.images.remove(tag, noprune=True)


@pytest.fixture
def network(docker_api: docker.DockerClient) -> Iterator[str]:
    net = docker_api.networks.create(f"itops-test-{uuid.uuid4().hex[:8]}")
    yield str(net.name)
    net.remove()


def test_the_images_run_as_non_root_except_the_socket_proxy(
    images: dict[str, str], docker_api: docker.DockerClient
) -> None:
    for name in ("exporter", "healer"):
        config = docker_api.images.get(images[name]).attrs["Config"]
        assert config["User"] == "10001", name
        assert config["Healthcheck"]["Test"], name
        # The package is installed, not copied: its console command is the entrypoint.
        assert config["Entrypoint"] == [f"itops-{name}"], name
    proxy = docker_api.images.get(images["socketproxy"]).attrs["Config"]
    assert proxy["Healthcheck"]["Test"]
    assert proxy["Entrypoint"][0] == "haproxy"


def test_the_exporter_and_healer_images_work_through_the_socket_proxy_image(
    images: dict[str, str],
    network: str,
    container_factory: ContainerFactory,
) -> None:
    run = container_factory.run
    proxy_port = free_port()
    # As compose runs it: root for the socket only, read-only, no capabilities.
    proxy = run(
        None,
        image=images["socketproxy"],
        managed=False,
        network=network,
        volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "ro"}},
        user="0",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        ports={"2375/tcp": ("127.0.0.1", proxy_port)},
    )
    proxy_host = proxy.name
    exporter_port, healer_port = free_port(), free_port()
    exporter = run(
        None,
        image=images["exporter"],
        managed=False,
        network=network,
        environment={
            "DOCKER_HOST": f"tcp://{proxy_host}:2375",
            "MANAGED_LABEL": f"itops.test.run={container_factory.run_id}",
        },
        ports={"9417/tcp": ("127.0.0.1", exporter_port)},
        read_only=True,
    )
    healer = run(
        None,
        image=images["healer"],
        managed=False,
        network=network,
        environment={
            "DOCKER_HOST": f"tcp://{proxy_host}:2376",
            "HEALER_MODE": "heal",
            "HEALER_WEBHOOK_TOKEN": TOKEN,
            "MANAGED_LABEL": f"itops.test.run={container_factory.run_id}",
            "LLM_BACKEND": "none",
            "HEALER_VERIFY_WINDOW_SECONDS": "1",
        },
        ports={"9418/tcp": ("127.0.0.1", healer_port)},
        read_only=True,
        tmpfs={"/tmp": ""},
        labels={"itops.component": "healer"},
    )
    victim = run(["sleep", "100000"])
    victim.stop(timeout=0)
    wait_for_state(victim, lambda a: a["State"]["Status"] == "exited")
    metrics = f"http://127.0.0.1:{exporter_port}/metrics"
    wait_until(
        lambda: (
            value(
                scrape(metrics),
                "docker_container_state",
                {"container": victim.name, "state": "exited"},
            )
            == 1
        ),
        timeout=60,
        what=f"the exporter image to see the victim\n{exporter.logs()!r}",
    )
    base = f"http://127.0.0.1:{healer_port}"
    wait_until(
        lambda: requests.get(f"{base}/healthz", timeout=2).ok,
        timeout=60,
        what=f"the healer image to answer\n{healer.logs()!r}",
    )
    answer = requests.post(
        f"{base}/webhook/alertmanager",
        data=json.dumps(payload(firing(victim.name))),
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    incident_id = answer.json()["created"][0]
    wait_until(
        lambda: (
            requests.get(f"{base}/api/incidents/{incident_id}", timeout=2).json()["stage"] == "done"
        ),
        timeout=60,
        what="the healer image to finish the incident",
    )
    done = requests.get(f"{base}/api/incidents/{incident_id}", timeout=2).json()
    assert done["status"] == "healed", done
    wait_for_state(victim, lambda a: a["State"]["Running"])
    # Docker's own view of the health checks the Dockerfiles declare.
    for c in (proxy, exporter, healer):
        wait_for_state(
            c, lambda a: a["State"].get("Health", {}).get("Status") == "healthy", timeout=60
        )
    # The image's config refuses with its reason, and the proxy stops at once.
    refused = exchange(proxy_port, b"POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\n\r\n")
    assert status_of(refused) == 403
    assert b"is not allowed for role exporter by the socket proxy" in refused
    started = time.monotonic()
    proxy.stop(timeout=10)
    assert time.monotonic() - started < 5
