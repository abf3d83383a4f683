"""Each role makes exactly its calls through the proxy to the real daemon, with the real SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest

from fleet.facts import ContainerFacts
from testbed.containers import TEST_IMAGE, ContainerFactory, wait_for_state
from testbed.processes import free_port, python_module, start_service, wait_until
from testbed.scrape import scrape, value
from tests.socketproxy.haproxy import Proxy, exchange, status_of


def client(port: int) -> docker.APIClient:
    return docker.APIClient(base_url=f"tcp://127.0.0.1:{port}", version="auto", timeout=10)


def refusal(call: Callable[[], object]) -> str:
    """The reason the proxy gave, as the Docker SDK shows it; the status must be 403."""
    with pytest.raises(docker.errors.APIError) as info:
        call()
    assert info.value.status_code == 403, info.value
    return str(info.value.explanation)


def test_the_exporter_role_pings_lists_inspects_samples_stats_and_follows_events(
    proxy: Proxy, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    api = client(proxy.exporter)
    assert api.ping()
    assert status_of(exchange(proxy.exporter, b"HEAD /_ping HTTP/1.1\r\nHost: d\r\n\r\n")) == 200
    assert api.version()["ApiVersion"]
    run_filter = {"label": f"itops.test.run={container_factory.run_id}"}
    assert [s["Id"] for s in api.containers(all=True, filters=run_filter)] == [c.id]
    assert ContainerFacts.from_inspect(api.inspect_container(c.name)).running
    assert "memory_stats" in api.stats(c.id, stream=False, one_shot=True)
    events = api.events(decode=True, filters={"container": c.id})
    c.kill()
    first = next(iter(events))
    events.close()
    assert first["Action"] == "kill"


def test_the_healer_role_also_reads_logs_and_restarts(
    proxy: Proxy, container_factory: ContainerFactory
) -> None:
    c = container_factory.run(["sh", "-c", "echo hello-from-the-log; exec sleep 1000"])
    c.stop(timeout=0)
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    api = client(proxy.healer)
    assert api.ping()
    assert ContainerFacts.from_inspect(api.inspect_container(c.id)).state == "exited"
    assert b"hello-from-the-log" in api.logs(c.id, tail=10)
    api.restart(c.id, timeout=1)
    wait_for_state(c, lambda a: a["State"]["Running"])


# A representative set of what neither role may do: each of these is a way to
# become root on the host, to act on containers, or to read what is not needed.
FORBIDDEN: dict[str, Callable[[docker.APIClient, str, str], object]] = {
    "create": lambda api, cid, name: api.create_container(TEST_IMAGE, ["true"], name=name),
    "exec": lambda api, cid, name: api.exec_create(cid, ["true"]),
    "kill": lambda api, cid, name: api.kill(cid),
    "stop": lambda api, cid, name: api.stop(cid, timeout=0),
    "delete": lambda api, cid, name: api.remove_container(cid, force=True),
    "pause": lambda api, cid, name: api.pause(cid),
    "images": lambda api, cid, name: api.images(),
    "pull": lambda api, cid, name: api.pull("busybox", tag="latest"),
    "volumes": lambda api, cid, name: api.volumes(),
    "networks": lambda api, cid, name: api.networks(),
    "info": lambda api, cid, name: api.info(),
}


@pytest.mark.parametrize("role", ["exporter", "healer"])
def test_neither_role_may_create_exec_kill_stop_delete_or_touch_images_volumes_networks(
    role: str, proxy: Proxy, container_factory: ContainerFactory, docker_api: docker.DockerClient
) -> None:
    c = container_factory.run()
    c.reload()
    started_at = c.attrs["State"]["StartedAt"]
    api = client(proxy.port(role))
    for what, call in FORBIDDEN.items():
        name = container_factory.name("forbidden")
        reason = refusal(lambda call=call, name=name: call(api, c.id, name))  # type: ignore[misc]
        assert f"is not allowed for role {role} by the socket proxy" in reason, what
        assert docker_api.containers.list(all=True, filters={"name": name}) == [], what
    c.reload()
    assert (c.status, c.attrs["State"]["StartedAt"], c.attrs["ExecIDs"]) == (
        "running",
        started_at,
        None,
    )


def test_the_exporter_role_may_not_restart_or_read_logs(
    proxy: Proxy, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    c.reload()
    started_at = c.attrs["State"]["StartedAt"]
    api = client(proxy.exporter)
    assert "POST /v1.41/containers/" in refusal(lambda: api.restart(c.id, timeout=0))
    assert "not allowed for role exporter" in refusal(lambda: api.logs(c.id))
    c.reload()
    assert c.attrs["State"]["StartedAt"] == started_at


def test_a_refusal_is_docker_shaped_json_with_a_reason(proxy: Proxy) -> None:
    answer = exchange(proxy.exporter, b"DELETE /v1.41/images/x HTTP/1.1\r\nHost: d\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 ")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == {
        "message": "DELETE /v1.41/images/x is not allowed for role exporter by the socket proxy"
    }


def test_the_exporter_runs_through_the_proxy(
    proxy: Proxy, container_factory: ContainerFactory, tmp_path: Path
) -> None:
    c = container_factory.run()
    port = free_port()
    exporter = start_service(
        "exporter-via-proxy",
        python_module("exporter", "--listen", f"127.0.0.1:{port}", "--stats-interval", "0.5"),
        port=port,
        log_dir=tmp_path,
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env={"DOCKER_HOST": f"tcp://127.0.0.1:{proxy.exporter}"},
    )
    url = f"http://127.0.0.1:{port}/metrics"

    def sample(family: str, **labels: str) -> float | None:
        return value(scrape(url), family, {"container": c.name, **labels})

    try:
        wait_until(lambda: sample("docker_container_state", state="running") == 1, timeout=15)
        wait_until(lambda: sample("docker_container_memory_usage_bytes"), timeout=15)
        c.kill()
        wait_until(lambda: sample("docker_container_state", state="exited") == 1, timeout=5)
    finally:
        exporter.stop()
