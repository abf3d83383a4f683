"""Slow, silent and oversized clients against the real server, on real sockets.

Timing targets live in `bench/slow_clients.py`; the bounds here are generous
on purpose (under gunicorn's gthread worker, 8 such clients made a webhook
wait 15 s and `/healthz` 40 s).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
import requests

from fleet.wsgi_server import DeadlineServer, Limits
from healer.serve import LIMITS, make_server
from testbed.alerts import firing, payload
from testbed.healer_proc import TOKEN, healer_env, start_healer
from testbed.processes import Service, free_port
from tests.healer.conftest import HealerFactory

AUTH = {"Authorization": f"Bearer {TOKEN}"}
GENEROUS_S = 5.0


@pytest.fixture(scope="module")
def healer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("slow-clients")
    service = start_healer(healer_env(tmp / "data", HEALER_MODE="check"), tmp)
    yield service
    service.stop()


def connect(port: int, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=GENEROUS_S)
    sock.sendall(first_bytes)
    return sock


SLOW_HEADER = b"POST /webhook/alertmanager HTTP/1.1\r\nHost: healer\r\nX-Never-Ends: a"
SLOW_BODY = (
    "POST /webhook/alertmanager HTTP/1.1\r\nHost: healer\r\nContent-Type: application/json\r\n"
    f"Content-Length: 4096\r\nAuthorization: Bearer {TOKEN}\r\n\r\n{{"
).encode()


def test_a_valid_webhook_and_healthz_are_answered_while_32_slow_clients_hold_connections(
    healer: Service,
) -> None:
    slow = [connect(healer.port, SLOW_HEADER) for _ in range(16)]
    slow += [connect(healer.port, SLOW_BODY) for _ in range(16)]
    try:
        time.sleep(0.5)  # let the server accept them all and start reading
        body = json.dumps(payload(firing("slow-clients-victim", fingerprint="fp-slow-1")))
        answer = requests.post(
            f"{healer.url}/webhook/alertmanager", data=body, headers=AUTH, timeout=GENEROUS_S
        )
        assert answer.status_code == 200, answer.text
        [created] = answer.json()["created"]
        listed = requests.get(f"{healer.url}/api/incidents", timeout=GENEROUS_S).json()
        assert created in [i["id"] for i in listed["incidents"]]
        assert requests.get(f"{healer.url}/healthz", timeout=GENEROUS_S).status_code == 200
    finally:
        for sock in slow:
            sock.close()


def test_a_body_over_the_cap_is_refused_with_413_and_a_json_reason_before_it_is_sent(
    healer: Service,
) -> None:
    # Only the headers go out: the server answers from Content-Length alone.
    sock = connect(
        healer.port,
        b"POST /webhook/alertmanager HTTP/1.1\r\nHost: healer\r\n"
        b"Content-Length: 1073741824\r\n\r\n",
    )
    with sock:
        head, _, body = receive_all(sock).partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"413"
    assert json.loads(body) == {"error": "body larger than HEALER_MAX_BODY_BYTES=1048576"}


def test_headers_over_the_cap_are_refused_with_431_and_a_json_reason(healer: Service) -> None:
    # Exactly the cap, so the server has read every byte when it answers (no reset on close).
    start = b"GET /healthz HTTP/1.1\r\nHost: healer\r\nX-Padding: "
    sock = connect(healer.port, start + b"a" * (LIMITS.header_bytes - len(start)))
    with sock:
        head, _, body = receive_all(sock).partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"431"
    assert "headers larger than" in json.loads(body)["error"]


def receive_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_silent_connection_is_disconnected_at_the_idle_timeout(healer: Service) -> None:
    with socket.create_connection(("127.0.0.1", healer.port), timeout=GENEROUS_S) as sock:
        opened = time.monotonic()
        assert closed_by_server(sock, trickle=False, within=LIMITS.idle_timeout_s + 10)
    assert time.monotonic() - opened >= LIMITS.idle_timeout_s - 0.5  # not before it


# The production request deadline is 10 s; a shorter one keeps the test quick.
SHORT = replace(LIMITS, idle_timeout_s=3, request_deadline_s=1.0)


@contextmanager
def serving(make_healer: HealerFactory, limits: Limits = SHORT) -> Iterator[DeadlineServer]:
    """The real healer app under the real server in this process, with SHORT timeouts."""
    healer = make_healer(HEALER_LISTEN=f"127.0.0.1:{free_port()}")
    server = make_server(healer.config, healer.app, limits)
    loop = threading.Thread(target=server.serve_forever, daemon=True)
    loop.start()
    try:
        yield server
    finally:
        # The product's own stop: the loop ends, then its sockets are closed here, with
        # no thread left polling them.
        server.shutdown()
        loop.join(GENEROUS_S)
        assert not loop.is_alive(), "the server's loop did not stop"
        server.server_close()


def closed_by_server(sock: socket.socket, *, trickle: bool, within: float) -> bool:
    sock.settimeout(0.3)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if trickle:
                sock.send(b"a")
            if sock.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset, or a send after the server closed
            return True
    return False


def test_a_client_that_trickles_its_headers_is_disconnected_at_the_request_deadline(
    make_healer: HealerFactory,
) -> None:
    with serving(make_healer) as server:
        # One byte every 0.3 s keeps it under the 3 s idle timeout: only the deadline can end it.
        with connect(server.port, SLOW_HEADER) as sock:
            assert closed_by_server(sock, trickle=True, within=GENEROUS_S * 2)
        with connect(server.port, SLOW_BODY) as sock:
            assert closed_by_server(sock, trickle=True, within=GENEROUS_S * 2)
        answer = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=GENEROUS_S)
        assert answer.status_code == 200


def test_beyond_the_connection_cap_a_client_waits_until_a_slot_frees(
    make_healer: HealerFactory,
) -> None:
    with serving(make_healer, replace(SHORT, connections=4)) as server:
        silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
        try:
            time.sleep(0.3)  # accepted: the cap is reached, for the 3 s idle timeout
            late = connect(server.port, b"GET /healthz HTTP/1.1\r\nHost: healer\r\n\r\n")
            with late:
                late.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    late.recv(1024)  # not accepted yet: it waits in the listen queue
                late.settimeout(GENEROUS_S * 2)
                assert late.recv(1024).startswith(b"HTTP/1.1 200")  # once the silent ones go
        finally:
            for sock in silent:
                sock.close()
