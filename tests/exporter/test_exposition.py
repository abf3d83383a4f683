"""/metrics is rendered incrementally, and says exactly what generate_latest says."""

from __future__ import annotations

import subprocess
from dataclasses import replace

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from exporter.cache import ContainerCache, Usage
from exporter.collector import ContainerCollector
from exporter.exposition import IncrementalRenderer
from fleet.facts import ContainerFacts


def facts(index: int, **overrides: object) -> ContainerFacts:
    data: dict[str, object] = {
        "Id": f"{index:064x}",
        "Name": f"/web-{index}",
        "Config": {"Image": "itops-test/busybox:1", "Labels": {"environment": "production"}},
        "State": {
            "Status": "running",
            "StartedAt": "2024-05-01T10:00:00.123456789Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "unhealthy", "FailingStreak": 3},
        },
        "HostConfig": {"Memory": 16 * 2**20},
        "RestartCount": 2,
    }
    data.update(overrides)
    return ContainerFacts.from_inspect(data)


def reference(cache: ContainerCache) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ContainerCollector(cache))
    return generate_latest(registry)


def fleet(size: int) -> ContainerCache:
    cache = ContainerCache()
    for i in range(size):
        cache.upsert(facts(i), critical=i % 3 == 0, managed_value="production")
        cache.count_event(facts(i).id, "start")
        cache.set_usage(
            facts(i).id, Usage(cpu_seconds=i * 0.25, memory_bytes=1e6 + i, sampled_at=0)
        )
    cache.mark_synced(1_700_000_000.5)
    return cache


def test_the_incremental_text_equals_generate_latest_byte_for_byte() -> None:
    cache = fleet(5)
    awkward = facts(
        99,
        Name='/we"ird\\name\nwith-ünïcode',
        Config={
            "Image": 'img:"quoted"\\',
            "Labels": {"environment": 'prod "eu"', "com.docker.compose.project": "shop\n"},
        },
        State={
            "Status": "exited",
            "ExitCode": 137,
            "OOMKilled": True,
            "StartedAt": "0001-01-01T00:00:00Z",
            "FinishedAt": "2024-05-01T10:00:00Z",
        },
    )
    cache.upsert(awkward, critical=True, managed_value='prod "eu"')
    cache.count_event(awkward.id, "health_status: unhealthy")
    cache.count_error("stats")
    assert IncrementalRenderer(cache).render() == reference(cache)


def test_an_empty_cache_and_a_daemon_that_is_down_render_like_the_library() -> None:
    cache = ContainerCache()
    assert IncrementalRenderer(cache).render() == reference(cache)


def test_changes_between_renders_show_exactly_like_a_fresh_render() -> None:
    cache = fleet(20)
    renderer = IncrementalRenderer(cache)
    renderer.render()
    changed = facts(3, State={"Status": "exited", "ExitCode": 3})
    cache.upsert(changed, critical=False, managed_value="production")
    cache.count_event(changed.id, "die")
    cache.set_usage(facts(4).id, Usage(cpu_seconds=9.5, memory_bytes=2e6, sampled_at=1))
    cache.remove(facts(5).id)
    renamed = replace(facts(6), name="web-six")
    cache.upsert(renamed, critical=True, managed_value="production")
    assert renderer.render() == reference(cache)
    assert b'container="web-5"' not in renderer.render()


def test_lines_of_an_unchanged_container_are_not_formatted_again() -> None:
    cache = fleet(50)
    renderer = IncrementalRenderer(cache)
    renderer.render()
    kept = dict(renderer._static)
    cache.set_usage(facts(7).id, Usage(cpu_seconds=1.0, memory_bytes=1.0, sampled_at=2))
    renderer.render()
    assert all(renderer._static[cid] is kept[cid] for cid in kept)


def test_the_restart_count_is_one_plain_series_and_promtool_lint_accepts_it() -> None:
    body = IncrementalRenderer(fleet(3)).render()
    assert b"# TYPE docker_container_restart_count untyped\n" in body
    assert b'docker_container_restart_count{container="web-1"} 2.0\n' in body
    assert b"docker_container_restart_sum" not in body
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# SPEC §3: metric names are contract (with the type each is declared as), plus ours.
CONTRACT = {
    "docker_container_info": "gauge",
    "docker_container_state": "gauge",
    "docker_container_health_status": "gauge",
    "docker_container_health_failing_streak": "gauge",
    "docker_container_exit_code": "gauge",
    "docker_container_oom_killed": "gauge",
    "docker_container_restart_count": "untyped",
    "docker_container_events_total": "counter",
    "docker_container_started_at_seconds": "gauge",
    "docker_container_finished_at_seconds": "gauge",
    # Not in SPEC §3; added by issue 18 for the rules' operation hold.
    "docker_container_last_operation_timestamp_seconds": "gauge",
    "docker_container_cpu_usage_seconds_total": "counter",
    "docker_container_memory_usage_bytes": "gauge",
    "docker_container_memory_limit_bytes": "gauge",
    "docker_exporter_docker_up": "gauge",
    "docker_exporter_last_sync_timestamp_seconds": "gauge",
    "docker_exporter_events_received_total": "counter",
    "docker_exporter_errors_total": "counter",
    "docker_exporter_managed_containers": "gauge",
}


def test_exactly_the_contract_families_are_published_with_their_types() -> None:
    body = IncrementalRenderer(fleet(2)).render().decode()
    declared = dict(line.split()[2:4] for line in body.splitlines() if line.startswith("# TYPE "))
    assert declared == CONTRACT
