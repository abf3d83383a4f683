"""The exporter's Docker adapter: Docker's errors come out as the exporter's, or as None."""

from __future__ import annotations

import ast
import os
import threading
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
import requests

from exporter.docker_port import DockerAdapter
from exporter.errors import DockerCallError, DockerUnavailableError, ExporterError
from fleet.docker_env import docker_client
from fleet.selector import LabelSelector
from testbed.containers import ContainerFactory
from testbed.processes import REPO

SELECTOR = LabelSelector.parse("environment=production")
NOWHERE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.fixture
def adapter() -> Iterator[DockerAdapter]:
    made = DockerAdapter(lambda: docker_client(os.environ).api)
    yield made
    made.reset()


def test_a_daemon_that_is_not_there_is_docker_unavailable_and_ping_says_no() -> None:
    adapter = DockerAdapter(lambda: docker_client(NOWHERE).api)
    with pytest.raises(DockerUnavailableError, match="Docker daemon unreachable"):
        adapter.list_managed(SELECTOR)
    with pytest.raises(DockerUnavailableError):
        adapter.events(SELECTOR, ("die",))
    assert adapter.ping() is False


def test_a_removed_container_inspects_and_samples_as_none(
    adapter: DockerAdapter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    assert adapter.inspect(c.id) is not None
    c.remove(force=True)
    assert adapter.inspect(c.id) is None
    assert adapter.stats(c.id) is None


def test_listing_finds_managed_containers_in_any_state(
    adapter: DockerAdapter, container_factory: ContainerFactory
) -> None:
    running = container_factory.run()
    created = container_factory.run(start=False)
    selector = LabelSelector.parse(f"itops.test.run={container_factory.run_id}")
    assert set(adapter.list_managed(selector)) == {running.id, created.id}


def test_an_events_stream_closed_from_another_thread_ends_as_docker_unavailable(
    adapter: DockerAdapter,
) -> None:
    stream = adapter.events(SELECTOR, ("die",))
    threading.Timer(0.2, stream.close).start()
    with pytest.raises(DockerUnavailableError, match="events stream ended"):
        for _ in stream:
            pass
    stream.close()  # a second close is harmless


class _Refusing:
    """A client whose every call fails the way `error` says."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise self._error

        return call


def _adapter_raising(error: Exception) -> DockerAdapter:
    client: Any = _Refusing(error)
    return DockerAdapter(lambda: client)


@pytest.mark.parametrize(
    ("error", "translated"),
    [
        (docker.errors.APIError("500 Server Error", explanation="boom"), DockerCallError),
        (requests.ConnectionError("refused"), DockerUnavailableError),
        (requests.ReadTimeout("read timed out"), DockerUnavailableError),
        (
            docker.errors.DockerException("Error while fetching server API version"),
            DockerUnavailableError,
        ),
        (ConnectionResetError("reset by peer"), DockerUnavailableError),
        (docker.errors.StreamParseError("half a JSON"), DockerUnavailableError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v.__name__,
)
def test_every_docker_library_error_is_translated_once_into_an_exporter_error(
    error: Exception, translated: type[ExporterError]
) -> None:
    adapter = _adapter_raising(error)
    for call in (
        lambda: adapter.list_managed(SELECTOR),
        lambda: adapter.inspect("0" * 64),
        lambda: adapter.stats("0" * 64),
    ):
        with pytest.raises(translated) as info:
            call()
        assert info.value.__cause__ is error
    assert adapter.ping() is False


def test_a_failure_to_connect_is_translated_too() -> None:
    def no_client() -> docker.APIClient:
        raise docker.errors.DockerException("Error while fetching server API version")

    with pytest.raises(DockerUnavailableError, match="connect"):
        DockerAdapter(no_client).inspect("0" * 64)


def test_no_exporter_module_but_the_adapter_imports_the_docker_library() -> None:
    importers = set()
    for path in (REPO / "exporter").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "docker" or name.startswith("docker.") for name in names):
                importers.add(path.name)
    assert importers == {"docker_port.py"}
