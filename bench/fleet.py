"""Fleet benchmark: a burst of failures across hosts, each healed once (figures; not a test).

    .venv/bin/python -m bench.fleet [--per-host 50] [--burst 30] [--big 500] [--scrapes 300]

Real parts throughout (testbed/fleet.py): three extra Docker Engines as hosts, an
exporter each, Prometheus with the shipped rules (fast profile: 1 s scrapes and
evaluations, `for:` at a tenth), three clustered Alertmanagers sending every
notification to both healer replicas, which share one PostgreSQL store. Every host
is in HEALER_DOCKER_HOSTS. Restarts are counted from each daemon's events, recorded
live.

1. `--per-host` managed containers on each host; `--burst` of them (spread evenly
   over the hosts) stopped at once. Until every one has an incident concluded:
   the time to the last restart and to the last verified heal, restarts issued
   (must equal the burst), duplicate restarts (must be 0), incidents, and the
   emails the replicas wrote (.eml files: one per incident, or digests of a burst,
   NOTIFY_DIGEST_THRESHOLD) and which incidents they cover.
2. The same with other containers, and replica 0 killed (SIGKILL) as soon as the
   burst's first incident is in the store: the incidents it held wait for their
   lease (20 s) to run out and are adopted by replica 1.
3. One host with `--big` managed containers and its exporter with the shipped
   intervals: scrape p50/p99 (steady, and while a container keeps changing) and
   the exporter's RSS (current and peak).

Why one file over 300 lines: the three measurements share the fleet and the report.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench.exporter_scrape import (
    Memory,
    fetch,
    memory_of,
    scrape_while_changing,
    summary,
    timed_scrape,
)
from testbed.containers import MANAGED, RUN_LABEL, SLEEP_CMD
from testbed.dockerhosts import SimulatedHost, simulated_hosts
from testbed.events import EventRecorder, recording
from testbed.fleet import HOSTS, SERVICE_CMD, Fleet, running_fleet
from testbed.processes import Service, free_port, python_module, start_service, wait_until
from testbed.scrape import parse_samples

# As shipped, except the stability window (10 s shipped): 2 s keeps a run short and
# changes only how long each verification waits, not what the healer does.
HEALER_SETTINGS = {"HEALER_WORKERS": "4", "HEALER_VERIFY_WINDOW_SECONDS": "2"}
SETTLE_SECONDS = 8.0  # after the last conclusion: room for a late duplicate restart or email
TARGET_SCRAPE_P99_MS = 50.0
TARGET_RSS_MB = 100.0


class TerminatedError(Exception):
    pass


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise TerminatedError(f"signal {signum}")


# -- the burst ------------------------------------------------------------------------


@dataclass
class Burst:
    label: str
    stopped: int
    first_incident_s: float = float("nan")
    last_restart_s: float = float("nan")
    last_verified_s: float = float("nan")
    restarts: int = 0
    duplicates: int = 0
    never_restarted: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    emails: int = 0
    covered: int = 0  # stopped containers named in at least one email
    mentioned_twice: int = 0  # named in more than one email
    note: str = ""


def _create(host: SimulatedHost, run: str, count: int, prefix: str) -> list[Any]:
    labels = {RUN_LABEL: run, **MANAGED}

    def one(n: int) -> Any:
        return host.client.containers.run(
            "itops-test/busybox:1",
            SERVICE_CMD,
            name=f"{prefix}-{n:03d}",
            labels=labels,
            network_mode="none",
            detach=True,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(one, range(count)))


@contextlib.contextmanager
def _events(fleet: Fleet) -> Iterator[dict[str, EventRecorder]]:
    with contextlib.ExitStack() as stack:
        yield {n: stack.enter_context(recording(h.client)) for n, h in fleet.hosts.items()}


def _epoch(text: str | None) -> float:
    return datetime.fromisoformat(text).timestamp() if text else float("nan")


def burst(
    fleet: Fleet, victims: Sequence[tuple[str, Any]], label: str, *, kill_replica: bool
) -> Burst:
    """Stop `victims` ((host, container) pairs) at once and measure until all concluded."""
    out = Burst(label, len(victims))
    names = {c.name for _, c in victims}
    # Quiet first: containers that sat in "created" for a moment while a loaded daemon
    # started them may have raised ContainerDown (their incidents end "skipped").
    wait_until(
        lambda: not fleet.stack.query('ALERTS{alertname="ContainerDown"}'),
        timeout=120,
        interval=0.5,
        what="no ContainerDown pending or firing before the burst",
    )
    emails_before = set(fleet.emails())
    with _events(fleet) as events:
        began = time.time()

        def burst_incidents() -> list[dict[str, Any]]:
            return [i for i in fleet.incidents(since=began) if i["container"] in names]

        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(lambda hc: hc[1].stop(timeout=5), victims))
        if kill_replica:
            wait_until(
                burst_incidents,
                timeout=60,
                interval=0.05,
                what="the burst's first incident",
            )
            fleet.healers[0].kill()
            out.note = f"replica-0 killed {time.time() - began:.1f} s after the stop"

        def concluded() -> list[dict[str, Any]] | None:
            mine = burst_incidents()
            done = [i for i in mine if i["stage"] == "done"]
            return mine if len({i["container"] for i in done}) == len(names) else None

        incidents = wait_until(concluded, timeout=240, interval=0.5, what="every incident")
        assert isinstance(incidents, list)
        wait_until(
            lambda: names <= _mentioned(fleet, emails_before, names)[0],
            timeout=60,
            interval=0.5,
            what="every incident in an email",
        )
        time.sleep(SETTLE_SECONDS)

    starts: list[int] = []
    last_start = 0.0
    for host, c in victims:
        mine = [e for e in events[host].events if e.get("id") == c.id and e["Action"] == "start"]
        starts.append(len(mine))
        last_start = max([last_start, *(e["timeNano"] / 1e9 for e in mine)])
    out.restarts = sum(starts)
    out.duplicates = sum(max(0, s - 1) for s in starts)
    out.never_restarted = sum(1 for s in starts if s == 0)
    out.last_restart_s = last_start - began
    out.first_incident_s = min(_epoch(i["opened_at"]) for i in incidents) - began
    out.last_verified_s = max(_epoch(i["closed_at"]) for i in incidents) - began
    for incident in incidents:
        out.statuses[incident["status"]] = out.statuses.get(incident["status"], 0) + 1
    covered, new_emails, twice = _mentioned(fleet, emails_before, names)
    out.covered, out.emails, out.mentioned_twice = len(covered), new_emails, twice
    return out


def _mentioned(fleet: Fleet, before: set[Path], names: set[str]) -> tuple[set[str], int, int]:
    """(names found in the new emails, how many new emails, names found in two or more)."""
    counts = dict.fromkeys(names, 0)
    new = [p for p in fleet.emails() if p not in before]
    for path in new:
        text = path.read_text(errors="replace")
        for name in names:
            counts[name] += name in text
    return {n for n, c in counts.items() if c}, len(new), sum(1 for c in counts.values() if c > 1)


# -- the exporter at scale ----------------------------------------------------------------


@dataclass
class Scale:
    containers: int
    create_s: float = 0.0
    sync_s: float = 0.0
    steady: list[float] = field(default_factory=list)
    changing: list[float] = field(default_factory=list)
    body_bytes: int = 0
    memory: Memory | None = None


def exporter_at_scale(count: int, scrapes: int, workdir: Path) -> Scale:
    out = Scale(count)
    with simulated_hosts(["docker-big"]) as hosts:
        host = hosts["docker-big"]
        began = time.monotonic()
        labels = {RUN_LABEL: "bench", **MANAGED}
        with ThreadPoolExecutor(max_workers=8) as pool:
            made = list(
                pool.map(
                    lambda n: host.client.containers.run(
                        "itops-test/busybox:1",
                        SLEEP_CMD,
                        name=f"big-{n:04d}",
                        labels=labels,
                        network_mode="none",
                        detach=True,
                    ),
                    range(count),
                )
            )
        out.create_s = time.monotonic() - began
        print(f"  {count} containers on one host in {out.create_s:.0f} s", flush=True)
        port = free_port()
        # The shipped intervals: stats every 15 s, a full resync every 60 s.
        exporter: Service = start_service(
            "exporter-big",
            python_module("exporter", "--listen", f"127.0.0.1:{port}"),
            port=port,
            log_dir=workdir,
            ready_url=f"http://127.0.0.1:{port}/healthz",
            env={"DOCKER_HOST": host.docker_host, "MANAGED_LABEL": "environment=production"},
        )
        try:
            began = time.monotonic()
            wait_until(lambda: _managed(fetch(port)) >= count, timeout=120, what="every container")
            out.sync_s = time.monotonic() - began
            time.sleep(20)  # into the first stats round, so bodies are full size
            for _ in range(5):
                fetch(port)
            for _ in range(scrapes):
                elapsed, body = timed_scrape(port)
                out.steady.append(elapsed)
                time.sleep(0.05)
            out.body_bytes = len(body)
            toggled = made[-1]

            def toggle() -> None:
                toggled.kill()
                toggled.start()

            out.changing = scrape_while_changing(port, scrapes, toggle).seconds
            out.memory = memory_of(exporter.proc.pid)
        finally:
            exporter.stop()
    return out


def _managed(body: bytes) -> float:
    samples = parse_samples(body.decode())
    return samples.get(("docker_exporter_managed_containers", frozenset()), 0.0)


# -- the report -----------------------------------------------------------------------------


def report(args: argparse.Namespace, startup: float, bursts: list[Burst], scale: Scale) -> None:
    hosts = len(HOSTS)
    print()
    print(
        f"Fleet benchmark: {hosts} hosts x {args.per_host} managed containers, "
        f"{args.burst} stopped at once; fleet started in {startup:.1f} s"
    )
    print(
        "  (fast alert profile; healer: 2 replicas on PostgreSQL, "
        f"{HEALER_SETTINGS['HEALER_WORKERS']} workers each, "
        f"{HEALER_SETTINGS['HEALER_VERIFY_WINDOW_SECONDS']} s stability window)"
    )
    print()
    cols = ("", *(b.label for b in bursts))
    rows: list[tuple[str, ...]] = [
        ("stopped at once", *(str(b.stopped) for b in bursts)),
        ("first incident opened (s)", *(f"{b.first_incident_s:.1f}" for b in bursts)),
        ("last restart issued (s)", *(f"{b.last_restart_s:.1f}" for b in bursts)),
        ("all verified running (s)", *(f"{b.last_verified_s:.1f}" for b in bursts)),
        ("restarts issued", *(f"{b.restarts} {_ok(b.restarts == b.stopped)}" for b in bursts)),
        ("duplicate restarts", *(f"{b.duplicates} {_ok(b.duplicates == 0)}" for b in bursts)),
        ("never restarted", *(str(b.never_restarted) for b in bursts)),
        ("incidents", *(_statuses(b) for b in bursts)),
        ("emails (.eml)", *(str(b.emails) for b in bursts)),
        ("incidents named in an email", *(f"{b.covered}/{b.stopped}" for b in bursts)),
        ("incidents named in 2+ emails", *(str(b.mentioned_twice) for b in bursts)),
    ]
    width = [max(len(r[i]) for r in (cols, *rows)) for i in range(len(cols))]
    for line in (cols, *rows):
        print("  " + "  ".join(cell.ljust(width[i]) for i, cell in enumerate(line)))
    for b in bursts:
        if b.note:
            print(f"  {b.label}: {b.note}")
    print()
    steady, changing = summary(scale.steady), summary(scale.changing)
    peak = scale.memory.peak_mb if scale.memory else float("nan")
    rss = scale.memory.rss_mb if scale.memory else float("nan")
    print(
        f"Exporter at {scale.containers} containers on one host (shipped intervals; "
        f"{scale.body_bytes / 1024:.0f} KiB body; synced in {scale.sync_s:.1f} s)"
    )
    print(f"  {'':<34} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'n':>5}")
    for label, figures, n in (
        ("scrape, steady", steady, len(scale.steady)),
        ("scrape, a container toggling", changing, len(scale.changing)),
    ):
        p50, p99, _mean, worst = figures
        target = f"target p99 <= {TARGET_SCRAPE_P99_MS:.0f} ms {_ok(p99 <= TARGET_SCRAPE_P99_MS)}"
        print(f"  {label:<34} {p50:>8.2f} {p99:>8.2f} {worst:>8.2f} {n:>5}  {target}")
    print(
        f"  RSS {rss:.0f} MB, peak {peak:.0f} MB  "
        f"target <= {TARGET_RSS_MB:.0f} MB {_ok(peak <= TARGET_RSS_MB)}"
    )


def _ok(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def _statuses(b: Burst) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(b.statuses.items()))


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--per-host", type=int, default=50, help="containers per host (50)")
    parser.add_argument("--burst", type=int, default=30, help="stopped at once (30)")
    parser.add_argument("--big", type=int, default=500, help="containers, exporter part (500)")
    parser.add_argument("--scrapes", type=int, default=300, help="scrapes per figure (300)")
    args = parser.parse_args(argv)
    hosts = len(HOSTS)
    if args.burst % hosts or 2 * args.burst // hosts > args.per_host:
        parser.error(f"--burst must split evenly over {hosts} hosts, twice, within --per-host")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; returns the exit status."""
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        return run(args, workdir)
    except (KeyboardInterrupt, TerminatedError) as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}); cleaned up", file=sys.stderr)
        return 130
    finally:
        print(f"logs in {workdir}", file=sys.stderr)


