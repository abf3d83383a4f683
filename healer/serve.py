"""`healer serve`: the Flask app under waitress (one process, an event loop and threads).

One process on purpose: the incident workers and the outbox live in the same
process as the intake, and SQLite has one writer.

Why waitress and not gunicorn's gthread worker: gthread gives each
connection a thread from the moment it is accepted until its request is read,
so eight clients that send headers or a body slowly (or never) held all eight
threads, and a valid webhook waited 15 s and `/healthz` 40 s. waitress reads
every connection in one event-loop thread and hands a request to the eight
threads only when it is complete, so slow clients cost a socket and a small
buffer each (`python -m bench.slow_clients` measures both side by side). What
one client can hold is bounded by `LIMITS` and `HEALER_MAX_BODY_BYTES`:

- at most `connections` open at once; beyond that the server stops
  accepting, new connections wait in the kernel's listen queue, and a slot
  frees within the request deadline at worst;
- a connection silent for `idle_timeout_s` is closed (half-open, or idle
  keep-alive), and so is one whose request is not complete
  `request_deadline_s` after its first byte (slow headers, slow body);
- headers over `header_bytes` get 431; a body over `HEALER_MAX_BODY_BYTES`
  gets 413 from its Content-Length, before it is read. A body is buffered in
  memory up to `body_in_memory_bytes`, the rest in a temporary file.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

from flask import Flask

from fleet.wsgi_server import DeadlineServer, Limits
from healer.app import create_app, runtime_of
from healer.config import HealerConfig, describe
from healer.errors import HealerError
from healer.wiring import build

log = logging.getLogger(__name__)

LIMITS = Limits(
    threads=8,
    connections=256,
    # A webhook is sent whole in a millisecond on a LAN; gunicorn's keep-alive was 5 s too.
    idle_timeout_s=5,
    request_deadline_s=10.0,
    # Alertmanager's and Prometheus's headers are a few hundred bytes; browsers' stay under 8 KiB.
    header_bytes=32 * 1024,
    body_in_memory_bytes=64 * 1024,
)


def build_app(config: HealerConfig) -> Flask:
    """The healer's app with its real dependencies; its workers are not started yet."""
    return create_app(build(config), start_workers=False)


def make_server(config: HealerConfig, app: Flask, limits: Limits = LIMITS) -> DeadlineServer:
    """Bind the listening socket; raises HealerError when the address cannot be used."""
    metrics = runtime_of(app).metrics
    web = config.web

    def refused(code: int) -> None:
        if code == 413:  # the same count the app keeps for the bodies it refuses itself
            metrics.webhooks.labels("too_large").inc()

    try:
        return DeadlineServer(
            app,
            host=web.host,
            port=web.port,
            limits=limits,
            body_bytes=web.max_body_bytes,
            on_refusal=refused,
            refusal_reasons={
                413: f"body larger than HEALER_MAX_BODY_BYTES={web.max_body_bytes}",
                431: f"headers larger than {limits.header_bytes} bytes",
            },
        )
    except OSError as exc:
        raise HealerError(f"cannot listen on {web.host}:{web.port}: {exc}") from exc


def serve(config: HealerConfig) -> int:
    """Serve until SIGTERM or SIGINT; then finish the requests in hand and stop the workers."""
    app = build_app(config)
    server = make_server(config, app)
    runtime = runtime_of(app)
    # A request queued behind busy threads is normal under an alert storm, not worth a warning each.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)  # waitress's loop catches it, stops accepting and joins its threads

    signal.signal(signal.SIGTERM, stop)
    try:
        runtime.start()
        log.info("healer ready on %s:%d: %s", config.web.host, server.port, describe(config))
        server.run()
    finally:
        server.close()
        runtime.stop()
    return 0
