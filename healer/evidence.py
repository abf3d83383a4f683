"""Gathering what a human (and the model) needs to judge a failure.

Live inspect facts, the last log lines (and how many of them the container's
last run printed, from Docker's log timestamps) and the health-check output,
with secrets redacted and sizes capped before anything is stored, prompted or
mailed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fleet.facts import ContainerFacts
from fleet.rfc3339 import parse_rfc3339
from healer.docker_port import DockerPort, clean_facts
from healer.errors import DockerActionError
from healer.model import Evidence
from healer.redact import cap_lines
from healer.redactor import NO_SECRETS, Redactor

MAX_LINE_CHARS = 500
MAX_TOTAL_CHARS = 16_000
MAX_HEALTH_LINES = 20
# Docker records StartedAt a few milliseconds after the process may already have printed
# (up to 10 ms seen on the test bed, more on a loaded host), while a new run starts at least
# the restart delay (100 ms, doubling) plus a container start (~200 ms) after the last line
# of the run before it.
START_SLACK_SECONDS = 0.2


def clean(lines: Iterable[str], redactor: Redactor, max_lines: int) -> tuple[tuple[str, ...], bool]:
    # Redact before capping: a cut could split a secret from the key that marks it.
    return cap_lines(redactor.clean_lines(lines), max_lines, MAX_LINE_CHARS, MAX_TOTAL_CHARS)


def gather(
    docker: DockerPort,
    *,
    name: str,
    container_id: str = "",
    now: float,
    log_lines: int,
    redactor: Redactor = NO_SECRETS,
) -> Evidence:
    """Evidence for the container with this id, or else exactly this name; facts are
    None when neither exists. (An alert's id may belong to a container since replaced
    under the same name: its evidence shows the successor, and the policy sees the
    different id and leaves it alone.)

    Everything Docker said is cleaned here with `redactor`, whatever the `docker` port
    did already, so no secret reaches the classifier, the model or the store."""
    facts = docker.inspect(container_id) if container_id else None
    if facts is None:
        facts = docker.find(name)
    if facts is None:
        return Evidence(container=name, facts=None, collected_at=now)
    facts = clean_facts(facts, redactor)
    run_lines: int | None = None
    try:
        raw_logs, run_lines = split_times(
            docker.logs(facts.id, tail=log_lines, timestamps=True), facts
        )
    except DockerActionError as exc:
        raw_logs = [f"(logs unavailable: {exc})"]
    logs, logs_cut = clean(raw_logs, redactor, log_lines)
    if run_lines is not None:
        run_lines = min(run_lines, len(logs))
    health_raw: list[str] = []
    for probe in facts.health_log:
        health_raw.extend(
            f"[health exit {probe.exit_code}] {line}" for line in probe.output.splitlines()
        )
    health, health_cut = clean(health_raw, redactor, MAX_HEALTH_LINES)
    return Evidence(
        container=facts.name,
        facts=facts,
        log_lines=logs,
        health_output=health,
        collected_at=now,
        truncated=logs_cut or health_cut,
        run_lines=run_lines,
    )


def split_times(stamped: Sequence[str], facts: ContainerFacts) -> tuple[list[str], int | None]:
    """The lines without Docker's time prefix, and how many of the last ones were printed
    since the container's last start (None when its start or a line's time is unknown)."""
    lines: list[str] = []
    times: list[float | None] = []
    for raw in stamped:
        stamp, _, text = raw.partition(" ")
        try:
            times.append(parse_rfc3339(stamp))
            lines.append(text)
        except ValueError:
            times.append(None)
            lines.append(raw)
    if facts.started_at is None:
        return lines, None
    boundary = facts.started_at - START_SLACK_SECONDS
    run = 0
    for at in reversed(times):
        if at is None:
            return lines, None
        if at < boundary:
            break
        run += 1
    return lines, run
