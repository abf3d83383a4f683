"""The exporter's only door to Docker: list, inspect, one-shot stats, events, ping.

Docker SDK, requests and urllib3 errors are translated here, once, into the
exporter's own (exporter/errors.py); nothing else in the exporter imports
`docker`. A container that is gone is not an error: inspect and stats say None.
Read-only by construction: there is no call here that changes a container.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import docker
import docker.errors
import requests
import urllib3.exceptions

from exporter.errors import DockerCallError, DockerUnavailableError
from fleet.facts import ContainerFacts
from fleet.selector import LabelSelector

log = logging.getLogger(__name__)

Event = Mapping[str, Any]
ClientFactory = Callable[[], docker.APIClient]


class EventStream(Protocol):
    def __iter__(self) -> Iterator[Event]:
        """Events until the stream breaks off: then DockerUnavailableError, also after close()."""
        ...

    def close(self) -> None:
        """Stop the stream from any thread; never raises."""
        ...


class DockerPort(Protocol):
    def list_managed(self, selector: LabelSelector) -> list[str]:
        """Ids of the containers, in any state, that carry the managed label."""
        ...

    def inspect(self, container_id: str) -> ContainerFacts | None:
        """The container's facts; None when it is gone."""
        ...

    def stats(self, container_id: str) -> Mapping[str, Any] | None:
        """One one-shot stats answer; None when the container is gone."""
        ...

    def events(self, selector: LabelSelector, actions: tuple[str, ...]) -> EventStream:
        """The container events of managed containers, from now on."""
        ...

    def ping(self) -> bool:
        """Whether the daemon answers; never raises."""
        ...

    def reset(self) -> None:
        """Drop the connection; the next call makes a new one (the daemon restarted)."""
        ...


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except docker.errors.NotFound:
        raise  # the caller says what a missing container means
    except docker.errors.APIError as exc:
        raise DockerCallError(f"{what}: {exc.explanation or exc}") from exc
    except (
        docker.errors.DockerException,
        docker.errors.StreamParseError,  # a RuntimeError, not a DockerException
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        OSError,
    ) as exc:
        raise DockerUnavailableError(f"{what}: Docker daemon unreachable: {exc}") from exc


class _Events:
    """An events stream and the client that holds its connection, closed together."""

    def __init__(self, client: docker.APIClient, stream: Any) -> None:
        self._client = client
        self._stream = stream

    def __iter__(self) -> Iterator[Event]:
        with _translated("events stream"):
            yield from self._stream
        # The SDK ends the iteration quietly when the connection breaks (or close() cut it).
        raise DockerUnavailableError("Docker events stream ended")

    def close(self) -> None:
        for closable in (self._stream, self._client):
            try:
                closable.close()
            except Exception:  # closing a broken stream can raise anything; it is gone either way
                log.debug("closing the events stream failed", exc_info=True)


class DockerAdapter:
    """DockerPort over the Docker SDK's low-level client, made on first use."""

    def __init__(self, client_factory: ClientFactory) -> None:
        self._factory = client_factory
        self._lock = threading.Lock()
        self._api: docker.APIClient | None = None

    def _client(self) -> docker.APIClient:
        with self._lock:
            if self._api is None:
                with _translated("connect"):
                    self._api = self._factory()
            return self._api

    def list_managed(self, selector: LabelSelector) -> list[str]:
        with _translated("list containers"):
            summaries = self._client().containers(
                all=True, filters={"label": selector.docker_filter()}
            )
        return [str(summary["Id"]) for summary in summaries]

    def inspect(self, container_id: str) -> ContainerFacts | None:
        try:
            with _translated(f"inspect {container_id[:12]}"):
                data: Mapping[str, Any] = self._client().inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        return ContainerFacts.from_inspect(data)

    def stats(self, container_id: str) -> Mapping[str, Any] | None:
        try:
            with _translated(f"stats of {container_id[:12]}"):
                found: Mapping[str, Any] = self._client().stats(
                    container_id, stream=False, one_shot=True
                )
        except docker.errors.NotFound:
            return None
        return found

    def events(self, selector: LabelSelector, actions: tuple[str, ...]) -> EventStream:
        # A client of its own: the stream holds its connection until closed.
        with _translated("events"):
            client = self._factory()
        try:
            with _translated("events"):
                stream = client.events(
                    decode=True,
                    filters={
                        "type": "container",
                        "label": selector.docker_filter(),
                        "event": list(actions),
                    },
                )
        except (DockerUnavailableError, DockerCallError):
            client.close()
            raise
        return _Events(client, stream)

    def ping(self) -> bool:
        try:
            with _translated("ping"):
                return bool(self._client().ping())
        except (DockerUnavailableError, DockerCallError):
            return False

    def reset(self) -> None:
        with self._lock:
            api, self._api = self._api, None
        if api is not None:
            api.close()
