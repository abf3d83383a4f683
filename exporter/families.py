"""Every metric family the exporter publishes, defined once (SPEC §3: the names are contract).

A container family is a `Family`: its name, type, help, labels, and how to read
its samples from a cache entry. Both renderers are derived from this table:
exporter/collector.py builds prometheus_client families from it (the reference
output), and exporter/exposition.py formats the same samples into text,
incrementally. Neither names a metric of its own.

The exporter's own families are few, read from `SelfState` rather than an
entry, and rendered by prometheus_client in both paths (`self_families`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    UnknownMetricFamily,
)

from exporter.cache import Entry, SelfState
from fleet.facts import HEALTH_STATUSES, STATES

Kind = Literal["gauge", "counter", "untyped"]
# One sample: the values of a family's labels after `container`, and the value.
Sample = tuple[tuple[str, ...], float]


@dataclass(frozen=True)
class Family:
    """One container metric family; every sample also carries `container` (the name).

    A family without labels of its own reads one `value` per entry (None: no sample);
    a family with labels reads its `samples`, as a tuple (the fast renderer keeps text
    by it). `source` says what the samples depend on: "facts" families may read
    anything of the entry but its usage; "usage" families read only the stats sample,
    which changes on every round, so the fast renderer keeps their text apart.
    """

    name: str  # as exposed: counters end in _total
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    value: Callable[[Entry], float | None] | None = None
    samples: Callable[[Entry], tuple[Sample, ...]] | None = None
    source: Literal["facts", "usage"] = "facts"

    def __post_init__(self) -> None:
        if (self.value is None) == (self.samples is None) or (
            bool(self.labels) != (self.samples is not None)
        ):
            raise ValueError(f"{self.name}: labels need samples, no labels needs a value")

    def read(self, entry: Entry) -> tuple[Sample, ...]:
        """Every sample of this family for one entry."""
        if self.samples is not None:
            return self.samples(entry)
        assert self.value is not None
        found = self.value(entry)
        return () if found is None else (((), found),)

    def metric(self) -> Metric:
        """An empty prometheus_client family of this name, type and help."""
        labels = ["container", *self.labels]
        if self.kind == "counter":
            # prometheus_client appends _total itself.
            return CounterMetricFamily(self.name.removesuffix("_total"), self.help, labels=labels)
        if self.kind == "gauge":
            return GaugeMetricFamily(self.name, self.help, labels=labels)
        return UnknownMetricFamily(self.name, self.help, labels=labels)


def _one_hot(
    options: tuple[str, ...], current: Callable[[Entry], str]
) -> Callable[[Entry], tuple[Sample, ...]]:
    """One sample per option: 1 for the entry's current one, 0 for the others."""
    by_current = {now: tuple(((o,), 1 if o == now else 0) for o in options) for now in options}
    none = tuple(((o,), 0) for o in options)

    def samples(entry: Entry) -> tuple[Sample, ...]:
        return by_current.get(current(entry), none)

    return samples


def _info(entry: Entry) -> tuple[Sample, ...]:
    f = entry.facts
    labels = (
        f.short_id,
        f.image,
        f.compose_project,
        f.compose_service,
        entry.managed_value,
        "true" if entry.critical else "false",
    )
    return ((labels, 1),)


def _events(entry: Entry) -> tuple[Sample, ...]:
    return tuple(((event,), count) for event, count in entry.events)


def _cpu(entry: Entry) -> float | None:
    return None if entry.usage is None else entry.usage.cpu_seconds


def _memory(entry: Entry) -> float | None:
    return None if entry.usage is None else entry.usage.memory_bytes