def run(args: argparse.Namespace, workdir: Path) -> int:
    per_host_burst = args.burst // len(HOSTS)
    bursts: list[Burst] = []
    with running_fleet(
        workdir / "fleet", known_hosts=HOSTS, healer_settings=HEALER_SETTINGS
    ) as fleet:
        startup = fleet.startup_seconds
        print(f"fleet up in {startup:.1f} s; creating containers", flush=True)
        made: dict[str, list[Any]] = {}
        threads = {
            name: threading.Thread(
                target=lambda n=name, h=host: made.__setitem__(
                    n, _create(h, "bench", args.per_host, f"{n}-svc")
                )
            )
            for name, host in fleet.hosts.items()
        }
        for t in threads.values():
            t.start()
        for t in threads.values():
            t.join()
        wanted = len(HOSTS) * args.per_host
        wait_until(
            lambda: _running(fleet) >= wanted,
            timeout=120,
            interval=0.5,
            what="Prometheus to see every container running",
        )
        for n, (label, kill) in enumerate((("both replicas", False), ("replica killed", True))):
            victims = [
                (host, c)
                for host in HOSTS
                for c in made[host][n * per_host_burst : (n + 1) * per_host_burst]
            ]
            print(f"burst: {label}", flush=True)
            bursts.append(burst(fleet, victims, label, kill_replica=kill))
    print("exporter at scale", flush=True)
    scale = exporter_at_scale(args.big, args.scrapes, workdir)
    report(args, startup, bursts, scale)
    return 0


def _running(fleet: Fleet) -> int:
    result = fleet.stack.query('count(docker_container_state{state="running"} == 1)')
    return int(float(result[0]["value"][1])) if result else 0


if __name__ == "__main__":
    sys.exit(main())
