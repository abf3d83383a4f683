"""Smuggling attacks on the socket proxy, proven harmless by the real daemon itself.

Each attack (tests/socketproxy/attacks.py) is raw bytes sent to HAProxy running
the shipped config in front of the real /var/run/docker.sock. Each carries a
request that would be root on the host or an action on a victim container if
the daemon ever processed it: create a privileged container with / mounted,
exec in the victim, kill it, tag or pull an image. The test records the proxy's
status, then proves from the daemon that nothing happened: no event for the
attack's targets in the events stream recorded live around it, no container or
image by the attack's unique name, the victim running since the same start
with no exec.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from testbed.containers import ContainerFactory, MadeContainer
from tests.socketproxy.attacks import ATTACKS, Attack, Target
from tests.socketproxy.daemon_record import leftovers, recorded_events, traces
from tests.socketproxy.haproxy import Proxy, docker_socket, exchange, responses_in, status_of


@pytest.fixture(scope="module")
def victims(docker_api: docker.DockerClient) -> Iterator[ContainerFactory]:
    factory = ContainerFactory(docker_api)
    yield factory
    factory.cleanup()
    # A `tag` attack that got through would leave a reference under this run's prefix.
    for image in docker_api.images.list():
        for tag in image.tags:
            if tag.startswith(factory.prefix):
                docker_api.images.remove(tag)


@pytest.fixture(scope="module")
def victim(victims: ContainerFactory) -> MadeContainer:
    return victims.run(hint="victim", managed=False)


@pytest.mark.parametrize("attack", [pytest.param(a, id=a.name) for a in ATTACKS])
def test_a_smuggled_request_never_reaches_the_daemon(
    attack: Attack,
    proxy: Proxy,
    victims: ContainerFactory,
    victim: MadeContainer,
    docker_api: docker.DockerClient,
) -> None:
    victim.reload()
    started_at = victim.attrs["State"]["StartedAt"]
    target = Target(victim=victim.id, token=victims.name("smuggled"), run_id=victims.run_id)

    with recorded_events(docker_api.api, victims) as log:
        answer = exchange(proxy.port(attack.role), attack.payload(target))

    assert (status_of(answer), responses_in(answer)) == (attack.status, 1), answer[:600]
    if attack.status == 403:
        assert attack.reason in json.loads(answer.partition(b"\r\n\r\n")[2])["message"]
    assert traces(log, victim=victim, token=target.token, run_id=victims.run_id) == []
    assert leftovers(docker_api, victim=victim, token=target.token, started_at=started_at) == []


# A failed pull leaves no event and no image (nothing can be pulled here), so the
# proof of the `pull` attacks rests on the other kinds being caught when they land.
@pytest.mark.parametrize("kind", ["create", "exec", "kill", "tag"])
def test_the_proof_catches_each_smuggled_request_that_does_reach_the_daemon(
    kind: str, container_factory: ContainerFactory, docker_api: docker.DockerClient
) -> None:
    victim = container_factory.run(hint="victim", managed=False)
    victim.reload()
    started_at = victim.attrs["State"]["StartedAt"]
    token = container_factory.name("landed")
    target = Target(victim=victim.id, token=token, run_id=container_factory.run_id)

    try:
        # Straight to the daemon, no proxy: what a successful smuggle amounts to.
        with (
            recorded_events(docker_api.api, container_factory) as log,
            socket.socket(socket.AF_UNIX) as sock,
        ):
            sock.settimeout(10)
            sock.connect(docker_socket())
            sock.sendall(target.smuggled(kind))
            assert sock.recv(65536).startswith(b"HTTP/1.1 20")

        found = traces(log, victim=victim, token=token, run_id=container_factory.run_id)
        found += leftovers(docker_api, victim=victim, token=token, started_at=started_at)
        assert found, f"a {kind} that reached the daemon left no trace"
    finally:
        # Only the reference the `tag` request made: the image itself is the shared test image.
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_api.images.remove(f"{token}:1")
