"""An OpenAI-compatible `/v1/chat/completions` server as a `ChatBackend` (plain `requests`).

For users who run vLLM, llama.cpp's server, llama-cpp-python's server or LM
Studio instead of Ollama. Servers disagree on how a JSON schema is requested:
llama.cpp-style servers take `{"type": "json_object", "schema": ...}` (and
llama-cpp-python answers 500 to the OpenAI form), while LM Studio and vLLM take
OpenAI's `{"type": "json_schema", "json_schema": {...}}`. The first form is
tried first; if a server rejects it before ever accepting it, the other form is
tried once and remembered.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from healer.diagnosis.llm_schema import (
    ChatMessage,
    LLMError,
    LLMTimeoutError,
    LLMUnavailableError,
    Usage,
    UsageSink,
)

MAX_TOKENS = 512
_FORMS = ("json_object", "json_schema")


class OpenAIBackend:
    """Chat with `model` at `base_url` (including `/v1`), e.g. `http://localhost:8000/v1`."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        timeout: float = 20.0,
        session: requests.Session | None = None,
        on_usage: UsageSink | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._on_usage = on_usage
        self.model = model
        self.timeout = timeout
        self._session = session or requests.Session()
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._form: str | None = None  # the response_format form this server has accepted
        self._lock = threading.Lock()

    @property
    def describe(self) -> str:
        return f"openai:{self.model}"

    def chat_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any]) -> str:
        with self._lock:
            known = self._form
        forms = (known,) if known else _FORMS
        errors: list[str] = []
        for form in forms:
            try:
                content = self._post(messages, schema, form)
            except _RejectedError as exc:
                errors.append(f"{form}: {exc}")
                continue
            with self._lock:
                self._form = form
            return content
        # Both forms refused: the first refusal is often the real cause (a prompt longer than
        # the server's context), the second only says the fallback form is not supported.
        raise LLMError("; ".join(errors))

    def _post(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any], form: str) -> str:
        if form == "json_object":
            response_format: dict[str, Any] = {"type": "json_object", "schema": dict(schema)}
        else:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(schema), "strict": True},
            }
        body = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": 0,
            "max_tokens": MAX_TOKENS,
            "stream": False,
            "response_format": response_format,
        }
        url = f"{self.base_url}/chat/completions"
        try:
            response = self._session.post(
                url,
                json=body,
                headers=self._headers,
                timeout=(min(5.0, self.timeout), self.timeout),
            )
        except requests.Timeout as exc:
            raise LLMTimeoutError(
                f"no answer from {self.base_url} within {self.timeout:g}s"
            ) from exc
        except requests.ConnectionError as exc:
            raise LLMUnavailableError(f"cannot connect to {self.base_url}") from exc
        except requests.RequestException as exc:
            raise LLMError(f"HTTP error talking to {self.base_url}: {type(exc).__name__}") from exc
        if response.status_code in (401, 403):
            raise LLMError(f"{self.base_url} refused the API key (HTTP {response.status_code})")
        if response.status_code >= 400:
            detail = response.text[:200].replace("\n", " ")
            message = f"{self.base_url} answered HTTP {response.status_code}: {detail}"
            if self._form is None and response.status_code in (400, 422, 500):
                raise _RejectedError(message)
            raise LLMError(message)
        try:
            data = response.json()
            content = str(data["choices"][0]["message"]["content"] or "")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"{self.base_url} did not send a chat completion") from exc
        if self._on_usage is not None:
            self._on_usage(_usage(data))
        return content

    def close(self) -> None:
        self._session.close()


def _usage(data: Any) -> Usage:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return Usage(0, 0)
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Usage(
        prompt if isinstance(prompt, int) else 0,
        completion if isinstance(completion, int) else 0,
    )


class _RejectedError(LLMError):
    """The server refused the request as shaped; another response_format form may work."""
