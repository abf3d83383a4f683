"""The labelled diagnosis corpus: real-looking failure logs and the answer a human would give.

Each YAML file under `corpus/` holds a list of cases. A case gives the
container facts (state, exit code, OOMKilled, restart count, health status,
Docker's State.Error), the log lines as the program prints them, the
health-check output, and the expected `category` and `restart_safe` (and,
optionally, the signature that should decide). `noise: {kind, lines}`
prepends that many lines of ordinary traffic of that kind (nginx access logs,
PostgreSQL checkpoints, ...), generated deterministically from the case name,
so every case carries the 100-200 lines an incident usually does without the
files repeating them. Logs go through `healer.redact` as the healer's
evidence step does, so the classifier sees what it sees in production.

`load_corpus()` is shared by the classifier tests, the LLM tests and
`bench/diagnosis.py`; `make_evidence()` builds one-off evidence for focused
tests.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from fleet.facts import ContainerFacts
from healer.model import Category, Evidence
from healer.redact import redact_lines

CORPUS_DIR = Path(__file__).with_name("corpus_data")
DEFAULT_NOISE_END = datetime(2025, 3, 12, 10, 14, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """One labelled incident: the evidence the healer would collect and the expected diagnosis."""

    name: str
    file: str
    about: str
    evidence: Evidence
    category: Category
    restart_safe: bool
    signature: str | None = None


def load_corpus(directory: Path = CORPUS_DIR) -> list[Case]:
    """Every case of every `*.yaml` file in `directory`, in file then list order."""
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(entries, list):
            raise ValueError(f"{path.name}: expected a list of cases")
        cases.extend(_case(entry, path.name) for entry in entries)
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate case names: {duplicates}")
    return cases


def container_facts(name: str = "prod-app-01", **overrides: Any) -> ContainerFacts:
    """Facts of an exited, managed container; keyword arguments override any field."""
    values: dict[str, Any] = {
        "id": hashlib.sha256(name.encode()).hexdigest(),
        "name": name,
        "image": "shop/app:2.14.0",
        "labels": {"environment": "production"},
        "state": "exited",
        "exit_code": 1,
        "oom_killed": False,
        "error": "",
        "started_at": None,
        "finished_at": None,
        "restart_count": 0,
        "health_status": "none",
        "failing_streak": 0,
    }
    values.update(overrides)
    return ContainerFacts(**values)


def make_evidence(
    logs: str | Sequence[str] = "",
    *,
    health: Sequence[str] = (),
    missing: bool = False,
    name: str = "prod-app-01",
    **facts: Any,
) -> Evidence:
    """Evidence for one container: `logs` as a block or lines, facts from `container_facts`."""
    lines = _lines(logs) if isinstance(logs, str) else list(logs)
    return Evidence(
        container=name,
        facts=None if missing else container_facts(name, **facts),
        log_lines=tuple(lines),
        health_output=tuple(health),
    )


def case_named(name: str, directory: Path = CORPUS_DIR) -> Case:
    for case in load_corpus(directory):
        if case.name == name:
            return case
    raise KeyError(name)


def _case(raw: Mapping[str, Any], file: str) -> Case:
    name = str(raw["name"])
    expect = raw["expect"]
    container = str(raw.get("container", "prod-app-01"))
    logs = _lines(raw.get("logs", ""))
    noise = raw.get("noise")
    if noise:
        end = raw.get("noise_until", DEFAULT_NOISE_END)
        if isinstance(end, str):
            end = datetime.fromisoformat(end.replace("Z", "+00:00"))
        logs = [*generate_noise(str(noise["kind"]), int(noise["lines"]), name, end), *logs]
    facts = None
    if not raw.get("missing", False):
        facts = container_facts(
            container,
            image=str(raw.get("image", "")),
            state=str(raw.get("state", "exited")),
            exit_code=int(raw.get("exit_code", 0)),
            oom_killed=bool(raw.get("oom_killed", False)),
            error=str(raw.get("error", "")),
            restart_count=int(raw.get("restart_count", 0)),
            health_status=str(raw.get("health", "none")),
            failing_streak=3 if raw.get("health") == "unhealthy" else 0,
        )
    evidence = Evidence(
        container=container,
        facts=facts,
        log_lines=redact_lines(logs),
        health_output=redact_lines([str(x) for x in raw.get("health_output", [])]),
    )
    return Case(
        name=name,
        file=file,
        about=" ".join(str(raw.get("about", "")).split()),
        evidence=evidence,
        category=Category(expect["category"]),
        restart_safe=bool(expect["restart_safe"]),
        signature=expect.get("signature"),
    )


def _lines(block: str) -> list[str]:
    lines = str(block).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


# -- noise: what a healthy service prints between incidents ------------------

_IPS = ("172.18.0.1", "172.18.0.6", "10.0.4.21", "10.0.4.37", "192.168.10.14")
_BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
)
_AGENTS = (_BROWSER, "curl/8.5.0", "Prometheus/2.42.0", "python-requests/2.31.0")
_SLOW_QUERY = "SELECT * FROM carts WHERE id = $1"


def generate_noise(kind: str, count: int, seed: str, end: datetime) -> list[str]:
    """`count` ordinary lines of `kind`, ending just before `end`; the same for the same seed."""
    try:
        make = _NOISE[kind]
    except KeyError:
        raise ValueError(f"unknown noise kind {kind!r}; known: {sorted(_NOISE)}") from None
    rng = random.Random(f"{kind}:{seed}")
    times = []
    t = end
    for _ in range(count):
        t -= timedelta(seconds=rng.uniform(0.2, 4.0))
        times.append(t)
    lines: list[str] = []
    for ts in reversed(times):
        lines.extend(make(rng, ts))
    return lines[-count:]


def _ms(ts: datetime) -> str:
    return f"{ts:%H:%M:%S}.{ts.microsecond // 1000:03d}"


def _nginx(rng: random.Random, ts: datetime) -> Iterator[str]:
    ip = rng.choice(_IPS)
    roll = rng.random()
    if roll < 0.04:
        yield (
            f"{ts:%Y/%m/%d %H:%M:%S} [error] 29#29: *{rng.randint(100, 9999)} open() "
            '"/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), '
            f'client: {ip}, server: localhost, request: "GET /favicon.ico HTTP/1.1", '
            'host: "shop.example.com"'
        )
        return
    path, status = rng.choice(
        [
            (f"/api/orders/{rng.randint(1000, 9999)}", 200),
            (f"/api/products?page={rng.randint(1, 40)}", 200),
            ("/", 200),
            ("/static/js/app.3f9c2e1b.js", 304),
            ("/static/img/error-404.png", 200),
            ("/healthz", 200),
            (f"/api/cart/{rng.randint(1, 500)}", 200),
            ("/wp-login.php", 404),
        ]
    )
    agent = rng.choice(_AGENTS)
    size = rng.randint(120, 48000) if status == 200 else 0 if status == 304 else 153
    yield (
        f'{ip} - - [{ts:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" {status} {size} '
        f'"https://shop.example.com/" "{agent}" "-"'
    )


def _postgres(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%d} {_ms(ts)} UTC"
    roll = rng.random()
    if roll < 0.5:
        yield f"{stamp} [30] LOG:  checkpoint starting: time"
        buffers = rng.randint(2, 900)
        yield (
            f"{stamp} [30] LOG:  checkpoint complete: wrote {buffers} buffers "
            f"({buffers / 163.84:.1f}%); 0 WAL file(s) added, 0 removed, {rng.randint(0, 2)} "
            f"recycled; write={rng.uniform(0.001, 26.9):.3f} s, sync=0.002 s, "
            f"total={rng.uniform(0.01, 27.0):.3f} s; sync files={rng.randint(1, 40)}, "
            "longest=0.001 s, average=0.001 s; "
            f"distance={rng.randint(8, 9000)} kB, estimate={rng.randint(100, 9000)} kB; "
            f"lsn=0/{rng.randint(0x1000000, 0x9FFFFFF):X}, "
            f"redo lsn=0/{rng.randint(0x1000000, 0x9FFFFFF):X}"
        )
    elif roll < 0.8:
        n = rng.randint(1, 5000)
        pid = rng.randint(100, 999)
        yield (
            f"{stamp} [{pid}] ERROR:  duplicate key value violates unique constraint "
            '"customers_email_key"'
        )
        yield f"{stamp} [{pid}] DETAIL:  Key (email)=(customer{n}@example.com) already exists."
        statement = "INSERT INTO customers (email, name) VALUES ($1, $2)"
        yield f"{stamp} [{pid}] STATEMENT:  {statement}"
    else:
        yield (
            f"{stamp} [{rng.randint(100, 999)}] LOG:  automatic vacuum of table "
            '"shop.public.orders": index scans: 1, '
            f"pages: 0 removed, {rng.randint(100, 900)} remain, "
            f"tuples: {rng.randint(10, 900)} removed, {rng.randint(10000, 90000)} remain"
        )


def _redis(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%d %b %Y} {_ms(ts)}"
    child = rng.randint(20, 9000)
    yield f"1:M {stamp} * 100 changes in 300 seconds. Saving..."
    yield f"1:M {stamp} * Background saving started by pid {child}"
    yield f"{child}:C {stamp} * DB saved on disk"
    yield f"{child}:C {stamp} * Fork CoW for RDB: current 1 MB, peak 1 MB, average 0 MB"
    yield f"1:M {stamp} * Background saving terminated with success"


def _gunicorn(rng: random.Random, ts: datetime) -> Iterator[str]:
    roll = rng.random()
    stamp = f"{ts:%Y-%m-%d %H:%M:%S},{ts.microsecond // 1000:03d}"
    if roll < 0.6:
        yield (
            f'{rng.choice(_IPS)} - - [{ts:%d/%b/%Y:%H:%M:%S} +0000] "GET /api/orders/'
            f'{rng.randint(1000, 9999)} HTTP/1.1" 200 {rng.randint(80, 4000)} "-" '
            f'"{rng.choice(_AGENTS)}"'
        )
    elif roll < 0.9:
        yield (
            f"{stamp} INFO app.orders: order {rng.randint(1000, 9999)} created for customer "
            f"{rng.randint(1, 900)}"
        )
    else:
        yield (
            f"{stamp} WARNING app.payments: transient error talking to payments API, "
            "retrying in 0.5s (attempt 1/3)"
        )
        yield f"{stamp} INFO app.payments: payment {rng.randint(1000, 9999)} captured after retry"


def _node(rng: random.Random, ts: datetime) -> Iterator[str]:
    millis = int(ts.timestamp() * 1000)
    if rng.random() < 0.9:
        yield (
            f'{{"level":30,"time":{millis},"pid":1,"hostname":"5f3c2a1b9d0e",'
            f'"req":{{"id":{rng.randint(1, 99999)},"method":"GET","url":"/api/cart/'
            f'{rng.randint(1, 900)}","remoteAddress":"::ffff:172.18.0.6"}},'
            f'"res":{{"statusCode":200}},"responseTime":{rng.uniform(1, 40):.1f},'
            '"msg":"request completed"}'
        )
    else:
        yield (
            f'{{"level":40,"time":{millis},"pid":1,"hostname":"5f3c2a1b9d0e",'
            f'"msg":"slow query: {rng.randint(500, 2000)}ms","query":"{_SLOW_QUERY}"}}'
        )


def _spring(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z"
    thread = f"nio-8080-exec-{rng.randint(1, 9)}"
    roll = rng.random()
    if roll < 0.8:
        yield (
            f"{stamp}  INFO 1 --- [{thread:>15}] c.e.orders.web.OrderController"
            f"           : GET /api/orders/{rng.randint(1000, 9999)} -> 200 "
            f"({rng.randint(2, 80)} ms)"
        )
    elif roll < 0.9:
        yield (
            f"{stamp}  WARN 1 --- [{thread:>15}] c.e.orders.web.OrderController"
            f"           : Order {rng.randint(1000, 9999)} not found"
        )
    else:
        yield (
            f"{stamp}  INFO 1 --- [   scheduling-1] c.e.orders.jobs.ReconcileJob"
            f"             : Reconciled {rng.randint(1, 90)} orders, 0 errors"
        )


def _go(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond:06d}Z"
    if rng.random() < 0.85:
        status = rng.choice((200, 200, 200, 404))
        yield (
            f'{{"time":"{stamp}","level":"INFO","msg":"request","method":"GET",'
            f'"path":"/api/items/{rng.randint(1, 999)}","status":{status},'
            f'"duration_ms":{rng.uniform(0.3, 9):.1f},'
            f'"remote":"172.18.0.6:{rng.randint(30000, 60000)}"}}'
        )
    else:
        key = f"item:{rng.randint(1, 999)}"
        yield f'{{"time":"{stamp}","level":"WARN","msg":"cache miss","key":"{key}"}}'


def _worker(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%d %H:%M:%S},{ts.microsecond // 1000:03d}"
    batch = rng.randint(1, 400)
    yield (
        f"{stamp} INFO worker: processed batch {batch} ({rng.randint(100, 5000)} rows) "
        f"in {rng.uniform(0.1, 3):.2f}s"
    )


_NOISE: dict[str, Callable[[random.Random, datetime], Iterator[str]]] = {
    "nginx-access": _nginx,
    "postgres": _postgres,
    "redis": _redis,
    "gunicorn": _gunicorn,
    "node": _node,
    "spring": _spring,
    "go": _go,
    "worker": _worker,
}
