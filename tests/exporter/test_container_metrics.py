"""What the exporter publishes for real containers on the real Docker Engine."""

from __future__ import annotations

import os
import subprocess
import time

import docker
import pytest
import requests

from fleet.docker_env import docker_client
from testbed.containers import WEB_CMD, ContainerFactory, health, wait_for_state
from testbed.scrape import series_for
from tests.exporter.conftest import ExporterStarter, RunningExporter

STATE = "docker_container_state"
HEALTH = "docker_container_health_status"


def test_a_running_managed_container_reads_state_running_and_zero_elsewhere(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    exporter.wait_for(STATE, 1, container=c.name, state="running")
    samples = exporter.samples()
    states = series_for(samples, STATE, container=c.name)
    assert len(states) == 7
    assert sum(states.values()) == 1
    info = series_for(samples, "docker_container_info", container=c.name)
    (labels,) = info
    assert dict(labels)["managed_value"] == "production"
    assert dict(labels)["id"] == c.id[:12]
    assert dict(labels)["image"] == "itops-test/busybox:1"


def test_an_unmanaged_container_is_absent(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    managed = container_factory.run()
    unmanaged = container_factory.run(managed=False)
    other_value = container_factory.run(managed=False, labels={"environment": "staging"})
    exporter.wait_for(STATE, 1, container=managed.name, state="running")
    samples = exporter.samples()
    for name in (unmanaged.name, other_value.name):
        assert not [k for k in samples if ("container", name) in k[1]], name


def test_a_bare_key_selector_manages_any_value_of_the_label(
    start_exporter: ExporterStarter, container_factory: ContainerFactory
) -> None:
    staging = container_factory.run(managed=False, labels={"environment": "staging"})
    exporter = start_exporter("--managed-label", "environment")
    exporter.wait_for(STATE, 1, container=staging.name, state="running")


def test_exit_3_gives_exit_code_3_and_state_exited(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run(["sh", "-c", "echo FATAL: config missing; exit 3"])
    exporter.wait_for(STATE, 1, container=c.name, state="exited")
    assert exporter.value("docker_container_exit_code", container=c.name) == 3
    assert exporter.value("docker_container_oom_killed", container=c.name) == 0
    assert exporter.value("docker_container_finished_at_seconds", container=c.name)


def test_a_16mib_limited_allocator_is_reported_oom_killed(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    # The pause lets containerd watch the memory cgroup before the kill: one in the
    # first instants can reach Docker late or never (test_oom_under_load.py covers it).
    c = container_factory.run(
        ["sh", "-c", 'sleep 1; x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo done'],
        mem_limit="16m",
        memswap_limit="16m",
    )
    exporter.wait_for("docker_container_oom_killed", 1, timeout=16, container=c.name)
    assert exporter.value(STATE, container=c.name, state="exited") == 1
    assert exporter.value("docker_container_exit_code", container=c.name) == 137
    assert exporter.value("docker_container_memory_limit_bytes", container=c.name) == 16 * 2**20
    assert exporter.value("docker_container_events_total", container=c.name, event="oom")


def test_a_failing_health_check_reads_unhealthy_with_its_failing_streak(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run(healthcheck=health(["CMD", "false"], interval=0.3, retries=2))
    exporter.wait_for(HEALTH, 1, timeout=20, container=c.name, status="unhealthy")
    streak = exporter.value("docker_container_health_failing_streak", container=c.name)
    assert streak is not None and streak >= 2
    events = exporter.value(
        "docker_container_events_total", container=c.name, event="health_status_unhealthy"
    )
    assert events is not None and events >= 1


def test_a_passing_health_check_reads_healthy_and_none_without_one(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    web = container_factory.run(
        WEB_CMD, healthcheck=health(["CMD", "wget", "-q", "-O", "-", "http://127.0.0.1/"])
    )
    plain = container_factory.run()
    exporter.wait_for(HEALTH, 1, timeout=20, container=web.name, status="healthy")
    exporter.wait_for(HEALTH, 1, container=plain.name, status="none")


def test_a_restart_policy_raises_restart_count(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run(
        ["sh", "-c", "sleep 0.2; exit 1"],
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
    )
    exporter.wait_for("docker_container_restart_count", 2, timeout=30, container=c.name)


def test_docker_kill_shows_as_exited_within_a_second_without_waiting_for_a_resync(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    exporter.wait_for(STATE, 1, container=c.name, state="running")
    c.kill()
    # The default resync is 60 s away; only the events stream can make this pass.
    exporter.wait_for(STATE, 1, timeout=1.0, container=c.name, state="exited")
    assert exporter.value("docker_container_exit_code", container=c.name) == 137
    assert exporter.value("docker_container_events_total", container=c.name, event="kill") == 1
    assert exporter.value("docker_container_events_total", container=c.name, event="die") == 1


def test_a_removed_containers_series_vanish_at_once(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    exporter.wait_for(STATE, 1, container=c.name, state="running")
    c.remove(force=True)
    exporter.wait_absent("docker_container_info", timeout=2.0, container=c.name, id=c.id[:12])
    samples = exporter.samples()
    assert not [k for k in samples if ("container", c.name) in k[1]]


def test_a_paused_container_reads_paused_and_back_to_running_when_unpaused(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    c.pause()
    exporter.wait_for(STATE, 1, container=c.name, state="paused")
    c.unpause()
    exporter.wait_for(STATE, 1, container=c.name, state="running")


def test_a_renamed_container_is_published_under_its_new_name_only(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    old = c.name
    exporter.wait_for(STATE, 1, container=old, state="running")
    new = container_factory.name("renamed")
    c.rename(new)
    exporter.wait_for(STATE, 1, container=new, state="running")
    assert exporter.value(STATE, container=old, state="running") is None


def test_critical_services_come_from_the_name_list_and_the_critical_label(
    start_exporter: ExporterStarter, container_factory: ContainerFactory
) -> None:
    by_name = container_factory.run()
    by_label = container_factory.run(labels={"critical": "true"})
    ordinary = container_factory.run()
    exporter = start_exporter(
        "--managed-label", "environment=production", "--critical-services", f"x, {by_name.name}"
    )

    def critical(name: str) -> str:
        exporter.wait_for(STATE, 1, container=name, state="running")
        (labels,) = series_for(exporter.samples(), "docker_container_info", container=name)
        return dict(labels)["critical"]

    assert critical(by_name.name) == "true"
    assert critical(by_label.name) == "true"
    assert critical(ordinary.name) == "false"


def test_cpu_and_memory_are_sampled_in_the_background(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    busy = container_factory.run(["sh", "-c", "while :; do :; done"], mem_limit="64m")
    exporter.wait_for(STATE, 1, container=busy.name, state="running")
    name = "docker_container_cpu_usage_seconds_total"
    first = exporter.wait_value(name, container=busy.name)
    time.sleep(1.5)
    second = exporter.value(name, container=busy.name)
    assert second is not None and second > first
    memory = exporter.value("docker_container_memory_usage_bytes", container=busy.name)
    assert memory is not None and 0 < memory < 64 * 2**20
    assert exporter.value("docker_container_memory_limit_bytes", container=busy.name) == 64 * 2**20


def test_a_stopped_container_has_no_usage_series(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    exporter.wait_value("docker_container_memory_usage_bytes", container=c.name)
    c.stop(timeout=0)
    exporter.wait_absent("docker_container_memory_usage_bytes", container=c.name)
    assert exporter.value(STATE, container=c.name, state="exited") == 1


def test_a_missed_event_is_repaired_by_the_periodic_resync(
    start_exporter: ExporterStarter, container_factory: ContainerFactory
) -> None:
    exporter = start_exporter(
        "--managed-label", "environment=production", "--resync-interval", "0.5"
    )
    c = container_factory.run()
    exporter.wait_for(STATE, 1, container=c.name, state="running")
    # Forget the container as if its events had been lost; the resync must bring it back.
    exporter.exporter.cache.remove(c.id)
    exporter.wait_for(STATE, 1, timeout=5, container=c.name, state="running")


def test_the_exposition_passes_promtool_check_metrics(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run(healthcheck=health(["CMD", "true"]))
    container_factory.run(["sh", "-c", "exit 2"])
    exporter.wait_for(HEALTH, 1, timeout=20, container=c.name, status="healthy")
    exporter.wait_value("docker_container_cpu_usage_seconds_total", container=c.name)
    body = requests.get(exporter.url + "/metrics", timeout=5).text
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrapes_never_call_the_docker_api(
    start_exporter: ExporterStarter, container_factory: ContainerFactory
) -> None:
    calls: list[str] = []

    def counting_api() -> docker.APIClient:
        # A real client; a response hook records every request it makes to the daemon.
        api = docker_client(os.environ).api
        api.hooks["response"].append(lambda r, *a, **k: calls.append(r.request.url))
        return api

    # The run's own label: other containers' events elsewhere on the daemon must not
    # cause inspects while the test counts calls.
    exporter = start_exporter(
        "--managed-label",
        f"itops.test.run={container_factory.run_id}",
        "--stats-interval",
        "0",
        api_factory=counting_api,
    )
    c = container_factory.run()
    exporter.wait_for(STATE, 1, container=c.name, state="running")
    before = len(calls)
    for _ in range(50):
        exporter.samples()
    assert len(calls) == before, calls[before:]


@pytest.mark.parametrize("path", ["/healthz", "/"])
def test_healthz_and_index_answer(exporter: RunningExporter, path: str) -> None:
    response = requests.get(exporter.url + path, timeout=5)
    assert response.status_code == 200


def test_a_stopped_container_started_again_reads_running(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    c.stop(timeout=0)
    exporter.wait_for(STATE, 1, container=c.name, state="exited")
    c.start()
    wait_for_state(c, lambda a: a["State"]["Running"])
    exporter.wait_for(STATE, 1, container=c.name, state="running")
    started = exporter.value("docker_container_events_total", container=c.name, event="start")
    assert started == 2  # the first start, and this one
