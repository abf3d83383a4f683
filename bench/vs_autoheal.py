"""docker-autoheal beside the whole chain with the shipped settings, in one run (prints figures).

    .venv/bin/python -m bench.vs_autoheal [--minutes 5] [--stop-runs 5] [--idle 50]

On the local Docker daemon, at the same time, each tool gets its own copy of
docker-autoheal's own test scenario (three containers, `sleep` as the process,
health checks every 3s with a 1s timeout and a 5s start period):

  unhealthy   labelled, its check always fails (retries 3)  -> should be restarted
  healthy     labelled, its check always passes (retries 1) -> must never be
  unlabelled  not labelled, its check always fails (retries 1) -> must never be

docker-autoheal runs unmodified from ../shared/peers/docker-autoheal/ as its
README says (`busybox sh docker-entrypoint autoheal`, `AUTOHEAL_INTERVAL=5`,
its default stop timeout 10s), watching only its copy's label. The chain runs
with the shipped timing files (prometheus.yml, rules, alertmanager.yml, the
resend delay docker-compose.yml passes) rewritten to loopback only, and the
healer with its shipped defaults (restart timeout 10s, 3 attempts, 10s
verification window) in heal mode (the shipped default is check mode), without
an LLM (LLM_BACKEND=none), emailing a loopback SMTP server.

Restarts are counted from the Docker events stream, recorded live for the whole
run: a `restart` event is one restart, whoever asked (both tools use Docker's
restart call). Time to first restart is from the container's own `start` event
to its first `restart` event (which Docker sends when the restarted container is
up, so it includes the 10s stop timeout `sleep` as PID 1 waits out, for both).

Then crash -> restart: a managed container exits by itself (a die nothing asked
for), from its `die` event to its next `start`; the peer restarts only unhealthy
containers, so it has no figure there. And stop -> restart: a managed container
that honours SIGTERM is stopped with `docker stop` and the clock runs to its next
`start` event, `--stop-runs` times;
the same is done to a container labelled for docker-autoheal, which restarts
only unhealthy containers.

Beside the chain's Prometheus (exporter scraped and rules evaluated every 1s)
a second Prometheus scrapes the same exporter with the former shipped 10s, so
the cost of the faster intervals is measured in the same run: CPU seconds,
samples ingested, resident memory. `--idle` extra healthy managed sleepers make
the exporter publish a realistic number of containers for that.

Why one file over 300 lines: the two tools, the event clock, the cost probe and
the table belong to one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import requests

from fleet.docker_env import docker_client
from healer.config_sources import DEFAULTS
from testbed.chain import Chain, running_chain
from testbed.containers import ContainerFactory, MadeContainer, health
from testbed.events import EventRecorder, recording
from testbed.processes import Service, free_port, wait_until
from testbed.promstack import SHIPPED, Profile, render_prometheus, start_prometheus
from testbed.smtp import SmtpServer

PEER_DIR = Path(os.environ.get("AUTOHEAL_DIR", "/work/shared/peers/docker-autoheal"))
PEER_INTERVAL = "5"
SLEEP = ["sleep", "100000"]
# Exits at once on SIGTERM, as a real service does on `docker stop`.
POLITE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
KINDS = ("unhealthy", "healthy", "unlabelled")
# The healer's shipped defaults, where the test bed's healer_env sets fast ones.
SHIPPED_HEALER_KEYS = (
    "RESTART_TIMEOUT_SECONDS",
    "HEALER_BACKOFF_SECONDS",
    "HEALER_VERIFY_WINDOW_SECONDS",
    "HEALER_VERIFY_TIMEOUT_SECONDS",
    "HEALER_WORKERS",
)


def scenario_health(kind: str) -> dict[str, Any]:
    """The peer's test scenario: interval 3s, timeout 1s, start period 5s; retries 3
    for the container that should be restarted, 1 for the others."""
    test = ["CMD-SHELL", "exit 0" if kind == "healthy" else "exit 1"]
    retries = 3 if kind == "unhealthy" else 1
    return health(test, interval=3, timeout=1, retries=retries, start_period=5)


@dataclass
class Copy:
    """One tool's copy of the scenario."""

    tool: str
    containers: dict[str, MadeContainer]


