"""What the web side answers when the fault is not the caller's.

A bug becomes a JSON 500 that carries an error id; the same id is logged with
the traceback, so the answer Alertmanager (or a person) got leads an operator
to the cause without showing the caller a traceback. A store that cannot write
is a condition, not a bug: 503 with the reason, which Alertmanager retries
(it retries every 5xx and never a 4xx).

`ContainFailures` wraps the whole WSGI app as the last line: Flask's error
handlers and the intake answer everything they know of, and whatever still
escapes (Flask's own machinery, a handler that fails) ends here, never at the
server's HTML 500.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from healer.errors import StoreError

log = logging.getLogger(__name__)

# The store's failures to write ("database or disk is full", "disk I/O error",
# "database is locked" after the busy timeout): the store translates its engine's
# errors into StoreError (healer/store.py), the one kind named here.
STORE_FAILURES: tuple[type[Exception], ...] = (StoreError,)


def internal_error(exc: BaseException, method: str, path: str) -> dict[str, str]:
    """The JSON body of a 500; logs the traceback under the id it carries."""
    error_id = secrets.token_hex(8)
    # %r: the path is the caller's text and may hold newlines meant to forge log lines.
    log.error("internal error %s on %s %r", error_id, method, path, exc_info=exc)
    return {"error": "internal error", "id": error_id}


def store_unavailable(exc: BaseException) -> dict[str, str]:
    """The JSON body of a 503 for a store that cannot write (the caller should retry)."""
    log.warning("%s", exc)
    return {"error": str(exc)}


class ContainFailures:
    """WSGI middleware: no exception leaves the app it wraps (see the module docstring).

    Covers the call that produces the response. A failure while a server iterates
    a streamed body would come after the status was sent; no route here streams.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app

    def __call__(self, environ: WSGIEnvironment, start: StartResponse) -> Iterable[bytes]:
        try:
            return self._app(environ, start)
        except Exception as exc:
            body = internal_error(
                exc, str(environ.get("REQUEST_METHOD", "")), str(environ.get("PATH_INFO", ""))
            )
            data = json.dumps(body).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
            # With exc_info, PEP 3333 lets the status be replaced if the app had set one
            # already, and re-raises if it was already sent (nothing else can be done then).
            start("500 INTERNAL SERVER ERROR", headers, sys.exc_info())
            return [data]
