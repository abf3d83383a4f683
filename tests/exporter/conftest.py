"""An in-process exporter on a free loopback port, talking to the real Docker Engine."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import docker
import pytest

from exporter.cli import Exporter
from exporter.config import load_config
from testbed.processes import free_port, wait_until
from testbed.scrape import Samples, scrape, value


@dataclass
class RunningExporter:
    exporter: Exporter
    url: str

    def samples(self) -> Samples:
        return scrape(self.url + "/metrics")

    def value(self, name: str, **labels: str) -> float | None:
        return value(self.samples(), name, labels)

    def wait_for(self, name: str, expected: float, timeout: float = 10.0, **labels: str) -> None:
        wait_until(
            lambda: self.value(name, **labels) == expected,
            timeout=timeout,
            what=f"{name}{labels} == {expected}",
        )

    def wait_value(self, name: str, timeout: float = 10.0, **labels: str) -> float:
        found = wait_until(
            lambda: self.value(name, **labels), timeout=timeout, what=f"{name}{labels} present"
        )
        return float(found)  # type: ignore[arg-type]

    def wait_absent(self, name: str, timeout: float = 10.0, **labels: str) -> None:
        wait_until(
            lambda: self.value(name, **labels) is None,
            timeout=timeout,
            what=f"{name}{labels} to vanish",
        )


ExporterStarter = Callable[..., RunningExporter]


@pytest.fixture
def start_exporter() -> Iterator[ExporterStarter]:
    started: list[Exporter] = []

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        expect_up: bool = True,
        api_factory: Callable[[], docker.APIClient] | None = None,
    ) -> RunningExporter:
        port = free_port()
        environ = {**os.environ, **(env or {})}
        config = load_config(
            ["--listen", f"127.0.0.1:{port}", "--stats-interval", "0.5", *args], environ
        )
        exporter = Exporter(config, environ, api_factory=api_factory)
        exporter.start()
        started.append(exporter)
        running = RunningExporter(exporter, f"http://127.0.0.1:{port}")
        want = 1 if expect_up else 0
        wait_until(
            lambda: running.value("docker_exporter_docker_up") == want,
            what=f"exporter with docker_up {want}",
        )
        return running

    yield start
    for exporter in started:
        exporter.stop()


@pytest.fixture
def exporter(start_exporter: ExporterStarter) -> RunningExporter:
    """The default exporter: managed label `environment=production`, resync every 60 s."""
    return start_exporter("--managed-label", "environment=production")
