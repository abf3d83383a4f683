"""Ordinary traffic: what a healthy service prints between incidents, for the corpus cases.

(Long because it is a catalogue: one small generator per kind of service.)

A case says `noise: {kind, lines}`; that many lines of the kind's ordinary
output (access logs, checkpoints, request logs, supervisor chatter, ...) go
before its own lines, generated deterministically from the case name. Real
traffic carries the words a careless classifier trips on — "error" in a URL,
a WARN about a retried call, a client's failed login in a database's log — so
the noise is part of what the corpus tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

# The noise of every case ends just before the incident, at the same instant.
DEFAULT_NOISE_END = datetime(2025, 3, 12, 10, 14, 0, tzinfo=UTC)

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


def _path(rng: random.Random) -> tuple[str, int]:
    return rng.choice(
        [
            (f"/api/orders/{rng.randint(1000, 9999)}", 200),
            (f"/api/products?page={rng.randint(1, 40)}", 200),
            ("/healthz", 200),
            ("/static/css/site.4b1d.css", 304),
            ("/errors/404.html", 200),
            ("/wp-login.php", 404),
        ]
    )


def _apache(rng: random.Random, ts: datetime) -> Iterator[str]:
    if rng.random() < 0.05:
        yield (
            f"[{ts:%a %b %d %H:%M:%S}.{ts.microsecond:06d} {ts:%Y}] [authz_core:error] "
            f"[pid {rng.randint(20, 90)}] [client {rng.choice(_IPS)}:{rng.randint(30000, 60000)}] "
            "AH01630: client denied by server configuration: /usr/local/apache2/htdocs/.env"
        )
        return
    path, status = _path(rng)
    yield (
        f'{rng.choice(_IPS)} - - [{ts:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" {status} '
        f"{rng.randint(120, 40000) if status == 200 else 0}"
    )


def _haproxy(rng: random.Random, ts: datetime) -> Iterator[str]:
    path, status = _path(rng)
    port = rng.randint(30000, 60000)
    yield (
        f"{rng.choice(_IPS)}:{port} [{ts:%d/%b/%Y:%H:%M:%S}.{ts.microsecond // 1000:03d}] "
        f"http-in app/app{rng.randint(1, 3)} 0/0/1/{rng.randint(2, 90)}/{rng.randint(3, 95)} "
        f'{status} {rng.randint(200, 9000)} - - ---- 3/3/0/0/0 0/0 "GET {path} HTTP/1.1"'
    )


def _mysql(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond:06d}Z"
    if rng.random() < 0.7:
        yield (
            f"{stamp} {rng.randint(8, 90)} [Warning] [MY-010055] [Server] IP address "
            f"'{rng.choice(_IPS)}' could not be resolved: Name or service not known"
        )
    else:
        yield (
            f"{stamp} {rng.randint(8, 90)} [Note] [MY-010914] [Server] Aborted connection "
            f"{rng.randint(100, 9000)} to db: 'shop' user: 'app' host: '{rng.choice(_IPS)}' "
            "(Got an error reading communication packets)."
        )


def _mongodb(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}+00:00"
    conn = rng.randint(10, 9000)
    if rng.random() < 0.5:
        yield (
            f'{{"t":{{"$date":"{stamp}"}},"s":"I",  "c":"NETWORK",  "id":22943,   '
            f'"ctx":"listener","msg":"Connection accepted","attr":{{"remote":"{rng.choice(_IPS)}'
            f':{rng.randint(30000, 60000)}","connectionId":{conn},"connectionCount":12}}}}'
        )
    else:
        yield (
            f'{{"t":{{"$date":"{stamp}"}},"s":"I",  "c":"NETWORK",  "id":22944,   '
            f'"ctx":"conn{conn}","msg":"Connection ended","attr":{{"remote":"'
            f'{rng.choice(_IPS)}:{rng.randint(30000, 60000)}","connectionId":{conn},'
            '"connectionCount":11}}'
        )


def _rabbitmq(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%d %H:%M:%S}.{ts.microsecond:06d}+00:00"
    pid = f"<0.{rng.randint(600, 9000)}.0>"
    peer = f"{rng.choice(_IPS)}:{rng.randint(30000, 60000)}"
    if rng.random() < 0.5:
        yield f"{stamp} [info] {pid} accepting AMQP connection {peer} -> 172.18.0.5:5672"
    else:
        yield (
            f"{stamp} [info] {pid} closing AMQP connection {peer} -> 172.18.0.5:5672 "
            "(vhost: '/', user: 'orders')"
        )


def _kafka(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"[{ts:%Y-%m-%d %H:%M:%S},{ts.microsecond // 1000:03d}]"
    topic = rng.choice(("orders", "payments", "shipments"))
    if rng.random() < 0.6:
        yield (
            f"{stamp} INFO [LocalLog partition={topic}-{rng.randint(0, 5)}, "
            "dir=/var/lib/kafka/data] Rolled new log segment at offset "
            f"{rng.randint(1000, 900000)} in 2 ms. "
            "(kafka.log.LocalLog)"
        )
    else:
        yield (
            f"{stamp} INFO [GroupCoordinator 1]: Stabilized group {topic}-consumers generation "
            f"{rng.randint(1, 90)} (__consumer_offsets-{rng.randint(0, 49)}) with 2 members "
            "(kafka.coordinator.group.GroupCoordinator)"
        )


def _elasticsearch(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z"
    index = rng.choice(("orders-2025.03", "logs-app-2025.03.12", "products"))
    yield (
        f'{{"@timestamp":"{stamp}", "log.level": "INFO", "message":"[{index}] update_mapping '
        '[_doc]", "ecs.version": "1.2.0","service.name":"ES_ECS","event.dataset":'
        '"elasticsearch.server","process.thread.name":"elasticsearch[es01][masterService#updateTask]'
        '[T#1]","log.logger":"org.elasticsearch.cluster.metadata.MetadataMappingService"}'
    )


def _rails(rng: random.Random, ts: datetime) -> Iterator[str]:
    rid = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}"
    path, status = _path(rng)
    stamp = f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond:06d}"
    yield f'I, [{stamp} #1]  INFO -- : [{rid}] Started GET "{path}" for {rng.choice(_IPS)}'
    yield (
        f"I, [{stamp} #1]  INFO -- : [{rid}] Completed {status} OK in {rng.randint(3, 90)}ms "
        f"(Views: {rng.uniform(0.5, 20):.1f}ms | ActiveRecord: {rng.uniform(0.2, 9):.1f}ms)"
    )


def _php_fpm(rng: random.Random, ts: datetime) -> Iterator[str]:
    path, status = _path(rng)
    if rng.random() < 0.1:
        yield (
            f"[{ts:%d-%b-%Y %H:%M:%S}] WARNING: [pool www] server reached pm.max_children "
            "setting (5), consider raising it"
        )
        return
    yield f'{rng.choice(_IPS)} -  {ts:%d/%b/%Y:%H:%M:%S} +0000 "GET {path}" {status}'


def _dotnet(rng: random.Random, ts: datetime) -> Iterator[str]:
    path, status = _path(rng)
    yield "info: Microsoft.AspNetCore.Hosting.Diagnostics[2]"
    yield (
        f"      Request finished HTTP/1.1 GET http://orders-api{path} - {status} "
        f"{rng.randint(100, 9000)} application/json;+charset=utf-8 {rng.uniform(1, 90):.4f}ms"
    )


def _rust(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond:06d}Z"
    path, status = _path(rng)
    yield (
        f"{stamp}  INFO request{{method=GET uri={path} version=HTTP/1.1}}: "
        f"tower_http::trace::on_response: finished processing request latency="
        f"{rng.randint(1, 90)} ms status={status}"
    )


def _supervisord(rng: random.Random, ts: datetime) -> Iterator[str]:
    stamp = f"{ts:%Y-%m-%d %H:%M:%S},{ts.microsecond // 1000:03d}"
    path, status = _path(rng)
    if rng.random() < 0.15:
        yield f"{stamp} INFO reaped unknown pid {rng.randint(100, 9000)} (exit status 0)"
    else:
        yield (
            f'{rng.choice(_IPS)} - - [{ts:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" '
            f"{status} {rng.randint(100, 9000)}"
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
    "apache-access": _apache,
    "haproxy": _haproxy,
    "mysql": _mysql,
    "mongodb": _mongodb,
    "rabbitmq": _rabbitmq,
    "kafka": _kafka,
    "elasticsearch": _elasticsearch,
    "rails": _rails,
    "php-fpm": _php_fpm,
    "dotnet": _dotnet,
    "rust": _rust,
    "supervisord": _supervisord,
}
