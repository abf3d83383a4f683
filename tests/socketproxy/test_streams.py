"""Long-lived allowed streams survive idle hours; a request head still must arrive in 10 s.

The exporter follows GET /events for hours and the daemon sends nothing while a
host is quiet. With HAProxy 2.6 what cuts an idle response is `timeout server`
(the client timeout does not run while a client waits for response bytes; the
tunnel timeout never applies, as there is no upgrade and no keep-alive). The
shipped config keeps `timeout server 10m` for ordinary calls and raises it to
24 h for events and logs. A test cannot wait a day, so: the shipped values are
asserted as configured, the mechanism is shown with the default shortened to
2 s (a stream idles past it, and is cut without the stream rule), and the
shipped config keeps an idle stream open past every short timeout it has.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from testbed.containers import RUN_LABEL, ContainerFactory
from tests.socketproxy.haproxy import CONFIG, Proxy, edited_config, running_proxy, status_of

STREAM_RULE = "    http-request set-timeout server 24h if stream_call\n"


@contextmanager
def events_stream(port: int, run_id: str) -> Iterator[socket.socket]:
    """A raw GET /events for this run's containers, its response head already read."""
    query = quote(json.dumps({"label": [f"{RUN_LABEL}={run_id}"]}))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET /v1.41/events?filters={query} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert status_of(head) == 200, head
        yield sock


def idles_open(sock: socket.socket, seconds: float) -> bool:
    """True when nothing at all (not even a close) arrives for `seconds`."""
    readable, _, _ = select.select([sock], [], [], seconds)
    return not readable


def delivers_create(sock: socket.socket, timeout: float = 10.0) -> bool:
    sock.settimeout(timeout)
    data = b""
    while b'"Action":"create"' not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    return True


def test_the_shipped_timeouts_keep_streams_a_day_ordinary_calls_ten_minutes_heads_ten_seconds() -> (
    None
):
    lines = {line.strip() for line in CONFIG.read_text().splitlines()}
    assert {
        "timeout http-request 10s",
        "timeout connect 5s",
        "timeout client 1m",
        "timeout server 10m",
        STREAM_RULE.strip(),
        "option httpclose",
    } <= lines
    assert not any(line.startswith("timeout tunnel") for line in lines)


def test_an_idle_events_stream_outlives_the_server_timeout_through_the_stream_rule(
    tmp_path: Path, container_factory: ContainerFactory
) -> None:
    config = edited_config(tmp_path, {"timeout server 10m": "timeout server 2s"})
    with (
        running_proxy(tmp_path, config=config) as proxy,
        events_stream(proxy.exporter, container_factory.run_id) as stream,
    ):
        assert idles_open(stream, 5.0)
        container_factory.run(start=False)
        assert delivers_create(stream)


def test_without_the_stream_rule_the_same_idle_stream_is_cut_by_the_server_timeout(
    tmp_path: Path, container_factory: ContainerFactory
) -> None:
    config = edited_config(tmp_path, {"timeout server 10m": "timeout server 2s", STREAM_RULE: ""})
    with (
        running_proxy(tmp_path, config=config) as proxy,
        events_stream(proxy.exporter, container_factory.run_id) as stream,
    ):
        started = time.monotonic()
        assert not idles_open(stream, 10.0)
        assert stream.recv(65536) == b""
        assert 1.5 < time.monotonic() - started < 6


def test_an_idle_events_stream_through_the_shipped_config_outlasts_its_short_timeouts(
    proxy: Proxy, container_factory: ContainerFactory
) -> None:
    with events_stream(proxy.exporter, container_factory.run_id) as stream:
        # Past `timeout http-request 10s` and `timeout connect 5s`.
        assert idles_open(stream, 12.0)
        container_factory.run(start=False)
        assert delivers_create(stream)


def test_a_request_head_that_is_not_complete_within_ten_seconds_gets_408(proxy: Proxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.exporter), timeout=20) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\n")
        answer = sock.recv(65536)
        waited = time.monotonic() - started
    assert status_of(answer) == 408
    assert 9.5 < waited < 13
