"""A remote healer reaches a host only through mutual TLS, and only for the healer role.

The agent's socket proxy as deploy/fleet/agent.compose.yml runs it: Debian's HAProxy
with socketproxy/haproxy.cfg and deploy/fleet/socketproxy-tls.cfg, certificates made
by deploy/fleet/make-certs.sh, in front of the real Docker daemon. The healer's side
is its own client factory (healer/wiring.py `host_client`, HEALER_DOCKER_TLS_DIR)
behind its DockerAdapter, as `healer serve` builds it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import docker.tls
import pytest
import requests

from healer.config import load_config
from healer.docker_port import DockerAdapter
from healer.errors import DockerUnavailableError
from healer.wiring import host_client
from testbed.containers import ContainerFactory
from testbed.events import recording
from testbed.fleet import FLEET_DIR, SERVICE_CMD
from testbed.healer_proc import healer_env
from testbed.processes import free_port
from tests.socketproxy.haproxy import Proxy, running_proxy

MAKE_CERTS = FLEET_DIR / "make-certs.sh"


def make_certs(directory: Path, *pairs: str) -> Path:
    subprocess.run(
        ["bash", str(MAKE_CERTS), str(directory), *pairs],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return directory


@dataclass(frozen=True)
class TlsProxy:
    proxy: Proxy
    port: int
    certs: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsProxy]:
    workdir = tmp_path_factory.mktemp("tls-proxy")
    certs = make_certs(workdir / "certs", "docker-a=127.0.0.1")
    port = free_port()
    with running_proxy(
        workdir,
        extra_config=FLEET_DIR / "socketproxy-tls.cfg",
        extra_env={
            "SOCKETPROXY_HEALER_TLS_BIND": f"127.0.0.1:{port}",
            "SOCKETPROXY_TLS_DIR": str(certs / "agent" / "docker-a"),
        },
    ) as proxy:
        yield TlsProxy(proxy, port, certs)


def healer_door(
    tls: TlsProxy, tls_dir: Path, tmp_path: Path, address: str = "127.0.0.1"
) -> DockerAdapter:
    """The DockerAdapter `healer serve` builds for host docker-a from its settings."""
    config = load_config(
        healer_env(
            tmp_path / "data",
            HEALER_DOCKER_HOSTS=f"docker-a=tcp://{address}:{tls.port}",
            HEALER_DOCKER_TLS_DIR=str(tls_dir),
        ),
        dotenv_file=None,
    )
    (host,) = config.docker_hosts
    return DockerAdapter(host_client(host, config), config.redactor)


def test_the_healer_inspects_reads_logs_and_restarts_a_container_through_mutual_tls(
    tls_proxy: TlsProxy,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
    tmp_path: Path,
) -> None:
    c = container_factory.run(SERVICE_CMD, hint="remote")
    door = healer_door(tls_proxy, tls_proxy.certs / "healer", tmp_path)

    facts = door.find(c.name)
    assert facts is not None and facts.id == c.id and facts.running
    assert isinstance(door.logs(c.id, 10), list)
    with recording(docker_api) as events:
        door.restart(c.id, 1)
    assert events.count("restart", c.id) == 1
    assert door.ping()


def test_the_healer_role_over_tls_still_may_not_create_or_exec(
    tls_proxy: TlsProxy, container_factory: ContainerFactory
) -> None:
    c = container_factory.run(SERVICE_CMD, hint="remote")
    client_dir = tls_proxy.certs / "healer" / "docker-a"
    client = docker.APIClient(
        base_url=tls_proxy.url,
        version="1.41",
        tls=docker.tls.TLSConfig(
            client_cert=(str(client_dir / "cert.pem"), str(client_dir / "key.pem")),
            ca_cert=str(client_dir / "ca.pem"),
            verify=True,
        ),
    )
    client.trust_env = False  # the fleet's CA, not a CA bundle from the environment
    with pytest.raises(docker.errors.APIError, match="not allowed for role healer"):
        client.create_container("itops-test/busybox:1", name=f"{c.name}-evil")
    with pytest.raises(docker.errors.APIError, match="not allowed for role healer"):
        client.exec_create(c.id, ["sh", "-c", "echo pwned"])


def test_a_client_without_a_certificate_from_the_fleet_ca_never_gets_past_the_handshake(
    tls_proxy: TlsProxy, tmp_path: Path
) -> None:
    ca = str(tls_proxy.certs / "ca.pem")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{tls_proxy.url}/_ping", verify=ca, timeout=5)
    stranger = make_certs(tmp_path / "other-ca", "docker-a=127.0.0.1") / "healer" / "docker-a"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(
            f"{tls_proxy.url}/_ping",
            verify=ca,
            cert=(str(stranger / "cert.pem"), str(stranger / "key.pem")),
            timeout=5,
        )
    assert "SSL handshake failure" in tls_proxy.proxy.service.log()


def test_the_healer_trusts_only_a_host_certificate_of_its_ca_for_the_address_it_dials(
    tls_proxy: TlsProxy, tmp_path: Path
) -> None:
    # The host's certificate names 127.0.0.1; dialled as `localhost`, it is not that host.
    wrong_name = healer_door(tls_proxy, tls_proxy.certs / "healer", tmp_path, "localhost")
    with pytest.raises(DockerUnavailableError, match="not valid for 'localhost'"):
        wrong_name.find("anything")
    # A healer whose CA did not sign the host's certificate (someone in the middle).
    other_ca = make_certs(tmp_path / "other-ca", "docker-a=127.0.0.1") / "healer"
    with pytest.raises(DockerUnavailableError, match="unable to get local issuer certificate"):
        healer_door(tls_proxy, other_ca, tmp_path).find("anything")