def make_copy(factory: ContainerFactory, tool: str, label: dict[str, str]) -> Copy:
    made = {}
    for kind in KINDS:
        made[kind] = factory.run(
            SLEEP,
            hint=f"{tool}-{kind}",
            managed=False,  # never the test bed's environment=production: others may heal it
            labels=label if kind != "unlabelled" else {},
            healthcheck=scenario_health(kind),
            start=False,
        )
    return Copy(tool, made)


# -- the peer ------------------------------------------------------------------------


def peer_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


@contextlib.contextmanager
def running_peer(label_key: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """docker-autoheal, unmodified, in its own process group; stopped with its children."""
    log = (workdir / "autoheal.log").open("ab")
    proc = subprocess.Popen(
        ["busybox", "sh", str(PEER_DIR / "docker-entrypoint"), "autoheal"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(workdir),
        start_new_session=True,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AUTOHEAL_CONTAINER_LABEL": label_key,
            "AUTOHEAL_INTERVAL": PEER_INTERVAL,
            "DOCKER_SOCK": peer_socket(),
        },
    )
    log.close()
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        proc.wait(timeout=10)


# -- Prometheus cost -------------------------------------------------------------------


@dataclass
class PromCost:
    label: str
    cpu_seconds: float
    samples: float
    rss_mb: float


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) / 1024 if found else float("nan")


