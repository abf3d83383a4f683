"""A loopback HTTP server standing in for Slack's incoming webhook endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class SlackReceiver:
    """What "Slack" received; `status` is the fault injector: set 500 or 404 to make it fail."""

    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200


@contextmanager
def running_slack_receiver() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.status == 200:
                receiver.posts.append(json.loads(body))
            self.send_response(receiver.status)
            self.end_headers()
            self.wfile.write(b"ok" if receiver.status == 200 else b"no_service")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/secretpath0123"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
