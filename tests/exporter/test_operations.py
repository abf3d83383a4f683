"""Operations someone asked for are told apart from crashes (exporter/operations.py).

The rules hold ContainerDown and ContainerUnhealthy for 8s after
docker_container_last_operation_timestamp_seconds; these tests pin what moves it.
"""

from __future__ import annotations

from exporter.operations import Operation, advance
from testbed.containers import ContainerFactory
from testbed.processes import wait_until
from tests.exporter.conftest import RunningExporter

OPERATION = "docker_container_last_operation_timestamp_seconds"
STATE = "docker_container_state"


def test_a_die_that_nothing_asked_for_is_no_operation() -> None:
    created = advance(Operation(), "create", 100.0)
    started = advance(created, "start", 101.0)
    assert advance(started, "die", 150.0) == Operation(100.0, stopping=False)


def test_a_kill_begins_an_operation_and_the_die_that_follows_ends_it() -> None:
    killed = advance(Operation(100.0), "kill", 200.0)
    assert killed == Operation(200.0, stopping=True)
    assert advance(killed, "die", 210.0) == Operation(210.0, stopping=False)


def test_a_start_after_a_kill_that_stopped_nothing_forgets_the_kill() -> None:
    # e.g. a kill -s HUP (reload), then a restart of the process by its policy
    killed = advance(Operation(), "kill", 200.0)
    started = advance(killed, "start", 205.0)
    assert advance(started, "die", 300.0) == Operation(200.0, stopping=False)


def test_stop_create_and_rename_are_operations_and_never_move_time_back() -> None:
    op = Operation()
    for event, at in (("create", 10.0), ("rename", 11.0), ("stop", 12.0)):
        op = advance(op, event, at)
        assert op.at == at
    assert advance(op, "rename", 5.0).at == 12.0


def test_a_crashing_container_keeps_its_creation_as_the_last_operation(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run(["sh", "-c", "sleep 1; exit 3"])
    created = exporter.wait_value(OPERATION, container=c.name)
    exporter.wait_for(STATE, 1, container=c.name, state="exited")
    assert exporter.value(OPERATION, container=c.name) == created
    finished = exporter.wait_value("docker_container_finished_at_seconds", container=c.name)
    assert finished - created >= 1.0


def test_docker_stop_counts_from_the_die_that_ends_its_grace_period(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    # `sleep` as PID 1 ignores SIGTERM: the stop waits out its 2s grace period.
    c = container_factory.run(["sleep", "100000"])
    created = exporter.wait_value(OPERATION, container=c.name)
    c.stop(timeout=2)
    exporter.wait_for(STATE, 1, container=c.name, state="exited")
    # The die and the stop event follow the kill by the grace period.
    wait_until(
        lambda: (exporter.value(OPERATION, container=c.name) or 0) - created >= 2.0,
        what="the operation time to move to the end of the stop",
    )
    at = exporter.value(OPERATION, container=c.name) or 0.0
    finished = exporter.wait_value("docker_container_finished_at_seconds", container=c.name)
    assert abs(at - finished) < 1.0


def test_docker_restart_moves_the_operation_time_and_leaves_it_running(
    exporter: RunningExporter, container_factory: ContainerFactory
) -> None:
    c = container_factory.run(["sleep", "100000"])
    created = exporter.wait_value(OPERATION, container=c.name)
    c.restart(timeout=0)
    wait_until(
        lambda: (exporter.value(OPERATION, container=c.name) or 0) > created,
        what="the restart to count as an operation",
    )
    exporter.wait_for(STATE, 1, container=c.name, state="running")
