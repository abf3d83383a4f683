"""Real OOM kills on a busy machine: each reads 1 on a real exporter's /metrics within 15 s.

Load is what makes Docker report an OOM kill out of order: with CPU burners and
several containers starting at once, the `oom` event regularly comes after
`die`, and Engine 20.10 then never sets State.OOMKilled. The same race
(containerd starts watching the container's memory cgroup only after the
process runs) can also lose the kill entirely: no `oom` event, OOMKilled
false. No exporter can publish what Docker never says, so such a container is
left out of the assertion, counted, and allowed to be a small minority only.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import docker.errors
import pytest
import requests

from fleet.docker_env import docker_client
from fleet.facts import parse_docker_time
from testbed.containers import RUN_LABEL, ContainerFactory, MadeContainer
from testbed.processes import Service, free_port, python_module, start_service
from testbed.scrape import scrape, value

BATCHES = 3
PER_BATCH = 4
BURNERS = 3
CHURNERS = 2
WITHIN = 15.0
# Allocating at once is what hits the race; a second start finds /ran and only sleeps.
ALLOCATE_ONCE = (
    "if [ -e /ran ]; then exec sleep 100000; fi; touch /ran; "
    'x=$(head -c 200000000 /dev/zero | tr "\\0" a)'
)
OOM = "docker_container_oom_killed"
STATE = "docker_container_state"
T = TypeVar("T")
X = TypeVar("X")


@contextlib.contextmanager
def busy_machine(factory: ContainerFactory) -> Iterator[None]:
    """CPU burners and a stream of container starts until the block ends.

    Both matter: the burners starve containerd's shim of CPU, and the starts keep
    the daemon and containerd busy, which is when `oom` falls behind `die`.
    """
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)]
    stop = threading.Event()

    def churn(lane: int) -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            # The run label makes the exporter follow these too, as on a busy host.
            with contextlib.suppress(docker.errors.APIError):
                name = f"{factory.prefix}churn-{lane}-{n}"
                factory.run(["true"], name=name).remove(force=True)

    churners = [threading.Thread(target=churn, args=(lane,)) for lane in range(CHURNERS)]
    for thread in churners:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for burner in burners:
            burner.kill()  # by its own pid: only what this test started
        for burner in burners:
            burner.wait(timeout=10)
        for thread in churners:
            thread.join(timeout=30)


@dataclass
class Tally:
    published: int = 0
    oom_after_die: int = 0
    never_reported: list[str] = field(default_factory=list)


@pytest.fixture
def exporter_process(container_factory: ContainerFactory, tmp_path: Path) -> Iterator[Service]:
    """`python -m exporter` managing only this test's containers."""
    port = free_port()
    service = start_service(
        "exporter",
        python_module(
            "exporter",
            "--listen",
            f"127.0.0.1:{port}",
            "--managed-label",
            f"itops.test.run={container_factory.run_id}",
        ),
        port=port,
        log_dir=tmp_path,
        ready_url=f"http://127.0.0.1:{port}/healthz",
    )
    yield service
    service.stop()


def at_once(items: Sequence[X], action: Callable[[X], T]) -> list[T]:
    """`action` on every item concurrently: concurrent container operations are load too."""
    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(action, items))


def start_batch(factory: ContainerFactory) -> list[MadeContainer]:
    # Names come from the factory's counter, which is not thread-safe: draw them here.
    names = [factory.name("oom") for _ in range(PER_BATCH)]
    return at_once(
        names,
        lambda name: factory.run(
            ["sh", "-c", ALLOCATE_ONCE], name=name, mem_limit="16m", memswap_limit="16m"
        ),
    )