def samples_appended(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    found = re.search(
        r"^prometheus_tsdb_head_samples_appended_total(?:\{[^}]*\})? (\S+)$", text, re.M
    )
    return float(found.group(1)) if found else 0.0  # absent until the first append


@contextlib.contextmanager
def prometheus_at_10s(chain: Chain, workdir: Path) -> Iterator[Service]:
    """A second Prometheus on the chain's exporter with the former shipped 10s intervals.
    Its Alertmanager address answers nothing: its alerts go nowhere."""
    config = render_prometheus(
        workdir,
        targets={"exporter": chain.exporter.url.removeprefix("http://")},
        alertmanager=f"127.0.0.1:{free_port()}",
        profile=Profile(scrape_interval="10s", evaluation_interval="10s"),
    )
    prom = start_prometheus(config, workdir, resend_delay="1m")
    try:
        yield prom
    finally:
        prom.stop()


# -- the run -----------------------------------------------------------------------------


@dataclass
class Outcome:
    first_restart: float | None  # seconds from the unhealthy container's start
    unhealthy_to_restart: float | None  # from Docker's health_status: unhealthy
    restarts: int  # of the unhealthy container in the window
    wrong: tuple[int, int]  # restarts of the healthy and the unlabelled one
    told: str


def event_times(events: EventRecorder, cid: str, action: str) -> list[float]:
    return events.times(action, cid)


def outcome(copy: Copy, events: EventRecorder, window: float, told: str) -> Outcome:
    bad = copy.containers["unhealthy"].id
    started = event_times(events, bad, "start")[0]
    restarts = [t for t in event_times(events, bad, "restart") if t <= started + window]
    unhealthy = event_times(events, bad, "health_status: unhealthy")
    first = restarts[0] if restarts else None
    return Outcome(
        first_restart=None if first is None else first - started,
        unhealthy_to_restart=None if first is None or not unhealthy else first - unhealthy[0],
        restarts=len(restarts),
        wrong=tuple(  # type: ignore[arg-type]
            len(
                [
                    t
                    for t in event_times(events, copy.containers[kind].id, "restart")
                    if t <= started + window
                ]
            )
            for kind in ("healthy", "unlabelled")
        ),
        told=told,
    )


def stop_to_restart(
    factory: ContainerFactory,
    events: EventRecorder,
    ours: dict[str, str],
    peers: dict[str, str],
    runs: int,
) -> tuple[list[float], int]:
    """Stop a SIGTERM-honouring container of each tool; seconds to the chain's restart of
    its own, and how many of the peer's were restarted within the same wait."""
    times: list[float] = []
    peer_restarts = 0

    def restarted(container: MadeContainer, since: float) -> list[float]:
        return [t for t in event_times(events, container.id, "start") if t > since]

    for _ in range(runs):
        mine = factory.run(POLITE, hint="stop-ours", managed=False, labels=ours)
        theirs = factory.run(POLITE, hint="stop-peer", managed=False, labels=peers)
        time.sleep(4)  # seen by Prometheus
        stopped = time.time()
        mine.stop()
        theirs.stop()
        wait_until(
            lambda: restarted(mine, stopped),  # noqa: B023 - called before the loop moves on
            timeout=90,
            interval=0.1,
            what=f"the chain to restart {mine.name}",
        )
        times.append(min(restarted(mine, stopped)) - stopped)
        peer_restarts += len(restarted(theirs, stopped))
        mine.remove(force=True)
        theirs.remove(force=True)
    return times, peer_restarts


def crash_to_restart(
    factory: ContainerFactory, events: EventRecorder, ours: dict[str, str], runs: int
) -> list[float]:
    """A managed container that exits by itself (a crash: a die nothing asked for);
    seconds from its `die` event to the chain's restart. It runs 10s first: its own
    creation is an operation, and a crash within 8s of it waits out that hold."""
    times: list[float] = []
    for _ in range(runs):
        c = factory.run(["sh", "-c", "sleep 10; exit 3"], hint="crash", managed=False, labels=ours)
        died = wait_until(
            lambda: event_times(events, c.id, "die"),  # noqa: B023 - used within the iteration
            timeout=30,
            interval=0.1,
            what=f"{c.name} to crash",
        )
        assert isinstance(died, list)
        restarted = wait_until(
            lambda: [t for t in event_times(events, c.id, "start") if t > died[0]],  # noqa: B023
            timeout=90,
            interval=0.1,
            what=f"the chain to restart {c.name}",
        )
        assert isinstance(restarted, list)
        times.append(restarted[0] - died[0])
        c.remove(force=True)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--stop-runs", type=int, default=5)
    parser.add_argument("--idle", type=int, default=50, help="extra healthy managed sleepers")
    parser.add_argument(
        "--peer-offset",
        type=float,
        default=None,
        help="seconds into docker-autoheal's 5s cycle to start the scenario (default: random)",
    )
    args = parser.parse_args(argv)
    window = args.minutes * 60
    client: docker.DockerClient = docker_client(os.environ)
    factory = ContainerFactory(client)
    ours = {f"itops.vs.{factory.run_id}": "true"}
    peer_key = f"itops.vs.autoheal.{factory.run_id}"
    peers = {peer_key: "true"}
    settings = {key: DEFAULTS[key] for key in SHIPPED_HEALER_KEYS}
    try:
        with contextlib.ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="itops-vs-")))
            smtp = SmtpServer().start()
            stack.callback(smtp.stop)
            chain = stack.enter_context(
                running_chain(
                    tmp / "chain",
                    managed_label=f"itops.vs.{factory.run_id}=true",
                    profile=SHIPPED,
                    exporter_args=(),
                    healer_settings={
                        **settings,
                        "HEALER_MODE": "heal",
                        "EMAIL_FROM": "healer@example.com",
                        "EMAIL_TO": "ops@example.com",
                        "SMTP_HOST": smtp.host,
                        "SMTP_PORT": str(smtp.port),
                        "SMTP_SECURITY": "none",
                        "LOG_LEVEL": "WARNING",
                    },
                )
            )
            (tmp / "prom10").mkdir()
            slow = stack.enter_context(prometheus_at_10s(chain, tmp / "prom10"))
            for _ in range(args.idle):
                factory.run(SLEEP, hint="idle", managed=False, labels=ours)
            stack.enter_context(running_peer(peer_key, tmp))
            events = stack.enter_context(recording(client))
            copies = [make_copy(factory, "ours", ours), make_copy(factory, "peer", peers)]
            # docker-autoheal polls every 5s from its own start: where the scenario
            # falls in that cycle decides up to 5s of its time. A random offset
            # (printed) keeps the bench from favouring either tool run after run.
            offset = args.peer_offset if args.peer_offset is not None else random.uniform(0, 5)
            time.sleep(3 + offset)  # the idle ones scraped; then the offset in the cycle
            proms = {"1s (shipped)": chain.stack.prometheus, "10s (before)": slow}
            before = {
                k: (cpu_seconds(p.proc.pid), samples_appended(p.url)) for k, p in proms.items()
            }
            measured_from = time.monotonic()
            for kind in KINDS:  # the two copies' twins start back to back
                for copy in copies:
                    copy.containers[kind].start()
            print(
                f"scenario started {3 + offset:.2f}s after docker-autoheal; "
                f"watching {args.minutes:g} min...",
                flush=True,
            )
            time.sleep(window + 1)
            elapsed = time.monotonic() - measured_from
            costs = [
                PromCost(
                    k,
                    (cpu_seconds(p.proc.pid) - before[k][0]) / elapsed * 60,
                    (samples_appended(p.url) - before[k][1]) / elapsed,
                    rss_mb(p.proc.pid),
                )
                for k, p in proms.items()
            ]
            told_ours = f"{len(smtp.messages)} email(s)"
            results = {
                "docker-autoheal": outcome(copies[1], events, window, "0 (no notifier set)"),
                "IT Operations Agent": outcome(copies[0], events, window, told_ours),
            }
            print(f"stop → restart: {args.stop_runs} run(s)...", flush=True)
            stops, peer_stops = stop_to_restart(factory, events, ours, peers, args.stop_runs)
            print(f"crash → restart: {args.stop_runs} run(s)...", flush=True)
            crashes = crash_to_restart(factory, events, ours, args.stop_runs)
    finally:
        factory.cleanup()
    report(results, stops, peer_stops, crashes, costs, args)
    return 0


def fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def report(
    results: dict[str, Outcome],
    stops: list[float],
    peer_stops: int,
    crashes: list[float],
    costs: list[PromCost],
    args: argparse.Namespace,
) -> None:
    peer, ours = results["docker-autoheal"], results["IT Operations Agent"]
    rows = [
        ("time to first restart (s)", fmt(peer.first_restart), fmt(ours.first_restart)),
        (
            "  of which after Docker said unhealthy",
            fmt(peer.unhealthy_to_restart),
            fmt(ours.unhealthy_to_restart),
        ),
        (f"restarts in {args.minutes:g} min", str(peer.restarts), str(ours.restarts)),
        (
            "wrong restarts (healthy, unlabelled)",
            "{}, {}".format(*peer.wrong),
            "{}, {}".format(*ours.wrong),
        ),
        ("people told", peer.told, ours.told),
        (
            f"stop → restart, median (n={len(stops)})",
            f"not restarted ({peer_stops} of {len(stops)})",
            f"{statistics.median(stops):.1f}s ({min(stops):.1f}–{max(stops):.1f})",
        ),
        (
            f"crash (die) → restart, median (n={len(crashes)})",
            "not restarted (no health check)",
            f"{statistics.median(crashes):.1f}s ({min(crashes):.1f}–{max(crashes):.1f})",
        ),
    ]
    print("\ndocker-autoheal vs the whole chain, shipped settings, same daemon, one run")
    print(f"{'':<40}{'docker-autoheal':>26}{'IT Operations Agent':>26}")
    for name, a, b in rows:
        print(f"{name:<40}{a:>26}{b:>26}")
    print(f"\nPrometheus cost (the exporter publishing {args.idle + 2} managed containers)")
    print(f"{'intervals':<16}{'CPU s/min':>12}{'samples/s':>12}{'RSS MB':>10}")
    for cost in costs:
        print(f"{cost.label:<16}{cost.cpu_seconds:>12.2f}{cost.samples:>12.0f}{cost.rss_mb:>10.0f}")
    first_ok = ours.first_restart is not None and (
        peer.first_restart is None or ours.first_restart <= peer.first_restart
    )
    print("\nTargets:")
    for ok, text in (
        (first_ok, f"first restart {fmt(ours.first_restart)}s ≤ peer's {fmt(peer.first_restart)}s"),
        (
            statistics.median(stops) <= 15,
            f"stop → restart median {statistics.median(stops):.1f}s ≤ 15s",
        ),
        (ours.wrong == (0, 0), f"wrong restarts {ours.wrong[0] + ours.wrong[1]} = 0"),
    ):
        print(f"  {'PASS' if ok else 'MISS'}  {text}")


if __name__ == "__main__":
    sys.exit(main())
