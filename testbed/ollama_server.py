"""A TEST server that speaks enough of Ollama's HTTP API to stand in for Ollama in tests.

Ollama's server cannot be installed on the test bed (no registry ships its
binary), but the healer talks to Ollama through the real `ollama` Python
client, and that is what the tests must exercise. This process serves a real
local model (the Gemma GGUF, through `llama_cpp`) behind the endpoints that
client uses:

- `POST /api/chat` (stream false or true): `format` = "json" or a JSON schema
  becomes llama_cpp's `response_format={"type": "json_object", "schema": ...}`,
  so the answer is decoded under the schema's grammar, as Ollama does;
  `options` temperature/top_k/top_p/repeat_penalty/seed/num_predict/stop are
  honoured, with Ollama's defaults (temperature 0.8, top_k 40, top_p 0.9,
  repeat_penalty 1.1 over the last 64 tokens) where absent;
- `GET /api/version`, `GET /api/tags`, `POST /api/show`, `GET /` ("Ollama is running").

Any model name is accepted and served by the one loaded model. It is not a
product component and not a general Ollama replacement.

    python -m testbed.ollama_server --model PATH --listen 127.0.0.1:PORT

Why one file over 300 lines: one small HTTP server, its request parsing and its
streaming answers, kept together as the stand-in it is.
"""

from __future__ import annotations

import argparse
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("ollama-test-server")

