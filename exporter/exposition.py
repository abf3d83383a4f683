"""The /metrics text, rendered incrementally: only what changed is formatted again.

A full render of 200 containers is ~4,400 samples; with prometheus_client's
`generate_latest` that is tens of milliseconds of CPU, on every change. Here
each container's lines are formatted once and kept with the (immutable) cache
objects they came from: a container whose facts or events changed has its
lines re-formatted, a stats sample re-formats only its two usage lines, and the
rest is string joining. The family headers are taken from `generate_latest`
itself, and tests/exporter/test_exposition.py pins the whole output byte for
byte to `generate_latest` over the `ContainerCollector`, which stays the
reference definition of every family.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from exporter.cache import ContainerCache, Entry, SelfState, Usage
from exporter.collector import container_families, self_families
from fleet.facts import HEALTH_STATUSES, STATES, ContainerFacts

# The library's own number formatting (Go-style floats, +Inf, NaN); it has no type hints.
_go: Callable[[float], str] = floatToGoString


class _One(Collector):
    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self._metric]


def _headers() -> list[str]:
    """`# HELP` and `# TYPE` of each container family, exactly as generate_latest writes them."""
    return [generate_latest(_One(family)).decode() for family in container_families(())]


HEADERS = _headers()
# Family order, as container_families yields them.
(INFO, STATE, HEALTH, STREAK, EXIT, OOM, RESTART, EVENTS, STARTED, FINISHED, CPU, MEMORY, LIMIT) = (
    range(13)
)
STATIC_FAMILIES = (
    INFO,
    STATE,
    HEALTH,
    STREAK,
    EXIT,
    OOM,
    RESTART,
    EVENTS,
    STARTED,
    FINISHED,
    LIMIT,
)


def _esc(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


@dataclass(frozen=True)
class _Static:
    """A container's lines for the families that change only with its facts or events."""

    facts: ContainerFacts
    events: tuple[tuple[str, int], ...]
    critical: bool
    managed_value: str
    lines: tuple[str, ...]  # indexed like STATIC_FAMILIES


@dataclass(frozen=True)
class _Usage:
    usage: Usage
    name: str  # a rename keeps the sample but changes its lines
    cpu: str
    memory: str


def _static_lines(entry: Entry) -> tuple[str, ...]:
    f = entry.facts
    c = f'container="{_esc(f.name)}"'
    # Labels in sorted order, as generate_latest writes them.
    info = (
        f'docker_container_info{{compose_project="{_esc(f.compose_project)}",'
        f'compose_service="{_esc(f.compose_service)}",{c},'
        f'critical="{"true" if entry.critical else "false"}",id="{_esc(f.short_id)}",'
        f'image="{_esc(f.image)}",managed_value="{_esc(entry.managed_value)}"}} 1.0\n'
    )
    state = "".join(
        f'docker_container_state{{{c},state="{s}"}} {"1.0" if f.state == s else "0.0"}\n'
        for s in STATES
    )
    health = "".join(
        f'docker_container_health_status{{{c},status="{h}"}} '
        f"{'1.0' if f.health_status == h else '0.0'}\n"
        for h in HEALTH_STATUSES
    )
    events = "".join(
        f'docker_container_events_total{{{c},event="{_esc(event)}"}} {_go(count)}\n'
        for event, count in entry.events
    )
    return (
        info,
        state,
        health,
        f"docker_container_health_failing_streak{{{c}}} {_go(f.failing_streak)}\n",
        f"docker_container_exit_code{{{c}}} {_go(f.exit_code)}\n",
        f"docker_container_oom_killed{{{c}}} {'1.0' if f.oom_killed else '0.0'}\n",
        f"docker_container_restart_count{{{c}}} {_go(f.restart_count)}\n",
        events,
        ""
        if f.started_at is None
        else f"docker_container_started_at_seconds{{{c}}} {_go(f.started_at)}\n",
        ""
        if f.finished_at is None
        else f"docker_container_finished_at_seconds{{{c}}} {_go(f.finished_at)}\n",
        f"docker_container_memory_limit_bytes{{{c}}} {_go(f.memory_limit_bytes)}\n",
    )


class IncrementalRenderer:
    """Renders the cache; not thread-safe on its own (the server serialises calls)."""

    def __init__(self, cache: ContainerCache) -> None:
        self._cache = cache
        self._static: dict[str, _Static] = {}
        self._usage: dict[str, _Usage] = {}

    def render(self) -> bytes:
        _, entries, state = self._cache.snapshot()
        per_family: list[list[str]] = [[] for _ in HEADERS]
        static: dict[str, _Static] = {}
        usage: dict[str, _Usage] = {}
        for entry in entries:
            cid = entry.facts.id
            kept = self._static.get(cid)
            if kept is None or not (
                kept.facts is entry.facts
                and kept.events is entry.events
                and kept.critical == entry.critical
                and kept.managed_value == entry.managed_value
            ):
                kept = _Static(
                    entry.facts,
                    entry.events,
                    entry.critical,
                    entry.managed_value,
                    _static_lines(entry),
                )
            static[cid] = kept
            for family, text in zip(STATIC_FAMILIES, kept.lines, strict=True):
                per_family[family].append(text)
            if entry.usage is not None:
                sample = self._usage.get(cid)
                if (
                    sample is None
                    or sample.usage is not entry.usage
                    or sample.name != entry.facts.name
                ):
                    c = f'container="{_esc(entry.facts.name)}"'
                    sample = _Usage(
                        entry.usage,
                        entry.facts.name,
                        f"docker_container_cpu_usage_seconds_total{{{c}}} "
                        f"{_go(entry.usage.cpu_seconds)}\n",
                        f"docker_container_memory_usage_bytes{{{c}}} "
                        f"{_go(entry.usage.memory_bytes)}\n",
                    )
                usage[cid] = sample
                per_family[CPU].append(sample.cpu)
                per_family[MEMORY].append(sample.memory)
        # Replacing the dicts drops what vanished, so they never grow past the fleet.
        self._static, self._usage = static, usage
        body = "".join(
            header + "".join(lines) for header, lines in zip(HEADERS, per_family, strict=True)
        )
        return body.encode() + _self_text(state, len(entries))


def _self_text(state: SelfState, managed: int) -> bytes:
    return b"".join(generate_latest(_One(family)) for family in self_families(state, managed))
