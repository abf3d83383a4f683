"""Fixtures shared by every test: the real Docker Engine and a container factory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from fleet.docker_env import docker_client
from testbed.containers import ContainerFactory
from testbed.postgres import PgServer, pg_server

REPO = Path(__file__).resolve().parents[1]
TESTBED = REPO / ".testbed"


@pytest.fixture(scope="session")
def docker_api() -> Iterator[docker.DockerClient]:
    client = docker_client(os.environ)
    try:
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker Engine answers ({exc}); run `make test`, which prepares one")
    yield client
    client.close()


@pytest.fixture(scope="session")
def containers(docker_api: docker.DockerClient) -> Iterator[ContainerFactory]:
    factory = ContainerFactory(docker_api)
    yield factory
    factory.cleanup()


@pytest.fixture
def container_factory(docker_api: docker.DockerClient) -> Iterator[ContainerFactory]:
    """A factory whose containers are removed at the end of the test."""
    factory = ContainerFactory(docker_api)
    yield factory
    factory.cleanup()


def daemon_owned_by_testbed() -> bool:
    """True only when `scripts/testbed.sh` started the daemon, so a test may restart it."""
    pid_file = TESTBED / "dockerd.pid"
    if not (TESTBED / "dockerd.owned").exists() or not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that restart dockerd kill every container; they go last so nothing else is disturbed.
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    """A real PostgreSQL server for the session (the shared store's engine)."""
    with pg_server() as server:
        yield server
