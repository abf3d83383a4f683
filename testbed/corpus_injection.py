"""Injecting the faults of `corpus_faults`: containers, a network, waiting, the healer's evidence.

`run_faults` starts each fault's container (in parallel), waits until the fault
has happened (an exit, a failed start, an unhealthy status), and gathers the
evidence exactly as the healer does: `healer.evidence.gather` through the real
Docker adapter. Everything it creates carries the test run's label and is
removed afterwards.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from healer.docker_port import DockerAdapter
from healer.evidence import gather
from healer.model import Evidence
from testbed.containers import ContainerFactory
from testbed.corpus_faults import NETWORK_ALIAS_DB, Fault

LOG_LINES = 200
WAIT_SECONDS = 45.0


@dataclass(frozen=True)
class Outcome:
    fault: Fault
    evidence: Evidence
    seconds: float  # from create to evidence collected


class FaultBed:
    """The containers, peers and network one run of faults uses; `close()` removes them all."""

    def __init__(self, client: docker.DockerClient, *, run_id: str | None = None) -> None:
        self.client = client
        self.factory = ContainerFactory(client, run_id=run_id or "f" + uuid.uuid4().hex[:7])
        self.adapter = DockerAdapter(lambda: client.api)
        self._network: Any = None
        self._server: Any = None

    def network(self) -> str:
        if self._network is None:
            name = f"{self.factory.prefix}net"
            self._network = self.client.networks.create(
                name, labels={"itops.test.run": self.factory.run_id}
            )
            peer = self.factory.run(["sleep", "100000"], hint="db", network=name)
            # The alias the faulty services use; nothing listens on it.
            self._network.disconnect(peer)
            self._network.connect(peer, aliases=[NETWORK_ALIAS_DB])
        return str(self._network.name)

    def server(self) -> str:
        if self._server is None:
            self._server = self.factory.run(["httpd", "-f", "-p", "8080", "-h", "/www"], hint="srv")
            _wait(lambda: self._server_running(), "the port-holding server to run")
        return str(self._server.id)

    def _server_running(self) -> bool:
        self._server.reload()
        return bool(self._server.attrs["State"]["Running"])

    def inject(self, fault: Fault) -> Outcome:
        """Start `fault`, wait until it has happened, and gather the healer's evidence."""
        started = time.monotonic()
        options = dict(fault.options)
        if fault.network:
            options["network"] = self.network()
        if fault.share_netns:
            options["network_mode"] = f"container:{self.server()}"
        container = self.factory.run(
            list(fault.command), hint=fault.name, image=fault.image, start=False, **options
        )
        with contextlib.suppress(docker.errors.APIError):
            # A command Docker cannot execute fails here; the failure is in the container's state.
            container.start()
        if fault.after:
            _wait(lambda: _state(container)["Running"], f"{fault.name} to run")
            if fault.after == "stop":
                container.stop(timeout=5)
            else:
                container.kill()
        _wait(lambda: _happened(container, fault.until), f"{fault.name} to fail", WAIT_SECONDS)
        evidence = gather(
            self.adapter,
            name=container.name,
            container_id=container.id,
            now=time.time(),
            log_lines=LOG_LINES,
        )
        return Outcome(fault, evidence, time.monotonic() - started)

    def close(self) -> None:
        self.factory.cleanup()
        if self._network is not None:
            with contextlib.suppress(docker.errors.APIError):
                self._network.remove()


def run_faults(
    client: docker.DockerClient, faults: Sequence[Fault], *, workers: int = 6
) -> list[Outcome]:
    """Inject every fault (in parallel), in order; everything created is removed afterwards."""
    bed = FaultBed(client)
    try:
        if any(f.network for f in faults):
            bed.network()
        if any(f.share_netns for f in faults):
            bed.server()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(bed.inject, faults))
    finally:
        bed.close()


@contextlib.contextmanager
def fault_bed(client: docker.DockerClient) -> Iterator[FaultBed]:
    bed = FaultBed(client)
    try:
        yield bed
    finally:
        bed.close()


def _state(container: Any) -> dict[str, Any]:
    container.reload()
    return dict(container.attrs["State"])


def _happened(container: Any, until: str) -> bool:
    state = _state(container)
    if until == "unhealthy":
        return bool((state.get("Health") or {}).get("Status") == "unhealthy")
    # A container Docker could not start stays "created", with the error and exit code set.
    return state["Status"] in ("exited", "dead") or bool(state.get("Error"))


def _wait(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)
