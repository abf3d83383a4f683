"""prod-app-01: a small Python web app that depends on the database and the cache.

Its /health answers 200 only when both prod-db-01:5432 and prod-cache-01:6379
accept connections, so a dead dependency shows up as an unhealthy app (and as a
"dependency" diagnosis in its logs).
"""

import json
import logging
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEPENDENCIES = {
    "database": (os.environ.get("DB_HOST", "prod-db-01"), 5432),
    "cache": (os.environ.get("CACHE_HOST", "prod-cache-01"), 6379),
}
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s app: %(message)s")
log = logging.getLogger("app")


def check(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            errors = {name: err for name, (h, p) in DEPENDENCIES.items() if (err := check(h, p))}
            for name, err in errors.items():
                log.error("dependency %s unreachable: %s", name, err)
            self._reply(503 if errors else 200, {"ok": not errors, "errors": errors})
        else:
            self._reply(200, {"service": "prod-app-01", "hello": "world"})

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


if __name__ == "__main__":
    # PID 1 in its container: without a handler SIGTERM is ignored, and every `docker stop`,
    # restart or `docker compose down` would wait out its timeout before SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("prod-app-01 listening on :8000")
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
