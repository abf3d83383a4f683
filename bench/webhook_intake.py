"""Webhook intake throughput and latency of `healer serve` (prints figures; not a test).

    .venv/bin/python -m bench.webhook_intake [--alerts 5000] [--clients 8] [--per-request 1]

The real healer under gunicorn with its SQLite store, workers running (check
mode, no LLM: each alert becomes an incident that is processed while the load
goes on). Clients keep one HTTP/1.1 connection each and post Alertmanager v4
payloads with fresh fingerprints as fast as they are answered. Afterwards the
store is read directly: every alert answered 200 must be there ("nothing lost").
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
from pathlib import Path

from tests.healer.conftest import TOKEN, healer_env
from tests.support.healer_proc import start_healer


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-request", type=int, default=1, help="alerts per webhook call")
    parser.add_argument("--workers", default="4", help="HEALER_WORKERS (the default is 4)")
    args = parser.parse_args(argv)
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
        healer = start_healer(env, Path(tmp))
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
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
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
    rate = accepted / elapsed
    p50, p99 = statistics.median(latencies) * 1000, pct(latencies, 0.99) * 1000
    print(
        f"\nwebhook intake: {args.alerts} alerts in {len(calls)} calls "
        f"({args.per_request}/call), {args.clients} clients, workers running"
    )
    print(f"{'alerts/s':<28}{rate:>10.0f}")
    print(f"{'answer latency p50 (ms)':<28}{p50:>10.2f}")
    print(f"{'answer latency p99 (ms)':<28}{p99:>10.2f}")
    print(f"{'max (ms)':<28}{max(latencies) * 1000:>10.2f}")
    print(f"{'errors':<28}{len(errors):>10}")
    print(f"{'alerts in the store':<28}{stored:>10}  (accepted {accepted})")
    print(f"{'incidents / processed':<28}{incidents:>10} / {processed} by the end of the run")
    print("\nTargets:")
    for ok, text in (
        (rate >= 500, f"{rate:.0f} alerts/s ≥ 500"),
        (p99 <= 50, f"p99 {p99:.1f} ms ≤ 50 ms"),
        (stored == accepted and not errors, f"nothing lost ({stored}/{accepted})"),
    ):
        print(f"  {'PASS' if ok else 'MISS'}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
