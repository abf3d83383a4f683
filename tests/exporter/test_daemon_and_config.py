"""The exporter without a daemon, across a daemon restart, and with bad configuration."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from testbed.containers import ContainerFactory
from testbed.daemon import owned_dockerd_pid, start_dockerd, stop_dockerd
from testbed.processes import REPO
from tests.exporter.conftest import ExporterStarter

STATE = "docker_container_state"


def test_an_unreachable_daemon_at_start_serves_docker_up_zero(
    start_exporter: ExporterStarter,
) -> None:
    exporter = start_exporter(
        "--managed-label",
        "environment",
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        expect_up=False,
    )
    assert exporter.value("docker_exporter_managed_containers") == 0
    errors = exporter.value("docker_exporter_errors_total", stage="events")
    assert errors is not None
    assert errors >= 1
    assert requests.get(exporter.url + "/healthz", timeout=5).json()["docker_up"] is False


@pytest.mark.parametrize(
    ("args", "env", "key"),
    [
        (["--managed-label", "=production"], {}, "MANAGED_LABEL"),
        (["--managed-label", "environment="], {}, "MANAGED_LABEL"),
        ([], {"EXPORTER_LISTEN": "no-port"}, "EXPORTER_LISTEN"),
        ([], {"EXPORTER_STATS_SECONDS": "soon"}, "EXPORTER_STATS_SECONDS"),
        ([], {"EXPORTER_STATS_CONCURRENCY": "0"}, "EXPORTER_STATS_CONCURRENCY"),
        ([], {"EXPORTER_RESYNC_SECONDS": "0"}, "EXPORTER_RESYNC_SECONDS"),
    ],
)
def test_bad_configuration_stops_start_up_with_one_line_naming_the_key(
    args: list[str], env: dict[str, str], key: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **env},
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0]


@pytest.mark.disruptive
def test_the_exporter_survives_a_daemon_restart_and_recovers_by_itself(
    start_exporter: ExporterStarter, container_factory: ContainerFactory
) -> None:
    pid = owned_dockerd_pid()
    if pid is None:
        pytest.skip("the Docker daemon was not started by the test bed; never restart a user's")
    survivor = container_factory.run(restart_policy={"Name": "always"})
    casualty = container_factory.run()
    exporter = start_exporter("--managed-label", "environment=production")
    exporter.wait_for(STATE, 1, container=survivor.name, state="running")
    stop_dockerd(pid)
    try:
        exporter.wait_for("docker_exporter_docker_up", 0, timeout=15)
        assert exporter.value(STATE, container=survivor.name, state="running") is None
    finally:
        start_dockerd()
    exporter.wait_for("docker_exporter_docker_up", 1, timeout=30)
    exporter.wait_for(STATE, 1, timeout=30, container=survivor.name, state="running")
    exporter.wait_for(STATE, 1, timeout=30, container=casualty.name, state="exited")
    # Events flow again after the reconnect, not just the re-sync.
    survivor.kill()
    exporter.wait_for(STATE, 1, timeout=5, container=survivor.name, state="exited")