VERSION = "0.0.0-test"
OLLAMA_DEFAULTS: Mapping[str, Any] = {
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "repeat_penalty": 1.1,
    "num_predict": 512,  # Ollama's is unlimited; a cap keeps a looping test model bounded
}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def gemma_messages(messages: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Messages for llama_cpp's "gemma" chat format, with system text kept.

    Gemma has no system role and llama_cpp's formatter silently drops system
    messages; Ollama's Gemma 3 template instead puts the system text at the
    top of the first user turn. Done here the same way, so the model sees what
    it would see under Ollama.
    """
    system = "\n\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
    out = [
        {"role": str(m.get("role") or "user"), "content": str(m.get("content") or "")}
        for m in messages
        if m.get("role") != "system"
    ]
    if system:
        first_user = next((m for m in out if m["role"] == "user"), None)
        if first_user is None:
            out.insert(0, {"role": "user", "content": system})
        else:
            first_user["content"] = f"{system}\n\n{first_user['content']}"
    return out


class ModelRunner:
    """One `llama_cpp.Llama`, used by one request at a time (it is not thread-safe)."""

    def __init__(self, model_path: Path, *, n_ctx: int = 4096, n_threads: int = 2) -> None:
        from llama_cpp import Llama  # imported here so `--help` works without the runtime

        started = time.perf_counter()
        self.path = model_path
        self.llama = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            chat_format="gemma",
            verbose=False,
        )
        self.load_seconds = time.perf_counter() - started
        self.lock = threading.Lock()

    def chat(self, body: Mapping[str, Any], *, stream: bool) -> Any:
        # Ollama's own defaults, so the model behaves as it would under Ollama: without the
        # repeat penalty a small model can loop ("0.0.0.0...") until num_predict.
        options = {**OLLAMA_DEFAULTS, **(body.get("options") or {})}
        kwargs: dict[str, Any] = {
            "messages": gemma_messages(body.get("messages") or []),
            "temperature": float(options["temperature"]),
            "top_k": int(options["top_k"]),
            "top_p": float(options["top_p"]),
            "repeat_penalty": float(options["repeat_penalty"]),
            "max_tokens": int(options["num_predict"]),
            "stream": stream,
        }
        for name in ("seed", "min_p", "presence_penalty", "frequency_penalty"):
            if name in options:
                kwargs[name] = options[name]
        if options.get("stop"):
            kwargs["stop"] = list(options["stop"])
        fmt = body.get("format")
        if fmt == "json":
            kwargs["response_format"] = {"type": "json_object"}
        elif isinstance(fmt, dict):
            kwargs["response_format"] = {"type": "json_object", "schema": fmt}
        return self.llama.create_chat_completion(**kwargs)


class OllamaHandler(BaseHTTPRequestHandler):
    server: OllamaTestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    # -- plumbing -----------------------------------------------------------------------------

    def _json(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}") if length else {}
        if not isinstance(data, dict):
            raise ValueError("request body must be a JSON object")
        return data

    def _model_entry(self, name: str) -> dict[str, Any]:
        path = self.server.runner.path
        return {
            "name": name,
            "model": name,
            "modified_at": _now(),
            "size": path.stat().st_size,
            "digest": "0" * 64,
            "details": {
                "format": "gguf",
                "family": "gemma3",
                "families": ["gemma3"],
                "parameter_size": "270M",
                "quantization_level": "Q4_K_M",
            },
        }

    # -- endpoints ----------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path == "/":
            data = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/api/version":
            self._json(200, {"version": VERSION})
        elif self.path in ("/api/tags", "/api/ps"):
            self._json(200, {"models": [self._model_entry(self.server.model_name)]})
        else:
            self._json(404, {"error": f"no such endpoint {self.path}"})

    def do_POST(self) -> None:
        try:
            body = self._body()
        except ValueError as exc:
            self._json(400, {"error": f"invalid request: {exc}"})
            return
        if self.path == "/api/show":
            entry = self._model_entry(str(body.get("model") or self.server.model_name))
            self._json(
                200,
                {
                    "modelfile": "",
                    "parameters": "",
                    "template": "",
                    "details": entry["details"],
                    "model_info": {},
                    "capabilities": ["completion"],
                    "modified_at": entry["modified_at"],
                },
            )
        elif self.path == "/api/chat":
            self._chat(body)
        else:
            self._json(404, {"error": f"no such endpoint {self.path}"})

    def _chat(self, body: Mapping[str, Any]) -> None:
        model = str(body.get("model") or "")
        if not model:
            self._json(400, {"error": "model is required"})
            return
        stream = bool(body.get("stream", True))  # Ollama streams unless told otherwise
        runner = self.server.runner
        started = time.perf_counter()
        with runner.lock:
            try:
                # Always generated as a stream, so that a client that gave up (a timeout) is
                # noticed between tokens and the model is freed for the next request at once.
                chunks = runner.chat(body, stream=True)
                if stream:
                    self._stream_chat(model, chunks, started)
                    return
                pieces: list[str] = []
                finish = "stop"
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    pieces.append(choice.get("delta", {}).get("content") or "")
                    finish = choice.get("finish_reason") or finish
                    if self._client_gone():
                        log.info("client went away; generation abandoned")
                        return
            except Exception as exc:  # a test server reports, it does not die
                log.exception("chat failed")
                self._json(500, {"error": f"{type(exc).__name__}: {exc}"})
                return
        total_ns = int((time.perf_counter() - started) * 1e9)
        self._json(
            200,
            {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": "".join(pieces)},
                "done": True,
                "done_reason": "length" if finish == "length" else "stop",
                "total_duration": total_ns,
                "load_duration": 0,
                "prompt_eval_count": 0,
                "prompt_eval_duration": 0,
                "eval_count": len(pieces),
                "eval_duration": total_ns,
            },
        )

    def _client_gone(self) -> bool:
        """True once the client closed its end (a readable socket with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _stream_chat(self, model: str, chunks: Iterator[Mapping[str, Any]], started: float) -> None:
        # NDJSON with chunked transfer encoding, one object per generated piece, as Ollama does.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(obj: Mapping[str, Any]) -> None:
            line = json.dumps(obj).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")

        for chunk in chunks:
            if self._client_gone():
                return
            piece = chunk["choices"][0].get("delta", {}).get("content")
            if piece:
                send(
                    {
                        "model": model,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": piece},
                        "done": False,
                    }
                )
        send(
            {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "total_duration": int((time.perf_counter() - started) * 1e9),
            }
        )
        self.wfile.write(b"0\r\n\r\n")


class OllamaTestServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], runner: ModelRunner, model_name: str) -> None:
        super().__init__(address, OllamaHandler)
        self.runner = runner
        self.model_name = model_name


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="path to a .gguf model")
    parser.add_argument("--listen", default="127.0.0.1:11434", help="HOST:PORT")
    parser.add_argument("--name", default="gemma3:270m", help="model name listed by /api/tags")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    host, _, port = args.listen.rpartition(":")
    runner = ModelRunner(args.model, n_threads=args.threads)
    log.info("loaded %s in %.2fs", args.model, runner.load_seconds)
    server = OllamaTestServer((host or "127.0.0.1", int(port)), runner, args.name)
    log.info("listening on http://%s:%s", host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
