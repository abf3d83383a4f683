"""A factory for the test containers: unique names, one run label, full cleanup.

Every container a test makes carries `itops.test.run=<run id>` and a name that
starts with the run's prefix; teardown removes exactly those, so a developer's
own containers are never touched.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

TEST_IMAGE = os.environ.get("TEST_IMAGE", "itops-test/busybox:1")
RUN_LABEL = "itops.test.run"
MANAGED = {"environment": "production"}

# A web server whose health check passes while /www/index.html exists.
WEB_CMD = ["httpd", "-f", "-p", "80", "-h", "/www"]
SLEEP_CMD = ["sleep", "100000"]


class MadeContainer(Container):
    """A Container whose name is known to be set (the factory always names them)."""

    @property
    def name(self) -> str:
        return str(super().name)

    @property
    def id(self) -> str:
        return str(super().id)


class ContainerFactory:
    """Creates containers for one test session and removes them all at the end."""

    def __init__(self, client: docker.DockerClient, run_id: str | None = None) -> None:
        self.client = client
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.prefix = f"itops-t{self.run_id}-"
        self._counter = 0

    def name(self, hint: str = "c") -> str:
        self._counter += 1
        return f"{self.prefix}{hint}-{self._counter}"

    def run(
        self,
        command: Sequence[str] | str | None = SLEEP_CMD,
        *,
        hint: str = "c",
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        managed: bool = True,
        healthcheck: Mapping[str, Any] | None = None,
        start: bool = True,
        image: str = TEST_IMAGE,
        **kwargs: Any,
    ) -> MadeContainer:
        """Create (and by default start) a container from the local test image.

        `managed=True` adds `environment=production`; `healthcheck` takes the
        Docker SDK form, e.g. `health(["CMD", "true"])`.
        """
        all_labels = {RUN_LABEL: self.run_id}
        if managed:
            all_labels.update(MANAGED)
        all_labels.update(labels or {})
        container = self.client.containers.create(
            image,
            command=list(command) if isinstance(command, (list, tuple)) else command,  # type: ignore[arg-type]
            name=name or self.name(hint),
            labels=all_labels,
            healthcheck=dict(healthcheck) if healthcheck else None,
            **kwargs,
        )
        made = MadeContainer(
            attrs=container.attrs,
            client=container.client,
            collection=container.collection,  # type: ignore[arg-type]
        )
        if start:
            made.start()
        return made

    def cleanup(self) -> None:
        for container in self.client.containers.list(
            all=True, filters={"label": f"{RUN_LABEL}={self.run_id}"}
        ):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                # v=True: an image's VOLUME (the healer's /data) leaves an anonymous
                # volume behind otherwise, one per run.
                container.remove(force=True, v=True)


def health(
    test: Sequence[str],
    *,
    interval: float = 0.5,
    retries: int = 1,
    start_period: float = 0.0,
    timeout: float = 2.0,
) -> dict[str, Any]:
    """A Docker SDK healthcheck dict with intervals in seconds (the SDK wants nanoseconds)."""
    ns = 1_000_000_000
    return {
        "test": list(test),
        "interval": int(interval * ns),
        "timeout": int(timeout * ns),
        "retries": retries,
        "start_period": int(start_period * ns),
    }


def wait_for_state(
    container: Container, predicate: Any, *, timeout: float = 15.0, interval: float = 0.1
) -> dict[str, Any]:
    """Reload until `predicate(attrs)` is true; return the attrs."""
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        if predicate(container.attrs):
            return dict(container.attrs)
        if time.monotonic() > deadline:
            state = container.attrs.get("State", {})
            raise TimeoutError(f"{container.name} never reached the expected state; last: {state}")
        time.sleep(interval)


def starts_since(client: docker.DockerClient, container_id: str, since: float) -> int:
    """How many `start` events the daemon recorded for a container since `since` (epoch s).

    The daemon's own record, so "restarted exactly once" is proved, not inferred.
    """
    # Fractional `since` is what the API takes; the SDK's stubs only say int.
    events = client.api.events(  # type: ignore[call-overload]
        since=since,
        until=time.time() + 0.5,
        filters={"container": container_id, "event": "start"},
        decode=True,
    )
    return sum(1 for _ in events)
