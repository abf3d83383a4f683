"""A typed, read-only view of one `docker inspect` answer.

Both services read containers through this class so that state names, the
"no health check" case and Docker's zero timestamps are interpreted once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.rfc3339 import parse_rfc3339

STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
HEALTH_STATUSES = ("healthy", "unhealthy", "starting", "none")


def parse_docker_time(text: str | None) -> float | None:
    """Docker's RFC 3339 time (nanosecond precision) as epoch seconds; None for the zero
    time and for anything that is not a real time (never an exception: one odd field
    must not cost a whole scrape)."""
    if not text or text.startswith("0001-01-01"):
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


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
            # "The last exit was an OOM kill", as Docker records it: a container a restart
            # policy brought back after an OOM kill still says so (the exporter publishes
            # a live run as 0 for its alert; exporter/oom.py has the whole story).
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