class DaemonRecord:
    """The `oom` and `die` events the daemon sends for this test's containers, live.

    Followed from before the first start: replaying them afterwards is no record,
    the daemon keeps only its last 256 events and a busy host rolls them over.
    """

    def __init__(self, factory: ContainerFactory) -> None:
        self._api = docker_client(os.environ).api
        self._actions: dict[str, list[str]] = {}
        self._stream = self._api.events(
            decode=True,
            filters={"label": f"{RUN_LABEL}={factory.run_id}", "event": ["oom", "die"]},
        )
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        with contextlib.suppress(requests.RequestException):  # closed by close()
            for event in self._stream:
                self._actions.setdefault(event["Actor"]["ID"], []).append(event["Action"])

    def actions(self, container: MadeContainer) -> list[str]:
        return list(self._actions.get(container.id, []))

    def close(self) -> None:
        self._stream.close()
        self._thread.join(timeout=5)
        self._api.close()


def await_oom_kills(
    url: str, daemon: DaemonRecord, batch: list[MadeContainer], tally: Tally
) -> None:
    """Each container must read 1 within WITHIN s of its exit, if Docker reported it at all."""
    pending = {c.name: c for c in batch}
    deadline: dict[str, float] = {}
    started = time.monotonic()
    while pending:
        samples = scrape(url + "/metrics")
        for name, c in list(pending.items()):
            if value(samples, OOM, {"container": name}) == 1:
                tally.published += 1
                del pending[name]
            elif name not in deadline:
                c.reload()
                finished = parse_docker_time(c.attrs["State"]["FinishedAt"])
                if not c.attrs["State"]["Running"] and finished is not None:
                    deadline[name] = finished + WITHIN
                else:
                    # Allocating 200 MB in 16 MiB takes well under a second, even here.
                    assert time.monotonic() - started < 2 * WITHIN, f"{name} was never killed"
            elif time.time() > deadline[name]:
                record = daemon.actions(c)
                c.reload()
                assert "oom" not in record and not c.attrs["State"]["OOMKilled"], (
                    f"{name}: Docker reported an OOM kill ({record}) but /metrics still says "
                    f"{OOM}={value(samples, OOM, {'container': name})} {WITHIN} s after the exit"
                )
                tally.never_reported.append(f"{name} {record}")
                del pending[name]
        time.sleep(0.1)
    for c in batch:
        record = daemon.actions(c)
        if "oom" in record and "die" in record and record.index("die") < record.index("oom"):
            tally.oom_after_die += 1


def await_clean_restart(url: str, batch: list[MadeContainer]) -> None:
    at_once(batch, lambda c: c.start())
    deadline = time.monotonic() + WITHIN
    while True:
        samples = scrape(url + "/metrics")
        wrong = {
            c.name: value(samples, OOM, {"container": c.name})
            for c in batch
            if value(samples, STATE, {"container": c.name, "state": "running"}) != 1
            or value(samples, OOM, {"container": c.name}) != 0
        }
        if not wrong:
            return
        assert time.monotonic() < deadline, f"not running with {OOM}=0 after a clean start: {wrong}"
        time.sleep(0.1)


def test_every_oom_kill_docker_reports_under_load_reads_1_within_15s_and_0_after_a_clean_start(
    exporter_process: Service, container_factory: ContainerFactory
) -> None:
    tally = Tally()
    daemon = DaemonRecord(container_factory)
    try:
        with busy_machine(container_factory):
            for _ in range(BATCHES):
                batch = start_batch(container_factory)
                await_oom_kills(exporter_process.url, daemon, batch, tally)
                await_clean_restart(exporter_process.url, batch)
                at_once(batch, lambda c: c.remove(force=True))
    finally:
        daemon.close()
    total = BATCHES * PER_BATCH
    # The figures a reader wants from a load test: how often the late order happened.
    print(
        f"\n{total} OOM kills under load: {tally.published} published, "
        f"{tally.oom_after_die} with `oom` after `die`, "
        f"{len(tally.never_reported)} never reported by Docker {tally.never_reported}",
        file=sys.stderr,
    )
    assert tally.published + len(tally.never_reported) == total
    assert len(tally.never_reported) <= total // 4, tally.never_reported
