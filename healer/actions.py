"""Restarting a container and proving it came back.

A restart that returns is not a heal. Verification waits (bounded) for the
container to run, and to be healthy when it has a health check, and then
watches a stability window: a container that dies, restarts or turns
unhealthy within it is not reported healed.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.facts import ContainerFacts
from healer.clock import Clock
from healer.docker_port import DockerPort
from healer.model import Verification

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class VerifySettings:
    """How a restart is issued and then verified."""

    timeout_seconds: float  # to become running (and healthy)
    window_seconds: float  # then to stay so
    restart_timeout_seconds: float = 10.0  # Docker's graceful stop before the kill
    backoff_seconds: float = 2.0  # before the second attempt; doubles per attempt
    poll_seconds: float = POLL_SECONDS


def verify(
    docker: DockerPort, container_id: str, settings: VerifySettings, clock: Clock
) -> Verification:
    started = clock.now()
    deadline = started + settings.timeout_seconds
    first = docker.inspect(container_id)
    if first is None:
        return _result(False, None, "the container disappeared after the restart", clock, started)
    baseline_restarts = first.restart_count
    facts: ContainerFacts | None = first
    # Phase 1: up (and healthy when a health check exists).
    while True:
        if facts is None:
            return _result(False, None, "the container disappeared", clock, started)
        if facts.restart_count > baseline_restarts or facts.state in ("exited", "dead"):
            return _result(
                False,
                facts,
                f"it stopped again (state {facts.state}, exit code {facts.exit_code}"
                + (", OOM-killed" if facts.oom_killed else "")
                + ")",
                clock,
                started,
            )
        if facts.health_status == "unhealthy":
            return _result(False, facts, "it runs but its health check fails", clock, started)
        if facts.running and (not facts.has_healthcheck or facts.health_status == "healthy"):
            break
        if clock.now() >= deadline:
            waited = settings.timeout_seconds
            what = "healthy" if facts.has_healthcheck else "running"
            return _result(False, facts, f"it was not {what} within {waited:g}s", clock, started)
        clock.sleep(settings.poll_seconds)
        facts = docker.inspect(container_id)
    up = facts
    # Phase 2: stable for the window (no exit, no restart, no failing health check).
    window_end = clock.now() + settings.window_seconds
    while clock.now() < window_end:
        clock.sleep(min(settings.poll_seconds, max(window_end - clock.now(), 0)))
        facts = docker.inspect(container_id)
        if facts is None:
            return _result(False, None, "the container disappeared", clock, started)
        if (
            not facts.running
            or facts.started_at != up.started_at
            or facts.restart_count != up.restart_count
            or facts.health_status == "unhealthy"
        ):
            elapsed = clock.now() - started
            return _result(
                False,
                facts,
                f"it came up but did not stay up: {facts.state}"
                + (f"/{facts.health_status}" if facts.has_healthcheck else "")
                + f" after {elapsed:.1f}s",
                clock,
                started,
            )
    health = " and healthy" if up.has_healthcheck else ""
    return _result(
        True,
        up,
        f"running{health}, stable for {settings.window_seconds:g}s with no new restart",
        clock,
        started,
    )


def _result(
    ok: bool, facts: ContainerFacts | None, summary: str, clock: Clock, started: float
) -> Verification:
    now = clock.now()
    return Verification(
        ok=ok,
        state=facts.state if facts else "gone",
        health_status=facts.health_status if facts else "none",
        summary=summary,
        checked_at=now,
        waited_seconds=now - started,
    )
