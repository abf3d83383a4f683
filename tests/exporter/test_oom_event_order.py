"""An `oom` event decides docker_container_oom_killed for its run, in either order with `die`.

The watcher is driven by hand so the order is ours to choose: its inspects go to
the real daemon, and the `start`/`die` dicts are the daemon's own records. A real
OOM cannot be made to report in a chosen order, so the containers are ended by
SIGKILL: Docker then says what it says when the `oom` comes late (exit 137,
`OOMKilled: false`), and the `oom` dict is that `die` re-labelled the way the
daemon labels an OOM.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import docker
import pytest

from exporter.cache import ContainerCache
from exporter.docker_port import DockerAdapter
from exporter.exposition import IncrementalRenderer
from exporter.watcher import DockerWatcher
from fleet.docker_env import docker_client
from fleet.selector import LabelSelector
from testbed.containers import ContainerFactory, MadeContainer, wait_for_state
from testbed.scrape import parse_samples, value

Event = Mapping[str, Any]


class Driven:
    """A watcher fed by the test, and what its /metrics text says."""

    def __init__(self, factory: ContainerFactory, api: docker.APIClient) -> None:
        self.client = factory.client
        self.cache = ContainerCache()
        selector = LabelSelector.parse(f"itops.test.run={factory.run_id}")
        self.watcher = DockerWatcher(DockerAdapter(lambda: api), self.cache, selector, frozenset())
        self.renderer = IncrementalRenderer(self.cache)

    def oom_killed(self, container: MadeContainer) -> float | None:
        samples = parse_samples(self.renderer.render().decode())
        return value(samples, "docker_container_oom_killed", {"container": container.name})

    def oom_events(self, container: MadeContainer) -> float | None:
        samples = parse_samples(self.renderer.render().decode())
        labels = {"container": container.name, "event": "oom"}
        return value(samples, "docker_container_events_total", labels)

    def last_event(self, container: MadeContainer, action: str, since: float) -> Event:
        """The daemon's own record of the container's latest `action` since `since`."""
        found: list[Event] = []
        deadline = time.monotonic() + 10
        while not found and time.monotonic() < deadline:
            # Fractional `since` is what the API takes; the SDK's stubs only say int.
            stream = self.client.api.events(  # type: ignore[call-overload]
                since=since,
                until=time.time() + 0.2,
                filters={"container": container.id, "event": action},
                decode=True,
            )
            found = list(stream)
        assert found, f"the daemon recorded no {action} for {container.name}"
        return found[-1]

    def killed(self, container: MadeContainer) -> Event:
        """SIGKILL the container; its real `die` event (exit 137, not an OOM to Docker)."""
        since = time.time() - 1
        container.kill()
        wait_for_state(container, lambda a: not a["State"]["Running"])
        assert container.attrs["State"]["OOMKilled"] is False
        return self.last_event(container, "die", since)

    def restarted(self, container: MadeContainer) -> Event:
        since = time.time() - 1
        container.start()
        wait_for_state(container, lambda a: a["State"]["Running"])
        return self.last_event(container, "start", since)


def oom_from(die: Event) -> Event:
    """An `oom` event of the same container: Docker's shape, with no exit attributes."""
    attributes = {
        k: v for k, v in die["Actor"]["Attributes"].items() if k not in ("exitCode", "execDuration")
    }
    return {
        **die,
        "status": "oom",
        "Action": "oom",
        "Actor": {"ID": die["Actor"]["ID"], "Attributes": attributes},
    }


def oom_killed_once(factory: ContainerFactory) -> MadeContainer:
    """A container Docker records as OOM-killed; started again, it only sleeps (/ran).

    The pause lets containerd watch the memory cgroup before the kill; on a very busy
    machine it can still lose the race and Docker never learns of the kill
    (test_oom_under_load.py), so a lost one is replaced.
    """
    once = (
        "if [ -e /ran ]; then exec sleep 100000; fi; touch /ran; sleep 1; "
        'x=$(head -c 200000000 /dev/zero | tr "\\0" a)'
    )
    for _ in range(3):
        c = factory.run(["sh", "-c", once], mem_limit="16m", memswap_limit="16m")
        attrs = wait_for_state(c, lambda a: not a["State"]["Running"])
        if attrs["State"]["OOMKilled"]:
            return c
        c.remove(force=True)
    pytest.fail("Docker recorded none of three OOM kills")


@pytest.fixture
def driven(container_factory: ContainerFactory) -> Iterator[Driven]:
    api = docker_client(os.environ).api
    yield Driven(container_factory, api)
    api.close()


def test_an_oom_after_die_turns_the_exit_into_an_oom_kill_that_a_resync_keeps(
    driven: Driven, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    driven.watcher.sync()
    die = driven.killed(c)
    driven.watcher.handle_event(die)
    assert driven.oom_killed(c) == 0  # Docker's word so far: exit 137, OOMKilled false

    driven.watcher.handle_event(oom_from(die))
    assert driven.oom_killed(c) == 1
    assert driven.oom_events(c) == 1
    # A full re-sync inspects again and Docker still says false for this run.
    driven.watcher.sync()
    assert driven.oom_killed(c) == 1


def test_an_oom_before_die_shows_with_the_exit_and_not_while_the_process_lives(
    driven: Driven, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    driven.watcher.sync()
    die = driven.killed(c)
    driven.watcher.handle_event(oom_from(die))
    # The cache still knows the container as running: no exit to describe yet.
    assert driven.oom_killed(c) == 0
    assert driven.oom_events(c) == 1

    driven.watcher.handle_event(die)
    assert driven.oom_killed(c) == 1


def test_a_new_start_clears_an_oom_kill_that_docker_never_recorded(
    driven: Driven, container_factory: ContainerFactory
) -> None:
    c = container_factory.run()
    driven.watcher.sync()
    die = driven.killed(c)
    driven.watcher.handle_event(oom_from(die))
    driven.watcher.handle_event(die)
    assert driven.oom_killed(c) == 1

    driven.watcher.handle_event(driven.restarted(c))
    assert driven.oom_killed(c) == 0
    driven.watcher.sync()
    assert driven.oom_killed(c) == 0
    # The next exit is judged on its own: SIGKILL without an `oom` is no OOM kill.
    driven.watcher.handle_event(driven.killed(c))
    assert driven.oom_killed(c) == 0


def test_a_run_started_after_a_real_oom_kill_reads_0_while_docker_still_says_oomkilled(
    driven: Driven, container_factory: ContainerFactory
) -> None:
    c = oom_killed_once(container_factory)
    driven.watcher.sync()
    assert driven.oom_killed(c) == 1

    driven.watcher.handle_event(driven.restarted(c))
    # Engine 20.10 keeps OOMKilled true for the new run; the exporter says 0 all the same.
    assert driven.oom_killed(c) == 0
    driven.watcher.sync()
    assert driven.oom_killed(c) == 0


def test_an_oom_of_an_unknown_container_is_counted_and_harmless(driven: Driven) -> None:
    driven.watcher.sync()
    driven.watcher.handle_event(
        {"Type": "container", "Action": "oom", "Actor": {"ID": "0" * 64, "Attributes": {}}}
    )
    _, entries, state = driven.cache.snapshot()
    assert entries == ()
    assert state.events_received == 1
