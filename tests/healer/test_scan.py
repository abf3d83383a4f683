"""`python -m healer check|heal|status`: the seed's one-shot and continuous modes, no Prometheus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from testbed.containers import ContainerFactory, wait_for_state
from testbed.healer_proc import healer_env
from testbed.processes import REPO, wait_until
from tests.healer.conftest import run_cli


def alerts_log(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "data" / "alerts.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_check_diagnoses_a_stopped_container_once_and_never_restarts_it(
    tmp_path: Path, container_factory: ContainerFactory
) -> None:
    selector = f"itops.test.run={container_factory.run_id}"
    c = container_factory.run(["sh", "-c", "echo 'FATAL: could not bind to port 80'; exit 1"])
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    first = run_cli(tmp_path, "check", MANAGED_LABEL=selector)
    assert first.returncode == 0, first.stderr
    assert c.name in first.stdout
    assert "diagnosis (rules)" in first.stdout
    assert "check mode" in first.stdout
    second = run_cli(tmp_path, "check", MANAGED_LABEL=selector)
    assert "0 new incident(s)" in second.stdout  # the same failure is not re-opened
    assert len(alerts_log(tmp_path)) == 1
    c.reload()
    assert c.status == "exited"


def test_heal_restarts_and_verifies_a_stopped_container(
    tmp_path: Path, container_factory: ContainerFactory
) -> None:
    selector = f"itops.test.run={container_factory.run_id}"
    c = container_factory.run()
    c.stop(timeout=0)
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    result = run_cli(tmp_path, "heal", MANAGED_LABEL=selector)
    assert result.returncode == 0, result.stderr
    assert "healed" in result.stdout
    assert "verification: OK" in result.stdout
    c.reload()
    assert c.status == "running"


def test_status_prints_a_health_table_and_exits_nonzero_when_something_needs_attention(
    tmp_path: Path, container_factory: ContainerFactory
) -> None:
    selector = f"itops.test.run={container_factory.run_id}"
    ok = container_factory.run()
    down = container_factory.run(["sh", "-c", "exit 4"])
    wait_for_state(down, lambda a: a["State"]["Status"] == "exited")
    result = run_cli(tmp_path, "status", MANAGED_LABEL=selector)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["CONTAINER", "STATE", "HEALTH"]
    row = next(line for line in lines if line.startswith(down.name))
    assert "exited" in row
    assert " 4 " in f" {row} "
    assert any(line.startswith(ok.name) and "running" in line for line in lines)


def test_continuous_heal_does_not_reopen_an_incident_every_cycle(
    tmp_path: Path, container_factory: ContainerFactory
) -> None:
    selector = f"itops.test.run={container_factory.run_id}"
    c = container_factory.run(
        ["sh", "-c", "echo 'nginx: [emerg] unknown directive \"foo\"'; exit 1"]
    )
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        **healer_env(tmp_path / "data"),
        "MANAGED_LABEL": selector,
        "MONITORING_INTERVAL_SECONDS": "0.5",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "healer", "heal", "--continuous"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        wait_until(lambda: len(alerts_log(tmp_path)) >= 1, timeout=30, what="the first incident")
        time.sleep(3)  # several more cycles
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    # A configuration error: the rules hold the restart, and one incident covers every cycle.
    assert len(alerts_log(tmp_path)) == 1, out
    assert out.count("new incident(s)") >= 3
    c.reload()
    assert c.status == "exited"
