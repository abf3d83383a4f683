"""The healer's only door to Docker: inspect, logs, list, restart.

Docker SDK and HTTP errors are translated here, once, into the healer's own
exceptions; nothing above this module imports `docker`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import docker
import docker.errors
import requests

from fleet.facts import ContainerFacts
from fleet.selector import LabelSelector
from healer.errors import DockerActionError, DockerUnavailableError


class DockerPort(Protocol):
    def inspect(self, container_id: str) -> ContainerFacts | None:
        """The container with this id (full, or the 12-character short form)."""
        ...

    def find(self, name: str) -> ContainerFacts | None:
        """The container with exactly this name, or None."""
        ...

    def logs(self, container_id: str, tail: int) -> list[str]: ...

    def list_managed(self, selector: LabelSelector) -> list[ContainerFacts]: ...

    def restart(self, container_id: str, timeout: float) -> None: ...

    def ping(self) -> bool: ...


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except docker.errors.NotFound:
        raise
    except docker.errors.APIError as exc:
        raise DockerActionError(f"{what}: {exc.explanation or exc}") from exc
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise DockerUnavailableError(f"{what}: Docker daemon unreachable: {exc}") from exc


class DockerAdapter:
    """DockerPort over the Docker SDK's low-level client."""

    def __init__(self, client_factory: Callable[[], docker.APIClient]) -> None:
        self._factory = client_factory
        self._api: docker.APIClient | None = None

    def _client(self) -> docker.APIClient:
        if self._api is None:
            with _translated("connect"):
                self._api = self._factory()
        return self._api

    def inspect(self, container_id: str) -> ContainerFacts | None:
        # Docker resolves a reference as an id, a name, or an id *prefix*; an id of
        # fewer than 12 characters could name some other container, so none is taken.
        if len(container_id) < 12:
            return None
        try:
            with _translated(f"inspect {container_id[:12]}"):
                facts = ContainerFacts.from_inspect(self._client().inspect_container(container_id))
        except docker.errors.NotFound:
            return None
        return facts if facts.id.startswith(container_id) else None

    def find(self, name: str) -> ContainerFacts | None:
        # Never `inspect <name>`: for a name that does not exist Docker falls back to an
        # id-prefix match, and "c5" would be whichever container's id starts with c5.
        name = name.lstrip("/")
        if not name:
            return None
        with _translated(f"find {name}"):
            summaries = self._client().containers(
                all=True, filters={"name": f"^/{re.escape(name)}$"}
            )
        for summary in summaries:
            if f"/{name}" in summary.get("Names", ()):
                facts = self.inspect(str(summary["Id"]))
                if facts is not None and facts.name == name:
                    return facts
        return None

    def logs(self, container_id: str, tail: int) -> list[str]:
        try:
            with _translated(f"logs of {container_id[:12]}"):
                raw = self._client().logs(
                    container_id, stdout=True, stderr=True, tail=tail, timestamps=False
                )
        except docker.errors.NotFound:
            return []
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        return text.splitlines()

    def list_managed(self, selector: LabelSelector) -> list[ContainerFacts]:
        with _translated("list containers"):
            summaries = self._client().containers(
                all=True, filters={"label": selector.docker_filter()}
            )
        facts = []
        for summary in summaries:
            found = self.inspect(str(summary["Id"]))
            if found is not None and selector.matches(found.labels):
                facts.append(found)
        return sorted(facts, key=lambda f: f.name)

    def restart(self, container_id: str, timeout: float) -> None:
        try:
            with _translated(f"restart {container_id[:12]}"):
                self._client().restart(container_id, timeout=int(max(timeout, 0)))
        except docker.errors.NotFound as exc:
            raise DockerActionError(f"restart {container_id[:12]}: no such container") from exc

    def ping(self) -> bool:
        try:
            with _translated("ping"):
                return bool(self._client().ping())
        except (DockerUnavailableError, DockerActionError):
            self._api = None
            return False
