"""What the daemon receives is a request HAProxy rebuilt, not the bytes the client sent.

The real daemon cannot show the bytes it was sent, so here HAProxy forwards to a
recording stand-in: a unix socket that keeps what arrives and answers 204.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.socketproxy.haproxy import Proxy, exchange, running_proxy, status_of


class RecordingUpstream:
    """A unix socket standing in for the daemon: records each request, answers 204."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received: list[bytes] = []
        self._server = socket.socket(socket.AF_UNIX)
        self._server.bind(str(path))
        self._server.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            with conn:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                    data += chunk
                self.received.append(data)
                conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    def close(self) -> None:
        self._server.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, RecordingUpstream]]:
    directory = tmp_path_factory.mktemp("upstream")
    upstream = RecordingUpstream(directory / "docker.sock")
    try:
        with running_proxy(directory, upstream=str(upstream.path)) as proxy:
            yield proxy, upstream
    finally:
        upstream.close()


def forwarded(recorded: tuple[Proxy, RecordingUpstream], role: str, request: bytes) -> bytes:
    proxy, upstream = recorded
    before = len(upstream.received)
    assert status_of(exchange(proxy.port(role), request)) == 204
    assert len(upstream.received) == before + 1
    return upstream.received[-1]


def test_only_known_headers_reach_the_daemon_with_a_fixed_host_and_connection_close(
    recorded: tuple[Proxy, RecordingUpstream],
) -> None:
    sent = (
        b"POST /v1.41/containers/abc/restart?t=10 HTTP/1.1\r\nHost: evil.example\r\n"
        b"User-Agent: docker-sdk-python/7.1.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n"
        b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n"
        b"X-Registry-Auth: e30=\r\nX_Under_Score: 1\r\nCookie: a=b\r\nTE: trailers\r\n"
        b"Proxy-Authorization: Basic eA==\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"
    )
    assert forwarded(recorded, "healer", sent) == (
        b"POST /v1.41/containers/abc/restart?t=10 HTTP/1.1\r\n"
        b"user-agent: docker-sdk-python/7.1.0\r\naccept: */*\r\ncontent-length: 0\r\n"
        b"host: docker\r\nconnection: close\r\n\r\n"
    )


def test_a_bare_lf_ends_the_head_and_what_follows_is_never_forwarded(
    recorded: tuple[Proxy, RecordingUpstream],
) -> None:
    sent = (
        b"GET /v1.41/_ping HTTP/1.1\r\nHost: docker\r\nX-Note: a\n\n"
        b"POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\n\r\n"
    )
    assert forwarded(recorded, "exporter", sent) == (
        b"GET /v1.41/_ping HTTP/1.1\r\nhost: docker\r\nconnection: close\r\n\r\n"
    )


def test_a_folded_header_line_is_joined_and_then_dropped(
    recorded: tuple[Proxy, RecordingUpstream],
) -> None:
    sent = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Note: a\r\n POST /x HTTP/1.1\r\n\r\n"
    assert forwarded(recorded, "exporter", sent) == (
        b"GET /_ping HTTP/1.1\r\nhost: docker\r\nconnection: close\r\n\r\n"
    )
