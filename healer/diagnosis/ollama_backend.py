"""Ollama as a `ChatBackend`, through the official `ollama` client.

The JSON schema goes in `format=`, so Ollama's grammar-constrained decoder can
only emit the diagnosis shape; temperature 0 makes the same failure give the
same answer. The client's and httpx's errors are translated here, and only
here, into `LLMError`s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import ollama
import pydantic

from healer.diagnosis.llm_schema import (
    ChatMessage,
    LLMError,
    LLMTimeoutError,
    LLMUnavailableError,
    Usage,
    UsageSink,
)

DEFAULT_HOST = "http://localhost:11434"
DEFAULT_MODEL = "llama3.2"
# Ollama's default context (2048 on older servers) would silently cut the prompt's logs.
NUM_CTX = 4096
# A schema-bound answer is ~150 tokens; the cap stops a model that never closes the JSON.
NUM_PREDICT = 512


class OllamaBackend:
    """Chat with one model on one Ollama server; `timeout` bounds each HTTP operation."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        model: str = DEFAULT_MODEL,
        *,
        timeout: float = 20.0,
        keep_alive: str | None = None,
        on_usage: UsageSink | None = None,
    ) -> None:
        self.host = host
        self.model = model
        self.timeout = timeout
        self.keep_alive = keep_alive
        self._on_usage = on_usage
        self._client = ollama.Client(host=host, timeout=timeout)

    @property
    def describe(self) -> str:
        return f"ollama:{self.model}"

    def chat_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any]) -> str:
        try:
            response = self._client.chat(
                model=self.model,
                messages=[dict(m) for m in messages],
                format=dict(schema),
                options={"temperature": 0, "num_ctx": NUM_CTX, "num_predict": NUM_PREDICT},
                keep_alive=self.keep_alive,
                stream=False,
            )
        except httpx.TimeoutException as exc:
            raise LLMTimeoutError(f"no answer from Ollama within {self.timeout:g}s") from exc
        except ConnectionError as exc:
            # The client turns httpx.ConnectError into the builtin ConnectionError.
            raise LLMUnavailableError(f"cannot connect to Ollama at {self.host}") from exc
        except ollama.ResponseError as exc:
            detail = str(exc.error)[:200]
            raise LLMError(f"Ollama answered HTTP {exc.status_code}: {detail}") from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"HTTP error talking to Ollama: {type(exc).__name__}") from exc
        except (json.JSONDecodeError, pydantic.ValidationError) as exc:
            raise LLMError("Ollama's reply was not an Ollama chat response") from exc
        if self._on_usage is not None:
            self._on_usage(Usage(response.prompt_eval_count or 0, response.eval_count or 0))
        return response.message.content or ""

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]  # ollama's close() is unannotated
