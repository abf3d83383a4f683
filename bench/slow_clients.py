"""Slow and half-open clients against `healer serve` (prints figures; not a test).

    .venv/bin/python -m bench.slow_clients [--server both] [--seconds 20] [--slow 64]

For each server, one after the other on a fresh healer (check mode, workers
running): `healer serve` (waitress) and the gunicorn gthread baseline it
replaced (bench/gthread_healer.py). An attacker (a separate process) holds
`--slow` slow-header and `--slow` slow-body connections open for the whole
measurement, re-opening each one the server closes:

- slow header, trickling: a request line, then one header byte every 2 s;
- slow header, silent: connects and sends nothing (half-open);
- slow body, trickling: whole headers (Content-Length 4096), then one body
  byte every 2 s;
- slow body, silent: whole headers, no body.

Half of the slow-body connections carry the webhook token (a stalled peer
that has it), half do not (an attacker). While they are held, 4 clients post
valid webhooks, each pausing `--interval` (50 ms) between them (a new
connection each, like a first delivery; ~80/s, far more than Alertmanager),
and a probe asks `/healthz` every 0.2 s, for `--seconds`; a request not
answered within 30 s counts as unanswered. The healer's RSS (its whole
process tree) is sampled before and during. A first column runs the same
webhooks and probe with no slow clients: the machine's own noise. Target:
webhook p99 ≤ 100 ms.

Why one file over 300 lines: the attacker process, the measured clients and the
side-by-side table belong to one run.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import psutil

from bench.webhook_intake import SERVERS, body, pct
from healer.serve import LIMITS
from testbed.healer_proc import TOKEN, healer_env, start_healer

KINDS = ("header, trickling", "header, silent", "body, trickling", "body, silent")
TRICKLE_S = 2.0
BODY_LENGTH = 4096
ANSWER_TIMEOUT_S = 30.0
WEBHOOK_CLIENTS = 4


@dataclass
class Slow:
    kind: str
    sock: socket.socket
    opened: float
    next_byte: float
    answered: bool = False


@dataclass
class Attack:
    """What happened to the slow connections."""

    opened: Counter[str] = field(default_factory=Counter)
    closed_after: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    answers: dict[str, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    open_at_end: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    connect_errors: int = 0


def request_head(kind: str, n: int, body_prefix: int) -> bytes:
    if kind.startswith("header"):
        return b"POST /webhook/alertmanager HTTP/1.1\r\nHost: healer\r\nX-Slow: "
    auth = f"Authorization: Bearer {TOKEN}\r\n" if n % 2 else ""
    return (
        "POST /webhook/alertmanager HTTP/1.1\r\nHost: healer\r\n"
        f"Content-Type: application/json\r\nContent-Length: {body_prefix + BODY_LENGTH}\r\n"
        f"{auth}\r\n"
    ).encode() + b"[" * body_prefix


def attack(port: int, per_kind: int, body_prefix: int, pipe: Connection) -> None:
    """Runs in its own process (like an attacker on another host: not on the clients' GIL);
    holds the slow connections until told to stop over `pipe`, then sends back an Attack."""
    result = Attack()
    sel = selectors.DefaultSelector()

    def open_one(kind: str, n: int) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if not kind.endswith("silent") or kind.startswith("body"):
                sock.sendall(request_head(kind, n, body_prefix))
        except OSError:
            result.connect_errors += 1
            return
        sock.setblocking(False)
        now = time.monotonic()
        sel.register(sock, selectors.EVENT_READ, Slow(kind, sock, now, now + TRICKLE_S))
        result.opened[kind] += 1

    def closed(conn: Slow, now: float) -> None:
        sel.unregister(conn.sock)
        conn.sock.close()
        result.closed_after[conn.kind].append(now - conn.opened)
        open_one(conn.kind, result.opened[conn.kind])  # the attacker keeps its count up

    for kind in KINDS:
        for n in range(per_kind):
            open_one(kind, n)
    pipe.send("ready")
    while not pipe.poll():
        now = time.monotonic()
        for key, _ in sel.select(timeout=0.1):
            conn: Slow = key.data
            try:
                data = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed(conn, now)
            elif not conn.answered and data.startswith(b"HTTP/"):
                conn.answered = True  # keep holding it: the server chose to keep it open
                result.answers[conn.kind][data.split(b" ", 2)[1].decode()] += 1
        for key in list(sel.get_map().values()):
            conn = key.data
            if conn.kind.endswith("trickling") and conn.next_byte <= now:
                conn.next_byte = now + TRICKLE_S
                try:
                    conn.sock.send(b"a")
                except OSError:
                    closed(conn, now)
    now = time.monotonic()
    for key in list(sel.get_map().values()):
        conn = key.data
        result.open_at_end[conn.kind].append(now - conn.opened)
        conn.sock.close()
    sel.close()
    pipe.send(result)


@dataclass
class Answers:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    asked: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ask(self, port: int, method: str, path: str, data: bytes | None = None) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_TIMEOUT_S)
        start = time.perf_counter()
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            response.read()
            status = str(response.status)
        except TimeoutError:
            status = "unanswered"
        except (OSError, http.client.HTTPException) as exc:
            status = type(exc).__name__
        finally:
            conn.close()
        with self.lock:
            self.asked += 1
            self.statuses[status] += 1
            if status == "200":
                self.latencies.append(time.perf_counter() - start)


def tree_rss_mb(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return float(sum(p.memory_info().rss for p in procs)) / 1e6
    except psutil.Error:
        return 0.0


@dataclass
class Figures:
    webhooks: Answers
    healthz: Answers
    attack: Attack
    rss_before: float
    rss_peak: float


def measure(args: argparse.Namespace, command: tuple[str, ...], slow: int) -> Figures:
    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="itops-slow-") as tmp:
        env = healer_env(Path(tmp) / "data", HEALER_MODE="check", LOG_LEVEL="WARNING")
        healer = start_healer(env, Path(tmp), command=command)
        try:
            webhooks, healthz = Answers(), Answers()
            Answers().ask(healer.port, "POST", "/webhook/alertmanager", body(0, 1, "warm-up"))
            time.sleep(1.0)
            rss_before = tree_rss_mb(healer.proc.pid)
            stop_clients = threading.Event()
            ours, theirs = multiprocessing.Pipe()
            attacker = multiprocessing.get_context("fork").Process(
                target=attack, args=(healer.port, slow // 2, args.body_prefix, theirs)
            )
            attacker.start()
            assert ours.recv() == "ready"
            time.sleep(1.0)  # every slow connection is in the server's hands
            sent = iter(range(10**9))

            def post_webhooks() -> None:
                while not stop_clients.is_set():
                    data = body(next(sent), 1, run)
                    webhooks.ask(healer.port, "POST", "/webhook/alertmanager", data)
                    stop_clients.wait(args.interval)

            def probe_healthz() -> None:
                while not stop_clients.is_set():
                    healthz.ask(healer.port, "GET", "/healthz")
                    stop_clients.wait(0.2)

            clients = [threading.Thread(target=post_webhooks) for _ in range(WEBHOOK_CLIENTS)]
            clients.append(threading.Thread(target=probe_healthz))
            for t in clients:
                t.start()
            rss_peak = rss_before
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                rss_peak = max(rss_peak, tree_rss_mb(healer.proc.pid))
                time.sleep(0.25)
            stop_clients.set()
            for t in clients:  # a request in hand is answered or times out
                t.join()
            ours.send("stop")
            attacked: Attack = ours.recv()
            attacker.join()
        finally:
            healer.stop()
    return Figures(webhooks, healthz, attacked, rss_before, rss_peak)


def ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    return f"{(statistics.median(values) if q == 0.5 else pct(values, q)) * 1000:.1f}"


def seconds(values: list[float]) -> str:
    return f"{len(values)}, {statistics.median(values):.1f} s" if values else "0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=[*SERVERS, "both"], default="both")
    parser.add_argument("--seconds", type=float, default=20.0, help="webhooks sent for this long")
    parser.add_argument(
        "--interval", type=float, default=0.05, help="each webhook client's pause between posts"
    )
    parser.add_argument("--slow", type=int, default=64, help="slow-header and slow-body each")
    parser.add_argument(
        "--body-prefix",
        type=int,
        default=0,
        help="body bytes each slow-body client sends at once before trickling (memory bound)",
    )
    args = parser.parse_args(argv)
    servers = list(SERVERS) if args.server == "both" else [args.server]
    # The control: the same webhooks and probe with no slow clients, so the table
    # shows what the slow clients add on top of this machine's own noise.
    control = f"{servers[0]}, no slow"
    results = {control: measure(args, SERVERS[servers[0]], 0)}
    results.update({name: measure(args, SERVERS[name], args.slow) for name in servers})
    names = list(results)

    print(
        f"\nslow clients: {args.slow} slow-header + {args.slow} slow-body connections held "
        f"(re-opened when closed; trickling ones send a byte every {TRICKLE_S:.0f} s"
        f"{f', slow bodies start with {args.body_prefix} bytes' if args.body_prefix else ''}); "
        f"{WEBHOOK_CLIENTS} webhook clients ({args.interval * 1000:.0f} ms pauses) and a "
        f"/healthz probe for {args.seconds:.0f} s"
    )
    print(f"{'':<44}" + "".join(f"{name:>20}" for name in names))

    def row(label: str, cell: Callable[[Figures], str]) -> None:
        print(f"{label:<44}" + "".join(f"{cell(results[n]):>20}" for n in names))

    def answered(a: Answers) -> str:
        return f"{a.statuses['200']}/{a.asked}"

    row("webhooks answered 200 / sent", lambda f: answered(f.webhooks))
    row(
        f"  unanswered within {ANSWER_TIMEOUT_S:.0f} s",
        lambda f: str(f.webhooks.statuses["unanswered"]),
    )
    row("  latency p50 (ms)", lambda f: ms(f.webhooks.latencies, 0.5))
    row("  latency p99 (ms)", lambda f: ms(f.webhooks.latencies, 0.99))
    row("  latency max (ms)", lambda f: ms(f.webhooks.latencies, 1.0))
    row("/healthz answered 200 / asked", lambda f: answered(f.healthz))
    row("  latency p50 (ms)", lambda f: ms(f.healthz.latencies, 0.5))
    row("  latency max (ms)", lambda f: ms(f.healthz.latencies, 1.0))
    row("healer RSS before (MB)", lambda f: f"{f.rss_before:.0f}")
    row("healer RSS peak during (MB)", lambda f: f"{f.rss_peak:.0f}")

    def per_kind(title: str, cell: Callable[[Attack, str], str]) -> None:
        print(title)
        for kind in KINDS:
            row(f"  {kind}", lambda f: cell(f.attack, kind))  # noqa: B023  # called at once

    per_kind(
        "slow connections closed by the server (count, median seconds after opening)",
        lambda a, k: seconds(a.closed_after[k]),
    )
    per_kind(
        "slow connections still open at the end (count, oldest)",
        lambda a, k: (
            f"{len(a.open_at_end[k])}, {max(a.open_at_end[k]):.0f} s" if a.open_at_end[k] else "0"
        ),
    )
    row(
        "slow connections answered before closing",
        lambda f: str(sum(sum(c.values()) for c in f.attack.answers.values())),
    )
    row("attacker connect errors", lambda f: str(f.attack.connect_errors))

    # What waitress may keep in memory per connection (healer/serve.py LIMITS).
    budget_mb = 2 * args.slow * (LIMITS.header_bytes + LIMITS.body_in_memory_bytes) / 1e6
    print("\nTargets:")
    for name in servers:
        f = results[name]
        p99 = pct(f.webhooks.latencies, 0.99) * 1000 if f.webhooks.latencies else float("inf")
        unanswered = f.webhooks.statuses["unanswered"]
        for ok, text in (
            (
                p99 <= 100 and not unanswered,
                f"webhook p99 {p99:.0f} ms ≤ 100 ms, every webhook answered"
                if f.webhooks.latencies
                else f"webhook p99 ≤ 100 ms: none answered, {unanswered} waited 30 s",
            ),
            (f.healthz.statuses["200"] == f.healthz.asked, "every /healthz answered"),
            (
                all(
                    not f.attack.open_at_end[k] or max(f.attack.open_at_end[k]) < 15 for k in KINDS
                ),
                "no slow connection older than 15 s",
            ),
            (
                f.rss_peak - f.rss_before <= budget_mb,
                f"RSS growth {f.rss_peak - f.rss_before:.0f} MB ≤ {budget_mb:.0f} MB "
                "(the per-connection memory caps × connections)",
            ),
        ):
            print(f"  {'PASS' if ok else 'MISS'}  {name}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
