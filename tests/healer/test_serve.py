"""The healer as it runs in production: `healer serve`, a real process, crashes and concurrency."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import docker
import pytest
import requests

from testbed.alerts import firing, payload
from testbed.containers import ContainerFactory, starts_since, wait_for_state
from testbed.healer_proc import TOKEN, healer_env, start_healer
from testbed.processes import REPO, free_port, python_module, start_service, wait_until
from tests.healer.conftest import run_cli

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def incident(url: str, incident_id: int) -> dict[str, object]:
    response = requests.get(f"{url}/api/incidents/{incident_id}", timeout=5)
    response.raise_for_status()
    result: dict[str, object] = response.json()
    return result


def test_serve_refuses_to_start_without_a_webhook_token(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", drop=("HEALER_WEBHOOK_TOKEN",), timeout=30)
    assert result.returncode == 2
    assert "HEALER_WEBHOOK_TOKEN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("HEALER_MODE", "fix-everything"),
        ("MAX_RESTART_ATTEMPTS", "three"),
        ("HEALER_LISTEN", "9418"),
        ("SMTP_SECURITY", "tls1.0"),
        ("EMAIL_TO", "ops-at-example"),
        ("MANAGED_LABEL", "=x"),
        ("LLM_BACKEND", "gpt"),
        ("HEALER_WEBHOOK_TOKEN", "s3cr3t-x"),
    ],
)
def test_bad_configuration_stops_start_up_with_one_line_naming_the_key(
    tmp_path: Path, key: str, value: str
) -> None:
    result = run_cli(tmp_path, "serve", timeout=30, extra={key: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0]
    if key == "HEALER_WEBHOOK_TOKEN":
        assert value not in lines[0]  # secrets are never echoed


def test_a_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("HEALER_MODE=sideways\n")
    result = run_cli(tmp_path, "serve", drop=("HEALER_MODE",), timeout=30)
    assert result.returncode == 2
    assert "HEALER_MODE='sideways'" in result.stderr


def test_serve_exits_0_on_sigterm_after_answering(tmp_path: Path) -> None:
    healer = start_healer(healer_env(tmp_path / "data", HEALER_MODE="check"), tmp_path)
    try:
        assert requests.get(f"{healer.url}/healthz", timeout=5).status_code == 200
        healer.proc.send_signal(signal.SIGTERM)
        assert healer.proc.wait(timeout=15) == 0, healer.log()[-2000:]
    finally:
        healer.stop()


def test_ten_concurrent_duplicate_deliveries_restart_the_container_once(
    tmp_path: Path, container_factory: ContainerFactory, docker_api: docker.DockerClient
) -> None:
    healer = start_healer(healer_env(tmp_path / "data"), tmp_path)
    try:
        c = container_factory.run()
        c.stop(timeout=0)
        wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
        since = time.time()
        body = json.dumps(payload(firing(c.name, container_id=c.id[:12])))
        answers: list[int] = []

        def deliver() -> None:
            r = requests.post(
                f"{healer.url}/webhook/alertmanager", data=body, headers=AUTH, timeout=10
            )
            answers.append(r.status_code)

        threads = [threading.Thread(target=deliver) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [200] * 10
        listed = requests.get(f"{healer.url}/api/incidents", timeout=5).json()["incidents"]
        assert len(listed) == 1
        wait_until(lambda: incident(healer.url, listed[0]["id"])["stage"] == "done", timeout=30)
        assert incident(healer.url, listed[0]["id"])["status"] == "healed"
        assert starts_since(docker_api, c.id, since) == 1
    finally:
        healer.stop()


def test_a_healer_killed_mid_incident_completes_it_exactly_once_after_restart(
    tmp_path: Path, container_factory: ContainerFactory, docker_api: docker.DockerClient
) -> None:
    # A long stability window keeps the incident in verification long enough to kill it there.
    env = healer_env(tmp_path / "data", HEALER_VERIFY_WINDOW_SECONDS="4")
    healer = start_healer(env, tmp_path)
    c = container_factory.run()
    c.stop(timeout=0)
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    since = time.time()
    try:
        r = requests.post(
            f"{healer.url}/webhook/alertmanager",
            data=json.dumps(payload(firing(c.name))),
            headers=AUTH,
            timeout=10,
        )
        incident_id = r.json()["created"][0]
        wait_until(
            lambda: incident(healer.url, incident_id)["actions"], timeout=20, what="the restart"
        )
        healer.kill()  # SIGKILL to the whole process group: no cleanup runs
    finally:
        healer.stop()
    restarted = start_healer(env, tmp_path, name="healer-2")
    try:
        wait_until(
            lambda: incident(restarted.url, incident_id)["stage"] == "done",
            timeout=30,
            what="the resumed incident",
        )
        done = incident(restarted.url, incident_id)
        assert done["status"] == "healed"
        actions = done["actions"]
        assert isinstance(actions, list)
        assert len(actions) == 1  # verified after the crash, not restarted again
        assert starts_since(docker_api, c.id, since) == 1
        lines = (tmp_path / "data" / "alerts.log").read_text().splitlines()
        assert len(lines) == 1
    finally:
        restarted.stop()


def test_a_second_serve_on_the_same_data_directory_exits_with_one_line_naming_it(
    tmp_path: Path,
) -> None:
    env = healer_env(tmp_path / "data")
    first = start_healer(env, tmp_path)
    try:
        second = run_cli(tmp_path, "serve", timeout=30)
        assert second.returncode == 2
        (line,) = second.stderr.strip().splitlines()
        assert "HEALER_DATA_DIR" in line and "another healer serve" in line
        assert first.alive()
        assert requests.get(f"{first.url}/healthz", timeout=5).status_code == 200
    finally:
        first.kill()  # SIGKILL: no cleanup runs; the kernel releases the lock
        first.stop()
    after_crash = start_healer(env, tmp_path, name="healer-after-kill")
    try:
        assert requests.get(f"{after_crash.url}/healthz", timeout=5).status_code == 200
    finally:
        after_crash.stop()


def test_serve_listen_flag_overrides_healer_listen(tmp_path: Path) -> None:
    flag_port, env_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        **healer_env(tmp_path / "data"),
        "HEALER_LISTEN": f"127.0.0.1:{env_port}",
    }
    service = start_service(
        "healer-listen",
        python_module("healer", "serve", "--listen", f"127.0.0.1:{flag_port}"),
        port=flag_port,
        log_dir=tmp_path,
        ready_url=f"http://127.0.0.1:{flag_port}/healthz",
        env=env,
        timeout=30,
    )
    try:
        assert requests.get(f"http://127.0.0.1:{flag_port}/healthz", timeout=5).status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{env_port}/healthz", timeout=2)
    finally:
        service.stop()


def test_a_bad_listen_flag_stops_serve_with_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--listen", "nowhere", timeout=30)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--listen 'nowhere'" in line and "HOST:PORT" in line
