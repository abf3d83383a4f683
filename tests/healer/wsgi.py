"""Calling the healer exactly as a WSGI server does: `app(environ, start_response)`.

Flask's test client tidies requests up (it recomputes Content-Length, encodes the
path); a server passes on whatever the client sent. These helpers build the
environ with Werkzeug and then let a test override any key with raw values, so
odd headers, paths and bodies reach the app unchanged. An exception that
escapes the app propagates to the test: that is what a server would turn into
its own HTML 500.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.test import EnvironBuilder

from testbed.healer_proc import TOKEN

WEBHOOK = "/webhook/alertmanager"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def is_json(self) -> bool:
        return self.headers.get("Content-Type", "").startswith("application/json")

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> str:
        """The `error` of a JSON refusal (fails the test when there is none)."""
        assert self.is_json, (self.status, self.headers, self.body[:200])
        data = self.json()
        assert isinstance(data, dict), data
        assert isinstance(data.get("error"), str), data
        return str(data["error"])


def call(
    app: Flask,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Answer:
    """One request through the app's WSGI interface; `environ` overrides raw keys
    (PATH_INFO, QUERY_STRING, CONTENT_LENGTH, ...) after Werkzeug built the rest."""
    env = EnvironBuilder(path=path, method=method, data=body, headers=list((headers or {}).items()))
    built = env.get_environ()
    built.update(environ or {})
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None):
        started.append((status, response_headers))

    chunks = app(built, start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    status, response_headers = started[-1]
    return Answer(int(status.split()[0]), dict(response_headers), data)


def post_webhook(
    app: Flask,
    body: bytes,
    *,
    token: str | None = TOKEN,
    environ: Mapping[str, str] | None = None,
) -> Answer:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return call(app, "POST", WEBHOOK, body=body, headers=headers, environ=environ)
