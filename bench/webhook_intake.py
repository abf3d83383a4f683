"""Webhook intake throughput and latency of `healer serve` (prints figures; not a test).

    .venv/bin/python -m bench.webhook_intake [--alerts 5000] [--clients 8] [--server both]

The real healer (`healer serve`, waitress; and the gunicorn gthread baseline
it replaced, alternating, two runs each) with its SQLite store, workers
running (check mode, no LLM: each alert becomes an incident that is processed
while the load goes on). Clients keep one HTTP/1.1 connection each and post Alertmanager v4
payloads with fresh fingerprints as fast as they are answered. Afterwards the
store is read directly: every alert answered 200 must be there ("nothing lost").
The healer's CPU time per alert is printed too: unlike rates and latencies, it
hardly moves when other work shares the machine.
Targets on a 2-core machine: ≥ 500 alerts/s, p99 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from testbed.healer_proc import TOKEN, healer_env, start_healer


def alert(n: int, run: str) -> dict[str, object]:
    return {
        "status": "firing",
        "labels": {
            "alertname": "ContainerDown",
            "container": f"bench-{run}-{n}",
            "severity": "warning",
            "action": "restart",
        },
        "annotations": {"summary": "bench"},
        "startsAt": "2026-11-30T00:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": f"{run}-{n:08d}",
    }


def body(first: int, count: int, run: str) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "healer",
            "groupKey": "{}",
            "alerts": [alert(first + i, run) for i in range(count)],
        }
    ).encode()


def client(port: int, requests: list[bytes], latencies: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for payload in requests:
        start = time.perf_counter()
        try:
            conn.request("POST", "/webhook/alertmanager", body=payload, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            errors.append(repr(exc))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - start)
        if response.status != 200:
            errors.append(str(response.status))
    conn.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


SERVERS = {
    "waitress": ("healer", "serve"),  # what `python -m healer serve` runs
    "gthread": ("bench.gthread_healer",),  # the baseline: gunicorn, 1 gthread worker, 8 threads
}


@dataclass
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    stored: int
    accepted: int
    incidents: int
    processed: int
    cpu_ms: float  # the healer's CPU time per alert, intake and incident work together


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (gunicorn's worker)."""
    proc = psutil.Process(pid)
    times = [p.cpu_times() for p in (proc, *proc.children(recursive=True))]
    return float(sum(t.user + t.system for t in times))


def measure(args: argparse.Namespace, command: tuple[str, ...]) -> Figures:
    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="itops-intake-") as tmp:
        data = Path(tmp) / "data"
        env = healer_env(
            data,
            HEALER_MODE="check",
            LOG_LEVEL="WARNING",
            NOTIFY_GROUP_WAIT_SECONDS="5",
            HEALER_WORKERS=args.workers,
        )
        healer = start_healer(env, Path(tmp), command=command)
        try:
            calls = [
                body(i, args.per_request, run) for i in range(0, args.alerts, args.per_request)
            ]
            shares = [calls[i :: args.clients] for i in range(args.clients)]
            latencies: list[float] = []
            errors: list[str] = []
            threads = [
                threading.Thread(target=client, args=(healer.port, share, latencies, errors))
                for share in shares
            ]
            # Warm up the connection pool and the app before the clock starts.
            client(healer.port, [body(0, 1, "warm-up")], [], [])
            cpu_before = cpu_seconds(healer.proc.pid)
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(healer.proc.pid) - cpu_before
        finally:
            healer.stop()
        db = sqlite3.connect(data / "healer.db")
        stored = db.execute(
            "SELECT COUNT(*) FROM alert_keys WHERE fingerprint LIKE ?", (f"{run}-%",)
        ).fetchone()[0]
        incidents = db.execute("SELECT COUNT(*) FROM incidents").fetchone()[0] - 1
        processed = (
            db.execute("SELECT COUNT(*) FROM incidents WHERE stage = 'done'").fetchone()[0] - 1
        )
        db.close()
    accepted = args.alerts - len(errors) * args.per_request
    return Figures(
        rate=accepted / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=pct(latencies, 0.99) * 1000,
        max_ms=max(latencies) * 1000,
        errors=len(errors),
        stored=stored,
        accepted=accepted,
        incidents=incidents,
        processed=processed,
        cpu_ms=cpu / args.alerts * 1000,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-request", type=int, default=1, help="alerts per webhook call")
    parser.add_argument("--workers", default="4", help="HEALER_WORKERS (the default is 4)")
    parser.add_argument(
        "--server",
        choices=[*SERVERS, "both"],
        default="both",
        help="waitress is `healer serve`; gthread the gunicorn baseline (default: both)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per server")
    args = parser.parse_args(argv)
    names = list(SERVERS) if args.server == "both" else [args.server]
    # Alternate the servers so a noisy neighbour on the machine hits both alike.
    results: dict[str, list[Figures]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            results[name].append(measure(args, SERVERS[name]))
    print(
        f"\nwebhook intake: {args.alerts} alerts per run ({args.per_request}/call), "
        f"{args.clients} clients, workers running, {args.rounds} alternating runs per server"
    )
    width = 12 * args.rounds  # one cell per run, the widest being "5000/5000"
    print(f"{'':<28}" + "".join(f"{name:>{width}}" for name in names))

    def row(label: str, cell: Callable[[Figures], str]) -> None:
        cells = (" ".join(f"{cell(f):>11}" for f in results[name]) for name in names)
        print(f"{label:<28}" + "".join(f"{c:>{width}}" for c in cells))

    row("alerts/s", lambda f: f"{f.rate:.0f}")
    row("answer latency p50 (ms)", lambda f: f"{f.p50_ms:.1f}")
    row("answer latency p99 (ms)", lambda f: f"{f.p99_ms:.1f}")
    row("max (ms)", lambda f: f"{f.max_ms:.0f}")
    row("healer CPU per alert (ms)", lambda f: f"{f.cpu_ms:.2f}")
    row("errors", lambda f: str(f.errors))
    row("alerts in the store", lambda f: f"{f.stored}/{f.accepted}")
    row("incidents processed", lambda f: f"{f.processed}/{f.incidents}")
    print("\nTargets (every run):")
    for name in names:
        runs = results[name]
        rate, p99 = min(f.rate for f in runs), max(f.p99_ms for f in runs)
        for ok, text in (
            (rate >= 500, f"{rate:.0f} alerts/s ≥ 500"),
            (p99 <= 50, f"p99 {p99:.1f} ms ≤ 50 ms"),
            (
                all(f.stored == f.accepted and not f.errors for f in runs),
                "nothing lost",
            ),
        ):
            print(f"  {'PASS' if ok else 'MISS'}  {name}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
