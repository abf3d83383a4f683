"""Operations in progress on a container, told apart from failures by their events.

A deliberate `docker stop`/`restart`, `docker compose up -d` recreating a service
or a rolling deploy passes through states a crash also passes through (exited,
created). What tells them apart is how the container got there: an operation
starts with an event someone asked for - `kill` (every stop and restart begins
with one), `create`, `rename` (Compose renames a replacement into place), `stop`
- while a crash is a `die` that nothing asked for. The exporter publishes the
time of the last such event, and the rules hold the restartable alerts for a few
seconds after it instead of waiting every container out.

Pure values: the cache advances an entry's `Operation` with each event it applies.
"""

from __future__ import annotations

from dataclasses import dataclass

# Events only an operator, an orchestrator (Compose, a deploy tool) or the healer causes.
OPERATION_EVENTS = frozenset({"kill", "create", "rename", "stop"})


@dataclass(frozen=True)
class Operation:
    """`at`: Unix time of the last operation event (None: none seen since the exporter
    started). `stopping`: a kill was seen since the last start, so the next `die` is
    that stop finishing, not a crash."""

    at: float | None = None
    stopping: bool = False


NONE = Operation()


def advance(operation: Operation, event: str, at: float) -> Operation:
    """The operation after `event` (a Docker action, e.g. "kill") seen at Unix time `at`."""
    if event in OPERATION_EVENTS:
        return Operation(_later(operation.at, at), operation.stopping or event == "kill")
    if event == "die" and operation.stopping:
        # A stop that outlasts its grace period ends long after its kill: the
        # container is down from now on, so the hold counts from now.
        return Operation(_later(operation.at, at), stopping=False)
    if event == "start" and operation.stopping:
        return Operation(operation.at, stopping=False)
    return operation


def _later(current: float | None, at: float) -> float:
    return at if current is None else max(current, at)
