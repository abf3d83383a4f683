"""Renders the cache as Prometheus metric families, fresh on every scrape.

No labelled gauges live between scrapes: a container that leaves the cache
simply is not yielded any more, so its series vanish with no cleanup step.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    UnknownMetricFamily,
)
from prometheus_client.registry import Collector

from exporter.cache import ContainerCache, Entry, SelfState
from fleet.facts import HEALTH_STATUSES, STATES

INFO_LABELS = [
    "container",
    "id",
    "image",
    "compose_project",
    "compose_service",
    "managed_value",
    "critical",
]

RESTART_COUNT_HELP = (
    "Restarts made by the container's restart policy: the daemon's RestartCount. A gauge "
    "(it starts from 0 again when the container is recreated), declared untyped only "
    "because promtool reserves the _count suffix for summaries and histograms."
)


class ContainerCollector(Collector):
    def __init__(self, cache: ContainerCache) -> None:
        self._cache = cache

    def describe(self) -> Iterator[Metric]:
        # Returning nothing keeps registration from calling collect() early.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        _, entries, state = self._cache.snapshot()
        yield from container_families(entries)
        yield from self_families(state, len(entries))


def container_families(entries: tuple[Entry, ...]) -> Iterator[Metric]:
    c = ["container"]
    info = GaugeMetricFamily(
        "docker_container_info",
        "Managed container metadata; always 1. Join on `container` for image, compose "
        "project/service, the managed label's value and whether it is critical.",
        labels=INFO_LABELS,
    )
    state = GaugeMetricFamily(
        "docker_container_state",
        "Container state, one-hot: 1 for the current state, 0 for the others.",
        labels=["container", "state"],
    )
    health = GaugeMetricFamily(
        "docker_container_health_status",
        "Health-check status, one-hot; `none` when the container has no health check.",
        labels=["container", "status"],
    )
    streak = GaugeMetricFamily(
        "docker_container_health_failing_streak",
        "Consecutive failed health checks.",
        labels=c,
    )
    exit_code = GaugeMetricFamily(
        "docker_container_exit_code", "Exit code of the last time the container stopped.", labels=c
    )
    oom = GaugeMetricFamily(
        "docker_container_oom_killed",
        "1 when the container's last exit was an OOM kill, else 0.",
        labels=c,
    )
    # A gauge in meaning: the daemon owns the value, and it starts again from 0 when a
    # container is recreated. But the contract name ends in _count, which promtool's
    # lint reserves for summaries and histograms ("non-histogram and non-summary
    # metrics should not have _count suffix"); its lint rules skip untyped families.
    # Untyped claims nothing false; the summary this was before claimed observations.
    restarts = UnknownMetricFamily(
        "docker_container_restart_count",
        RESTART_COUNT_HELP,
        labels=c,
    )
    events = CounterMetricFamily(
        "docker_container_events",
        "Lifecycle events seen on the Docker events stream since the exporter started "
        "(die, oom, start, kill, health_status_unhealthy, ...).",
        labels=["container", "event"],
    )
    started = GaugeMetricFamily(
        "docker_container_started_at_seconds",
        "Unix time the container last started; absent when it never started.",
        labels=c,
    )
    finished = GaugeMetricFamily(
        "docker_container_finished_at_seconds",
        "Unix time the container last stopped; absent when it never stopped.",
        labels=c,
    )
    cpu = CounterMetricFamily(
        "docker_container_cpu_usage_seconds",
        "CPU time consumed by a running container. Sampled in the background with one-shot "
        "stats, so it may lag by one sample interval.",
        labels=c,
    )
    memory = GaugeMetricFamily(
        "docker_container_memory_usage_bytes",
        "Working-set memory of a running container (usage minus inactive page cache). "
        "Sampled in the background, so it may lag by one sample interval.",
        labels=c,
    )
    limit = GaugeMetricFamily(
        "docker_container_memory_limit_bytes",
        "Memory limit from the container's configuration; 0 when it has no limit.",
        labels=c,
    )
    for entry in entries:
        f = entry.facts
        name = [f.name]
        info.add_metric(
            [
                f.name,
                f.short_id,
                f.image,
                f.compose_project,
                f.compose_service,
                entry.managed_value,
                "true" if entry.critical else "false",
            ],
            1,
        )
        for s in STATES:
            state.add_metric([f.name, s], 1 if f.state == s else 0)
        for h in HEALTH_STATUSES:
            health.add_metric([f.name, h], 1 if f.health_status == h else 0)
        streak.add_metric(name, f.failing_streak)
        exit_code.add_metric(name, f.exit_code)
        oom.add_metric(name, 1 if f.oom_killed else 0)
        restarts.add_metric(name, f.restart_count)
        for event, count in entry.events:
            events.add_metric([f.name, event], count)
        if f.started_at is not None:
            started.add_metric(name, f.started_at)
        if f.finished_at is not None:
            finished.add_metric(name, f.finished_at)
        limit.add_metric(name, f.memory_limit_bytes)
        if entry.usage is not None:
            cpu.add_metric(name, entry.usage.cpu_seconds)
            memory.add_metric(name, entry.usage.memory_bytes)
    yield from (info, state, health, streak, exit_code, oom, restarts, events)
    yield from (started, finished, cpu, memory, limit)


def self_families(state: SelfState, managed: int) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "docker_exporter_docker_up",
        "1 when the Docker daemon answered the last sync or events connection, else 0.",
        value=1 if state.docker_up else 0,
    )
    last_sync = GaugeMetricFamily(
        "docker_exporter_last_sync_timestamp_seconds",
        "Unix time of the last successful full sync with the Docker daemon.",
    )
    if state.last_sync is not None:
        last_sync.add_metric([], state.last_sync)
    yield last_sync
    yield CounterMetricFamily(
        "docker_exporter_events_received",
        "Docker events received on the filtered events stream.",
        value=state.events_received,
    )
    errors = CounterMetricFamily(
        "docker_exporter_errors",
        "Errors talking to Docker, by stage (sync, events, inspect, stats).",
        labels=["stage"],
    )
    for stage, count in state.errors:
        errors.add_metric([stage], count)
    yield errors
    yield GaugeMetricFamily(
        "docker_exporter_managed_containers",
        "Containers carrying the managed label, in any state.",
        value=managed,
    )
