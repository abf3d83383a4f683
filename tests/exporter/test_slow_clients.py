"""Slow or silent clients cannot starve the exporter's /metrics (same kind as the healer's).

The exporter used wsgiref with a thread per connection and no read timeout: every
client that never finished its request kept a thread forever. It now serves through
the same waitress server as the healer (fleet/wsgi_server.py).
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import requests

from exporter.server import LIMITS
from tests.exporter.conftest import RunningExporter

GENEROUS_S = 5.0


def test_metrics_answer_while_64_slow_clients_hold_connections(exporter: RunningExporter) -> None:
    port = urlsplit(exporter.url).port
    assert port is not None
    slow = []
    for n in range(64):
        sock = socket.create_connection(("127.0.0.1", port), timeout=GENEROUS_S)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " if n % 2 else b"G")
        slow.append(sock)
    try:
        time.sleep(0.3)
        answer = requests.get(exporter.url + "/metrics", timeout=GENEROUS_S)
        assert answer.status_code == 200
        assert b"docker_exporter_docker_up 1.0" in answer.content
    finally:
        for sock in slow:
            sock.close()


def test_a_client_that_never_finishes_its_request_is_disconnected(
    exporter: RunningExporter,
) -> None:
    port = urlsplit(exporter.url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=GENEROUS_S) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Trickle: ")
        opened = time.monotonic()
        sock.settimeout(1.0)
        closed = False
        while time.monotonic() - opened < LIMITS.request_deadline_s + 10:
            try:
                sock.sendall(b"a")
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed, "the server kept a trickling request open past its deadline"
        assert time.monotonic() - opened >= LIMITS.request_deadline_s - 1
