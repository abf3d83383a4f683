"""A typed, read-only view of one `docker inspect` answer.

Both services read containers through this class so that state names, the
"no health check" case and Docker's zero timestamps are interpreted once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
HEALTH_STATUSES = ("healthy", "unhealthy", "starting", "none")


_DOCKER_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_docker_time(text: str | None) -> float | None:
    """Docker's RFC 3339 time (nanosecond precision) as epoch seconds; None for the zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    match = _DOCKER_TIME.match(text)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    if fraction:
        seconds += float("0." + fraction)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds


@dataclass(frozen=True)
class HealthProbe:
    """One entry of the health-check log Docker keeps (the last five runs)."""

    exit_code: int
    output: str
    ended_at: float | None


@dataclass(frozen=True)
class ContainerFacts:
    id: str
    name: str
    image: str
    labels: Mapping[str, str]
    state: str
    exit_code: int
    oom_killed: bool
    error: str
    started_at: float | None
    finished_at: float | None
    restart_count: int
    health_status: str
    failing_streak: int
    health_log: tuple[HealthProbe, ...] = field(default=())
    memory_limit_bytes: int = 0
    restart_policy: str = ""
    created_at: float | None = None

    @classmethod
    def from_inspect(cls, data: Mapping[str, Any]) -> ContainerFacts:
        state: Mapping[str, Any] = data.get("State") or {}
        config: Mapping[str, Any] = data.get("Config") or {}
        host: Mapping[str, Any] = data.get("HostConfig") or {}
        health: Mapping[str, Any] = state.get("Health") or {}
        status = str(state.get("Status") or "created")
        health_status = str(health.get("Status") or "none")
        if health_status not in HEALTH_STATUSES:
            health_status = "none"
        probes = tuple(
            HealthProbe(
                exit_code=int(entry.get("ExitCode", -1)),
                output=str(entry.get("Output") or ""),
                ended_at=parse_docker_time(entry.get("End")),
            )
            for entry in (health.get("Log") or [])
        )
        return cls(
            id=str(data.get("Id", "")),
            name=str(data.get("Name", "")).lstrip("/"),
            image=str(config.get("Image") or data.get("Image") or ""),
            labels=dict(config.get("Labels") or {}),
            state=status if status in STATES else "created",
            exit_code=int(state.get("ExitCode") or 0),
            oom_killed=bool(state.get("OOMKilled")),
            error=str(state.get("Error") or ""),
            started_at=parse_docker_time(state.get("StartedAt")),
            finished_at=parse_docker_time(state.get("FinishedAt")),
            restart_count=int(data.get("RestartCount") or 0),
            health_status=health_status,
            failing_streak=int(health.get("FailingStreak") or 0),
            health_log=probes,
            memory_limit_bytes=int(host.get("Memory") or 0),
            restart_policy=str((host.get("RestartPolicy") or {}).get("Name") or ""),
            created_at=parse_docker_time(data.get("Created")),
        )

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def has_healthcheck(self) -> bool:
        return self.health_status != "none"

    @property
    def compose_project(self) -> str:
        return self.labels.get("com.docker.compose.project", "")

    @property
    def compose_service(self) -> str:
        return self.labels.get("com.docker.compose.service", "")

    @property
    def needs_attention(self) -> bool:
        """Not running, or running but failing its health check."""
        return not self.running or self.health_status == "unhealthy"
