"""The healer's only door to Docker: inspect, logs, list, restart.

Docker SDK and HTTP errors are translated here, once, into the healer's own
exceptions; nothing above this module imports `docker`. Every text Docker hands
over passes the installation's `Redactor` here too: error messages (which quote
a container's command, e.g. `exec: "--db-password=...": executable file not
found`), the `State.Error` and health-check output of an inspect, and log lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

import docker
import docker.errors
import requests

from fleet.facts import ContainerFacts, HealthProbe
from fleet.selector import LabelSelector
from healer.errors import DockerActionError, DockerUnavailableError
from healer.redactor import NO_SECRETS, Redactor

_ID = re.compile(r"[0-9a-f]{12,64}")


@dataclass(frozen=True)
class ContainerSummary:
    """One row of Docker's container list: enough to draw the dependency graph and see
    who is failing, in one call (no inspect per container)."""

    id: str
    name: str
    state: str
    labels: Mapping[str, str]
    unhealthy: bool = False

    @property
    def needs_attention(self) -> bool:
        return self.state != "running" or self.unhealthy


class DockerPort(Protocol):
    def inspect(self, container_id: str) -> ContainerFacts | None:
        """The container with this id (full, or the 12-character short form)."""
        ...

    def find(self, name: str) -> ContainerFacts | None:
        """The container with exactly this name, or None."""
        ...

    def logs(self, container_id: str, tail: int, *, timestamps: bool = False) -> list[str]:
        """The last `tail` lines; with `timestamps`, each starts with Docker's RFC 3339 time
        and a space, as `docker logs -t` prints them."""
        ...

    def list_managed(self, selector: LabelSelector) -> list[ContainerFacts]: ...

    def summaries(self, selector: LabelSelector) -> list[ContainerSummary]:
        """The managed containers as Docker lists them (labels and state, one call)."""
        ...

    def restart(self, container_id: str, timeout: float) -> None: ...

    def ping(self) -> bool: ...


def clean_facts(facts: ContainerFacts, redactor: Redactor) -> ContainerFacts:
    """`facts` with Docker's free text (its error, the health-check output) cleaned."""
    if not facts.error and not facts.health_log:
        return facts
    return replace(
        facts,
        error=redactor.clean(facts.error),
        health_log=tuple(
            HealthProbe(p.exit_code, redactor.clean(p.output), p.ended_at) for p in facts.health_log
        ),
    )


class DockerAdapter:
    """DockerPort over the Docker SDK's low-level client."""

    def __init__(
        self,
        client_factory: Callable[[], docker.APIClient],
        redactor: Redactor = NO_SECRETS,
    ) -> None:
        self._factory = client_factory
        self._redactor = redactor
        self._api: docker.APIClient | None = None

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:
            detail = self._redactor.clean(str(exc.explanation or exc))
            raise DockerActionError(f"{what}: {detail}") from exc
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            detail = self._redactor.clean(str(exc))
            raise DockerUnavailableError(f"{what}: Docker daemon unreachable: {detail}") from exc

    def _client(self) -> docker.APIClient:
        if self._api is None:
            with self._translated("connect"):
                self._api = self._factory()
        return self._api

    def inspect(self, container_id: str) -> ContainerFacts | None:
        # Docker resolves a reference as an id, a name, or an id *prefix*; an id of
        # fewer than 12 characters could name some other container, and anything but
        # hex digits (a name, "x/../name") is not an id: none of those is taken.
        if not _ID.fullmatch(container_id):
            return None
        try:
            with self._translated(f"inspect {container_id[:12]}"):
                facts = ContainerFacts.from_inspect(self._client().inspect_container(container_id))
        except docker.errors.NotFound:
            return None
        return clean_facts(facts, self._redactor) if facts.id.startswith(container_id) else None

    def find(self, name: str) -> ContainerFacts | None:
        # Never `inspect <name>`: for a name that does not exist Docker falls back to an
        # id-prefix match, and "c5" would be whichever container's id starts with c5.
        name = name.lstrip("/")
        if not name:
            return None
        with self._translated(f"find {name}"):
            summaries = self._client().containers(
                all=True, filters={"name": f"^/{re.escape(name)}$"}
            )
        for summary in summaries:
            if f"/{name}" in summary.get("Names", ()):
                facts = self.inspect(str(summary["Id"]))
                if facts is not None and facts.name == name:
                    return facts
        return None

    def logs(self, container_id: str, tail: int, *, timestamps: bool = False) -> list[str]:
        try:
            with self._translated(f"logs of {container_id[:12]}"):
                raw = self._client().logs(
                    container_id, stdout=True, stderr=True, tail=tail, timestamps=timestamps
                )
        except docker.errors.NotFound:
            return []
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        return list(self._redactor.clean_lines(text.splitlines()))

    def list_managed(self, selector: LabelSelector) -> list[ContainerFacts]:
        with self._translated("list containers"):
            summaries = self._client().containers(
                all=True, filters={"label": selector.docker_filter()}
            )
        facts = []
        for summary in summaries:
            found = self.inspect(str(summary["Id"]))
            if found is not None and selector.matches(found.labels):
                facts.append(found)
        return sorted(facts, key=lambda f: f.name)

    def summaries(self, selector: LabelSelector) -> list[ContainerSummary]:
        with self._translated("list containers"):
            rows = self._client().containers(all=True, filters={"label": selector.docker_filter()})
        found = []
        for row in rows:
            names = [str(n).lstrip("/") for n in row.get("Names") or ()]
            labels = dict(row.get("Labels") or {})
            if not names or not selector.matches(labels):
                continue
            found.append(
                ContainerSummary(
                    id=str(row.get("Id", "")),
                    name=names[0],
                    state=str(row.get("State") or ""),
                    labels=labels,
                    # Docker says "Up 5 minutes (unhealthy)": the list has no health field.
                    unhealthy="(unhealthy)" in str(row.get("Status") or ""),
                )
            )
        return sorted(found, key=lambda s: s.name)

    def restart(self, container_id: str, timeout: float) -> None:
        try:
            with self._translated(f"restart {container_id[:12]}"):
                self._client().restart(container_id, timeout=int(max(timeout, 0)))
        except docker.errors.NotFound as exc:
            raise DockerActionError(f"restart {container_id[:12]}: no such container") from exc

    def ping(self) -> bool:
        try:
            with self._translated("ping"):
                return bool(self._client().ping())
        except (DockerUnavailableError, DockerActionError):
            self._api = None
            return False
