"""The exporter's HTTP side: /metrics, /healthz and a small index page.

/metrics renders from the cache only. The rendered text is kept and reused
until the cache changes, so a burst of scrapes (several Prometheus servers,
a dashboard refresh) costs one render.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from exporter.cache import ContainerCache
from exporter.exposition import IncrementalRenderer
from fleet.wsgi_server import DeadlineServer, Limits

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class MetricsRenderer:
    def __init__(self, cache: ContainerCache) -> None:
        self._cache = cache
        self._incremental = IncrementalRenderer(cache)
        self._lock = threading.Lock()
        self._version = -1
        self._body = b""

    def render(self) -> bytes:
        version = self._cache.version
        with self._lock:
            if version != self._version:
                self._body = self._incremental.render()
                self._version = version
            return self._body


def create_wsgi_app(
    cache: ContainerCache,
    *,
    alive: Callable[[], bool],
    settings_text: str = "",
) -> Callable[[Environ, StartResponse], Iterable[bytes]]:
    renderer = MetricsRenderer(cache)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _respond(start_response, "405 Method Not Allowed", b"GET only\n", "text/plain")
        if path == "/metrics":
            return _respond(start_response, "200 OK", renderer.render(), CONTENT_TYPE_LATEST)
        if path == "/healthz":
            _, entries, state = cache.snapshot()
            ok = alive()
            body = json.dumps(
                {
                    "status": "ok" if ok else "stopped",
                    "docker_up": state.docker_up,
                    "managed_containers": len(entries),
                    "last_sync": state.last_sync,
                }
            ).encode()
            status = "200 OK" if ok else "503 Service Unavailable"
            return _respond(start_response, status, body, "application/json")
        if path == "/":
            return _respond(start_response, "200 OK", _index(cache, settings_text), "text/html")
        return _respond(start_response, "404 Not Found", b"not found\n", "text/plain")

    return app


def _respond(start: StartResponse, status: str, body: bytes, ctype: str) -> list[bytes]:
    start(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def _index(cache: ContainerCache, settings_text: str) -> bytes:
    _, entries, state = cache.snapshot()
    rows = "".join(
        f"<tr><td>{html.escape(e.facts.name)}</td><td>{html.escape(e.facts.state)}</td>"
        f"<td>{html.escape(e.facts.health_status)}</td><td>{e.facts.restart_count}</td></tr>"
        for e in sorted(entries, key=lambda e: e.facts.name)
    )
    docker = "reachable" if state.docker_up else "UNREACHABLE"
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Container health exporter</title></head>
<body style="font-family: sans-serif; margin: 2em">
<h1>Container health exporter</h1>
<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>
<p>Docker daemon: <b>{docker}</b>. Managed containers: <b>{len(entries)}</b>.
{html.escape(settings_text)}</p>
<table border="1" cellpadding="4" style="border-collapse: collapse">
<tr><th>container</th><th>state</th><th>health</th><th>restarts</th></tr>{rows}</table>
</body></html>"""
    return page.encode()


# Prometheus scrapes from one or two servers, a person may look at / or /healthz:
# a few threads suffice. waitress reads whole requests in its event loop first, so
# slow or silent clients hold a socket each, never a thread (fleet/wsgi_server.py).
LIMITS = Limits(
    threads=4,
    connections=256,
    # Prometheus keeps its connection between scrapes; closing it when idle costs a
    # reconnect per scrape on loopback or a LAN, and frees the slot from a silent client.
    idle_timeout_s=30,
    request_deadline_s=10.0,
    header_bytes=16 * 1024,
    body_in_memory_bytes=16 * 1024,
)
MAX_BODY_BYTES = 4096  # the exporter takes no bodies; GET and HEAD only


def make_http_server(
    host: str, port: int, app: Callable[[Environ, StartResponse], Iterable[bytes]]
) -> DeadlineServer:
    """Bind host:port; `serve_forever()` from a thread, `shutdown()` and `server_close()`
    to stop, as with socketserver."""
    return DeadlineServer(
        app,
        host=host,
        port=port,
        limits=LIMITS,
        body_bytes=MAX_BODY_BYTES,
        ident="it-ops-exporter",
    )