CONTAINER_FAMILIES: tuple[Family, ...] = (
    Family(
        "docker_container_info",
        "gauge",
        "Managed container metadata; always 1. Join on `container` for image, compose "
        "project/service, the managed label's value and whether it is critical.",
        ("id", "image", "compose_project", "compose_service", "managed_value", "critical"),
        samples=_info,
    ),
    Family(
        "docker_container_state",
        "gauge",
        "Container state, one-hot: 1 for the current state, 0 for the others.",
        ("state",),
        samples=_one_hot(STATES, lambda e: e.facts.state),
    ),
    Family(
        "docker_container_health_status",
        "gauge",
        "Health-check status, one-hot; `none` when the container has no health check.",
        ("status",),
        samples=_one_hot(HEALTH_STATUSES, lambda e: e.facts.health_status),
    ),
    Family(
        "docker_container_health_failing_streak",
        "gauge",
        "Consecutive failed health checks.",
        value=lambda e: e.facts.failing_streak,
    ),
    Family(
        "docker_container_exit_code",
        "gauge",
        "Exit code of the last time the container stopped.",
        value=lambda e: e.facts.exit_code,
    ),
    Family(
        "docker_container_oom_killed",
        "gauge",
        "1 when the container's last exit was an OOM kill, else 0.",
        value=lambda e: 1 if e.facts.oom_killed else 0,
    ),
    # A gauge in meaning: the daemon owns the value, and it starts again from 0 when a
    # container is recreated. But the contract name ends in _count, which promtool's
    # lint reserves for summaries and histograms ("non-histogram and non-summary
    # metrics should not have _count suffix"); its lint rules skip untyped families.
    # Untyped claims nothing false; the summary it was before claimed observations.
    Family(
        "docker_container_restart_count",
        "untyped",
        "Restarts made by the container's restart policy: the daemon's RestartCount. A gauge "
        "(it starts from 0 again when the container is recreated), declared untyped only "
        "because promtool reserves the _count suffix for summaries and histograms.",
        value=lambda e: e.facts.restart_count,
    ),
    Family(
        "docker_container_events_total",
        "counter",
        "Lifecycle events seen on the Docker events stream since the exporter started "
        "(die, oom, start, kill, health_status_unhealthy, ...).",
        ("event",),
        samples=_events,
    ),
    Family(
        "docker_container_started_at_seconds",
        "gauge",
        "Unix time the container last started; absent when it never started.",
        value=lambda e: e.facts.started_at,
    ),
    Family(
        "docker_container_finished_at_seconds",
        "gauge",
        "Unix time the container last stopped; absent when it never stopped.",
        value=lambda e: e.facts.finished_at,
    ),
    Family(
        "docker_container_last_operation_timestamp_seconds",
        "gauge",
        "Unix time of the last event of an operation someone asked for: kill (every stop "
        "and restart begins with one), stop, create, rename, and the die that ends a "
        "requested stop. A crash has none. Absent until the exporter has seen one.",
        value=lambda e: e.operation.at,
    ),
    Family(
        "docker_container_cpu_usage_seconds_total",
        "counter",
        "CPU time consumed by a running container. Sampled in the background with one-shot "
        "stats, so it may lag by one sample interval.",
        value=_cpu,
        source="usage",
    ),
    Family(
        "docker_container_memory_usage_bytes",
        "gauge",
        "Working-set memory of a running container (usage minus inactive page cache). "
        "Sampled in the background, so it may lag by one sample interval.",
        value=_memory,
        source="usage",
    ),
    Family(
        "docker_container_memory_limit_bytes",
        "gauge",
        "Memory limit from the container's configuration; 0 when it has no limit.",
        value=lambda e: e.facts.memory_limit_bytes,
    ),
)


def container_families(entries: Iterable[Entry]) -> Iterator[Metric]:
    """The container families as prometheus_client metrics, with every entry's samples."""
    metrics = [family.metric() for family in CONTAINER_FAMILIES]
    for entry in entries:
        name = entry.facts.name
        for family, metric in zip(CONTAINER_FAMILIES, metrics, strict=True):
            for labels, value in family.read(entry):
                metric.add_metric([name, *labels], value)  # type: ignore[attr-defined]
    yield from metrics


def self_families(state: SelfState, managed: int) -> Iterator[Metric]:
    """The exporter's own families: the daemon connection, syncs, events, errors."""
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
