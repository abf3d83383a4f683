"""Which model a bench talks to: Ollama, any OpenAI-compatible server, or the test bed's own.

    --backend ollama  --model llama3.2 [--host http://localhost:11434]
    --backend openai  --model NAME --base-url http://host:8000/v1 [--api-key ...]
    --backend local   the test bed's Gemma 3 270M (a base model: plumbing, not judgement)
                      behind llama-cpp-python's OpenAI-compatible server, started here
    --backend none    no model (the rules alone)

The same flags as the healer's settings (OLLAMA_HOST, OPENAI_BASE_URL, ...), so a
model that does well here is configured the same way in production.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healer.diagnosis.llm_schema import ChatBackend, ChatMessage, Usage
from healer.diagnosis.ollama_backend import DEFAULT_HOST, OllamaBackend
from healer.diagnosis.openai_backend import OpenAIBackend
from testbed.processes import REPO, free_port, python_module, start_service

LOCAL_GGUF = REPO / ".testbed" / "models" / "gemma-3-270m-q4_k_m.gguf"
LOCAL_MODEL = "gemma3:270m"
DEFAULT_TIMEOUT = 300.0


def add_backend_arguments(parser: argparse.ArgumentParser, *, default: str = "none") -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--backend", choices=("ollama", "openai", "local", "none"), default=default)
    group.add_argument("--model", default="", help="model name (ollama/openai)")
    group.add_argument(
        "--host", default=os.environ.get("OLLAMA_HOST", DEFAULT_HOST), help="Ollama server"
    )
    group.add_argument(
        "--base-url",
        default=os.environ.get("OPENAI_BASE_URL", ""),
        help="OpenAI-compatible server, including /v1",
    )
    group.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", ""))
    group.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per answer (a deadline)"
    )
    group.add_argument(
        "--gguf", type=Path, default=LOCAL_GGUF, help="model file for --backend local"
    )


@dataclass
class Metered:
    """A backend that keeps each raw answer and its token count for the bench to read.

    The bench diagnoses one case at a time, so what arrived since `mark()` belongs to
    the current case. `inner` is set once the real backend exists (it reports its
    token counts to `record_usage`).
    """

    inner: ChatBackend | None = None
    raw: list[str] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def describe(self) -> str:
        assert self.inner is not None
        return self.inner.describe

    def chat_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any]) -> str:
        assert self.inner is not None
        answer = self.inner.chat_json(messages, schema)
        with self._lock:
            self.raw.append(answer)
        return answer

    def record_usage(self, usage: Usage) -> None:
        with self._lock:
            self.usage.append(usage)

    def mark(self) -> tuple[int, int]:
        with self._lock:
            return len(self.raw), len(self.usage)

    def since(self, mark: tuple[int, int]) -> tuple[list[str], list[Usage]]:
        with self._lock:
            return self.raw[mark[0] :], self.usage[mark[1] :]


@contextlib.contextmanager
def open_backend(args: argparse.Namespace) -> Iterator[Metered | None]:
    """The backend the arguments name (a local server is started and stopped here)."""
    if args.backend == "none":
        yield None
        return
    meter = Metered()
    if args.backend == "local":
        with _local_server(args.gguf) as base_url:
            meter.inner = OpenAIBackend(
                base_url, LOCAL_MODEL, timeout=args.timeout, on_usage=meter.record_usage
            )
            yield meter
        return
    if not args.model:
        raise SystemExit(f"--backend {args.backend} needs --model")
    if args.backend == "ollama":
        meter.inner = OllamaBackend(
            args.host, args.model, timeout=args.timeout, on_usage=meter.record_usage
        )
    elif not args.base_url:
        raise SystemExit("--backend openai needs --base-url (e.g. http://localhost:8000/v1)")
    else:
        meter.inner = OpenAIBackend(
            args.base_url,
            args.model,
            api_key=args.api_key,
            timeout=args.timeout,
            on_usage=meter.record_usage,
        )
    yield meter


@contextlib.contextmanager
def _local_server(gguf: Path) -> Iterator[str]:
    if not gguf.exists():
        raise SystemExit(f"{gguf} is missing; run `make testbed` (or pass --gguf)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="itops-llm-eval-") as logs:
        server = start_service(
            "llama-cpp-server",
            python_module(
                "llama_cpp.server",
                *("--model", str(gguf), "--host", "127.0.0.1", "--port", str(port)),
                *("--n_ctx", "4096", "--n_threads", "2", "--chat_format", "gemma"),
            ),
            port=port,
            log_dir=Path(logs),
            ready_url=f"http://127.0.0.1:{port}/v1/models",
            timeout=120,
        )
        try:
            yield f"{server.url}/v1"
        finally:
            server.stop()
