"""waitress, plus what it lacks against hostile clients: a whole-request deadline.

Both services serve HTTP through it (the healer's webhook, API and pages; the
exporter's /metrics), so a slow or hostile client is bounded the same way in both.

waitress reads every connection in one event-loop thread and hands a request
to a worker thread only once its headers and body are complete, so a slow or
silent client costs a socket and a small buffer, never a thread. Out of the
box it closes a connection only after `channel_timeout` seconds *without a
byte*; a client that trickles one byte every few seconds would stay forever.
`DeadlineServer` also closes a connection whose request (headers and body) is
not complete within `request_deadline` seconds of its first byte.

Refusals the server makes itself (a request line or headers it cannot parse,
headers or a body over the caps) are JSON, like the app's own.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask

WSGIApp = Callable[..., Any]


@dataclass(frozen=True)
class Limits:
    """What one slow or hostile client can hold, and for how long."""

    threads: int
    connections: int
    idle_timeout_s: int
    request_deadline_s: float
    header_bytes: int
    body_in_memory_bytes: int


class _TimedParser(HTTPRequestParser):  # type: ignore[misc]  # waitress ships no type hints
    # waitress makes one parser per request, when its first byte arrives.
    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started_at = time.time()  # waitress's own clock for last_activity


class _JsonRefusal(ErrorTask):  # type: ignore[misc]
    def execute(self) -> None:
        error = self.request.error
        server: DeadlineServer = self.channel.server
        reason = server.refusal_reason(error.code) or f"{error.reason}: {error.body}"
        body = json.dumps({"error": reason}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)
        server.on_refusal(error.code)


class _Channel(HTTPChannel):  # type: ignore[misc]
    parser_class = _TimedParser
    error_task_class = _JsonRefusal


class DeadlineServer(TcpWSGIServer):  # type: ignore[misc]
    """A waitress TCP server bound to host:port with `limits`; `run()` serves until
    SystemExit or KeyboardInterrupt in its thread, then joins its worker threads."""

    channel_class = _Channel

    def __init__(
        self,
        app: WSGIApp,
        *,
        host: str,
        port: int,
        limits: Limits,
        body_bytes: int,
        on_refusal: Callable[[int], None] = lambda code: None,
        refusal_reasons: dict[int, str] | None = None,
        ident: str = "it-ops-healer",
    ) -> None:
        self.request_deadline_s = limits.request_deadline_s
        self.on_refusal = on_refusal
        self._reasons = refusal_reasons or {}
        adj = Adjustments(
            host=host,
            port=port,
            threads=limits.threads,
            # waitress counts its listening socket and its wake-up pipe as connections too.
            connection_limit=limits.connections + 2,
            channel_timeout=limits.idle_timeout_s,
            # Timeouts are enforced by maintenance(); run it every second, not every 30.
            cleanup_interval=1,
            max_request_header_size=limits.header_bytes,
            # waitress refuses a body of exactly its cap; the app accepts one of exactly body_bytes.
            max_request_body_size=body_bytes + 1,
            inbuf_overflow=limits.body_in_memory_bytes,
            # select() stops at file descriptor 1024; poll() has no such ceiling.
            asyncore_use_poll=True,
            ident=ident,
        )
        super().__init__(app, adj=adj)
        self._stopping = threading.Event()

    def refusal_reason(self, code: int) -> str | None:
        return self._reasons.get(code)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # the idle timeout
        cutoff = now - self.request_deadline_s
        for channel in self.active_channels.values():
            partial = channel.request  # a request still being read, not yet handed to a thread
            if partial is not None and not channel.requests and partial.started_at < cutoff:
                channel.will_close = True

    @property
    def port(self) -> int:
        return int(self.effective_port)

    # -- socketserver's names, for serving from a thread of a larger program -----------
    def serve_forever(self) -> None:
        """Serve until `shutdown()` is called from another thread."""
        while not self._stopping.is_set():
            self.asyncore.loop(
                timeout=self.adj.asyncore_loop_timeout,
                map=self._map,
                use_poll=self.adj.asyncore_use_poll,
                count=1,
            )

    def shutdown(self) -> None:
        self._stopping.set()
        # Wake the loop's poll() now rather than at its timeout. A wake-up pipe that is
        # already closed (seen once in the tests, EBADF) must not stop the shutdown: the
        # loop sees `_stopping` at its next timeout anyway (asyncore_loop_timeout, 1 s).
        with contextlib.suppress(OSError):
            self.pull_trigger()

    def server_close(self) -> None:
        """After `shutdown()` returned from `serve_forever()`: stop the worker threads
        and close every connection and the listening socket."""
        self.task_dispatcher.shutdown()
        for channel in list(self.active_channels.values()):
            channel.close()
        self.close()
