"""The socket proxy lets each role make exactly its calls, through to the real daemon."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from fleet.facts import ContainerFacts
from tests.support.containers import TEST_IMAGE, ContainerFactory, wait_for_state
from tests.support.processes import Service, free_port, python_module, start_service, wait_until

DOCKER_SOCKET = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    if not DOCKER_SOCKET.startswith("unix://"):
        pytest.skip("the proxy test forwards to a local Docker socket")
    ports = {"exporter": free_port(), "healer": free_port()}
    service: Service = start_service(
        "socketproxy",
        python_module(
            "socketproxy",
            "--upstream",
            DOCKER_SOCKET,
            "--listen",
            f"127.0.0.1:{ports['exporter']}=exporter",
            "--listen",
            f"127.0.0.1:{ports['healer']}=healer",
        ),
        port=ports["exporter"],
        log_dir=tmp_path_factory.mktemp("proxy"),
    )
    wait_until(lambda: _connects(ports["exporter"]), what="the proxy to listen")
    yield ports
    service.stop()


def _connects(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def client(port: int) -> docker.APIClient:
    return docker.APIClient(base_url=f"tcp://127.0.0.1:{port}", version="auto", timeout=10)


def refused(call: object) -> str:
    with pytest.raises(docker.errors.APIError) as info:
        call()  # type: ignore[operator]
    assert info.value.status_code == 403
    return str(info.value)


def test_the_exporter_role_reads_containers_stats_and_events(
    proxy: dict[str, int], container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    api = client(proxy["exporter"])
    assert api.ping()
    listed = api.containers(
        all=True, filters={"label": f"itops.test.run={container_factory.run_id}"}
    )
    assert [s["Id"] for s in listed] == [c.id]
    assert ContainerFacts.from_inspect(api.inspect_container(c.name)).running
    stats = api.stats(c.id, stream=False, one_shot=True)
    assert "memory_stats" in stats
    events = api.events(decode=True, filters={"container": c.id})
    c.kill()
    first = next(iter(events))
    events.close()
    assert first["Action"] == "kill"


def test_the_exporter_role_may_not_restart_create_exec_or_delete(
    proxy: dict[str, int], container_factory: ContainerFactory, docker_api: docker.DockerClient
) -> None:
    c = container_factory.run()
    api = client(proxy["exporter"])
    assert "not allowed for role exporter" in refused(lambda: api.restart(c.id))
    refused(lambda: api.logs(c.id))
    refused(lambda: api.create_container(TEST_IMAGE, ["true"], name=container_factory.name("x")))
    refused(lambda: api.exec_create(c.id, ["true"]))
    refused(lambda: api.remove_container(c.id, force=True))
    c.reload()
    assert c.status == "running"


def test_the_healer_role_may_restart_and_read_logs_but_not_create_exec_kill_or_delete(
    proxy: dict[str, int], container_factory: ContainerFactory
) -> None:
    c = container_factory.run(["sh", "-c", "echo hello-from-the-log; exec sleep 1000"])
    c.stop(timeout=0)
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    api = client(proxy["healer"])
    assert b"hello-from-the-log" in api.logs(c.id)
    api.restart(c.id, timeout=1)
    wait_for_state(c, lambda a: a["State"]["Running"])
    refused(lambda: api.create_container(TEST_IMAGE, ["true"], name=container_factory.name("x")))
    refused(lambda: api.exec_create(c.id, ["true"]))
    refused(lambda: api.kill(c.id))
    refused(lambda: api.stop(c.id))
    refused(lambda: api.remove_container(c.id, force=True))
    refused(lambda: api.images())
    refused(lambda: api.pull("busybox"))
    c.reload()
    assert c.status == "running"


def test_a_smuggled_second_request_on_one_connection_is_never_forwarded(
    proxy: dict[str, int], container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    smuggled = (
        b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
        + f"POST /containers/{c.id}/kill HTTP/1.1\r\nHost: docker\r\n\r\n".encode()
    )
    with socket.create_connection(("127.0.0.1", proxy["exporter"]), timeout=5) as sock:
        sock.sendall(smuggled)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.count(b"HTTP/1.1") == 1
    c.reload()
    assert c.status == "running"


@pytest.mark.parametrize(
    "path",
    [
        "/v1.41/containers/../images/json",
        "/containers/x/json/../../../images/json",
        "/v1.41//containers/json",
    ],
)
def test_path_tricks_are_refused(proxy: dict[str, int], path: str) -> None:
    with socket.create_connection(("127.0.0.1", proxy["exporter"]), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 403")


def test_the_exporter_runs_through_the_proxy(
    proxy: dict[str, int], container_factory: ContainerFactory, tmp_path: Path
) -> None:
    from tests.support.scrape import scrape, value

    c = container_factory.run()
    port = free_port()
    exporter = start_service(
        "exporter-via-proxy",
        python_module("exporter", "--listen", f"127.0.0.1:{port}", "--stats-interval", "0.5"),
        port=port,
        log_dir=tmp_path,
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env={"DOCKER_HOST": f"tcp://127.0.0.1:{proxy['exporter']}"},
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(
            lambda: (
                value(
                    scrape(url), "docker_container_state", {"container": c.name, "state": "running"}
                )
                == 1
            ),
            timeout=15,
        )
        wait_until(
            lambda: value(
                scrape(url), "docker_container_memory_usage_bytes", {"container": c.name}
            ),
            timeout=15,
        )
        c.kill()
        wait_until(
            lambda: (
                value(
                    scrape(url), "docker_container_state", {"container": c.name, "state": "exited"}
                )
                == 1
            ),
            timeout=5,
        )
    finally:
        exporter.stop()
