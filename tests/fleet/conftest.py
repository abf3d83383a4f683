"""One fleet for the module: three Docker daemons, their exporters, Prometheus, three
clustered Alertmanagers and two healer replicas on PostgreSQL (testbed/fleet.py).

Starting it takes ~15 s, so the tests share it; each uses containers of its own
(unique names, also when the test needs the same name on two hosts).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from testbed.containers import ContainerFactory, MadeContainer
from testbed.fleet import SERVICE_CMD, Fleet, running_fleet
from testbed.postgres import PgServer


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, postgres: PgServer) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("fleet"), postgres=postgres) as running:
        print(f"\n[fleet] started in {running.startup_seconds:.1f}s")
        yield running


class FleetContainers:
    """Containers on the fleet's hosts; they go with their daemons at the module's end."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.run_id = uuid.uuid4().hex[:8]

    def name(self, hint: str) -> str:
        return f"{hint}-{uuid.uuid4().hex[:6]}"

    def run(self, host: str, name: str, **kwargs: Any) -> MadeContainer:
        factory = ContainerFactory(self.fleet.hosts[host].client, self.run_id)
        return factory.run(SERVICE_CMD, name=name, network_mode="none", **kwargs)


@pytest.fixture
def on_hosts(fleet: Fleet) -> FleetContainers:
    return FleetContainers(fleet)
