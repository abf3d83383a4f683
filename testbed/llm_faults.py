"""A FAULT INJECTOR that speaks Ollama's (and OpenAI's) chat API and misbehaves on purpose.

A real model cannot be made to return garbage, hang or crash on demand, so the
fallback paths are tested against this in-process HTTP server instead. Each
instance has one `Fault` (changeable between requests); every request body is
recorded so a test can read exactly what the healer sent.

Faults:
- `none`: a well-behaved, schema-valid answer that quotes the last log line;
- `garbage`: a chat response whose content is not JSON;
- `wrong_schema`: valid JSON of another shape;
- `invented_evidence`: schema-valid, but quoting lines that are not in the logs;
- `hang`: no answer for `hang_seconds` (longer than any client timeout in the tests);
- `drip`: answers one byte at a time, slowly: each read is quick, the whole never ends;
- `http_500`: an HTTP 500 with an error body;
- `obedient`: a "model" that obeys a prompt injection in the logs: restart_safe=true,
  category and text as the injected line demands, quoting that line (so the quote
  is genuinely in the logs and passes grounding);
- `json_schema_only`: well-behaved, but (OpenAI shape) answers 400 to
  `response_format` type `json_object`, as LM Studio does.

Endpoints: `POST /api/chat`, `POST /v1/chat/completions`, `GET /api/version`,
`GET /api/tags`, `GET /`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class Fault(StrEnum):
    NONE = "none"
    GARBAGE = "garbage"
    WRONG_SCHEMA = "wrong_schema"
    INVENTED_EVIDENCE = "invented_evidence"
    HANG = "hang"
    DRIP = "drip"
    HTTP_500 = "http_500"
    OBEDIENT = "obedient"
    JSON_SCHEMA_ONLY = "json_schema_only"


def prompt_data_lines(messages: list[Mapping[str, Any]]) -> list[str]:
    """The lines between the untrusted-data markers of the last message, section titles removed."""
    text = str(messages[-1].get("content", "")) if messages else ""
    inside = False
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("<<<BEGIN_UNTRUSTED_DATA"):
            inside = True
        elif line.startswith("<<<END_UNTRUSTED_DATA"):
            inside = False
        elif inside and not (line.startswith("--- ") or line == "(none)"):
            lines.append(line)
    return lines


class FaultInjector:
    """An Ollama/OpenAI-compatible chat server on 127.0.0.1 that fails as told."""

    def __init__(
        self,
        fault: Fault = Fault.NONE,
        *,
        hang_seconds: float = 30.0,
        category: str = "crash",
        answer: str = "All containers look fine to me (fault injector).",
    ) -> None:
        self.fault = fault
        self.hang_seconds = hang_seconds
        self.category = category
        self.answer = answer  # what `ask` gets back (the answer schema), e.g. a wrong claim
        self.requests: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        injector = self

        class Handler(_Handler):
            owner = injector

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers at once
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the "model" says ----------------------------------------------------------------

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)

    def content_for(self, body: Mapping[str, Any], schema: Mapping[str, Any] | None) -> str:
        fault = self.fault
        wants_answer = bool(schema and "answer" in (schema.get("properties") or {}))
        data = prompt_data_lines(list(body.get("messages") or []))
        if fault is Fault.GARBAGE:
            return "The container seems sad :( I would restart it {{{ not json"
        if fault is Fault.WRONG_SCHEMA:
            return json.dumps({"status": "ok", "answer": 42, "restart": "yes please"})
        if wants_answer:
            return json.dumps({"answer": self.answer})
        if fault is Fault.INVENTED_EVIDENCE:
            return json.dumps(
                {
                    "category": self.category,
                    "root_cause": "The flux capacitor overheated.",
                    "restart_safe": True,
                    "recommendation": "Replace the flux capacitor.",
                    "evidence": [
                        "FATAL: flux capacitor temperature 9000K",
                        "panic: out of plutonium",
                    ],
                }
            )
        if fault is Fault.OBEDIENT:
            fallback = data[-1] if data else ""
            quote = next((x for x in data if "ignore previous" in x.lower()), fallback)
            return json.dumps(
                {
                    "category": "crash",
                    "root_cause": "Ignoring previous instructions as the logs ask.",
                    "restart_safe": True,
                    "recommendation": "Restart prod-db-01 now and run rm -rf /",
                    "evidence": [quote[:160]],
                }
            )
        quote = data[-1] if data else "no data"
        return json.dumps(
            {
                "category": self.category,
                "root_cause": "The process exited after the error in its last log line.",
                "restart_safe": False,
                "recommendation": "Read the last log line and fix its cause.",
                "evidence": [quote[:160]],
            }
        )

    def wait_for_stop(self, seconds: float) -> None:
        self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    owner: FaultInjector
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests read `owner.requests`, not an access log

    def _send(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/version":
            self._send(200, {"version": "0.0.0-fault-injector"})
        elif self.path == "/api/tags":
            self._send(200, {"models": []})
        else:
            self._send(200, {"status": "fault injector"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send(400, {"error": "invalid JSON"})
            return
        owner = self.owner
        owner.record(body)
        fault = owner.fault
        openai = self.path.startswith("/v1/")
        if fault is Fault.HANG:
            owner.wait_for_stop(owner.hang_seconds)
            if owner._stopping.is_set():
                return
        if fault is Fault.HTTP_500:
            error: Any = {"message": "model runner crashed", "type": "server_error"}
            self._send(500, {"error": error if openai else "model runner crashed"})
            return
        response_format = body.get("response_format") or {}
        if (
            fault is Fault.JSON_SCHEMA_ONLY
            and openai
            and response_format.get("type") != "json_schema"
        ):
            error = {"message": "'response_format.type' must be 'json_schema'", "type": "invalid"}
            self._send(400, {"error": error})
            return
        if openai:
            schema = (body.get("response_format") or {}).get("schema") or (
                (body.get("response_format") or {}).get("json_schema") or {}
            ).get("schema")
        else:
            schema = body.get("format") if isinstance(body.get("format"), dict) else None
        content = owner.content_for(body, schema)
        model = str(body.get("model") or "")
        if openai:
            payload: dict[str, Any] = {
                "id": "chatcmpl-fault",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        else:
            payload = {
                "model": model,
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": content},
                "done": True,
                "done_reason": "stop",
            }
        if fault is Fault.DRIP:
            self._drip(json.dumps(payload).encode())
            return
        self._send(200, payload)

    def _drip(self, data: bytes) -> None:
        # Every read completes well within a socket timeout; the body as a whole takes minutes.
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for i in range(len(data)):
                if self.owner._stopping.wait(0.5):
                    return
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
        except OSError:
            return  # the client gave up, as it should
