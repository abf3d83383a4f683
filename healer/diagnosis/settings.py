"""The LLM part of the healer's config, and the backend it names.

`LLMSettings` is read from the environment by `healer.config`; `make_backend`
turns it into the one `ChatBackend` the service talks to (or None when the
model is switched off), so nothing else knows which servers exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from healer.diagnosis.llm_schema import ChatBackend
from healer.diagnosis.ollama_backend import DEFAULT_HOST, DEFAULT_MODEL, OllamaBackend
from healer.diagnosis.openai_backend import OpenAIBackend
from healer.errors import ConfigError

BackendName = Literal["ollama", "openai", "none"]


@dataclass(frozen=True)
class LLMSettings:
    """The LLM part of the healer's config (LLM_BACKEND, OLLAMA_*, OPENAI_*, LLM_*)."""

    backend: BackendName = "ollama"
    ollama_host: str = DEFAULT_HOST
    ollama_model: str = DEFAULT_MODEL
    openai_base_url: str = ""
    openai_model: str = ""
    openai_api_key: str = field(default="", repr=False)
    timeout_seconds: float = 20.0
    max_calls_per_hour: int = 30
    cache_ttl_seconds: float = 3600.0

    def __post_init__(self) -> None:
        # healer.config validates the environment first; this guards other constructions, with
        # messages that start with the key, as every ConfigError does.
        if self.backend not in ("ollama", "openai", "none"):
            raise ConfigError(f"LLM_BACKEND must be ollama, openai or none, not {self.backend!r}")
        if self.backend == "ollama" and not (self.ollama_host and self.ollama_model):
            raise ConfigError(
                "OLLAMA_HOST and OLLAMA_MODEL must not be empty with LLM_BACKEND=ollama"
            )
        if self.backend == "openai" and not (self.openai_base_url and self.openai_model):
            raise ConfigError(
                "OPENAI_BASE_URL and OPENAI_MODEL must be set with LLM_BACKEND=openai"
            )
        if not self.timeout_seconds > 0:
            raise ConfigError("LLM_TIMEOUT_SECONDS must be a positive number of seconds")
        if self.max_calls_per_hour < 0:
            raise ConfigError("LLM_MAX_CALLS_PER_HOUR must be 0 or more")
        if self.cache_ttl_seconds < 0:
            raise ConfigError("LLM_CACHE_SECONDS must be 0 or more")


def make_backend(settings: LLMSettings) -> ChatBackend | None:
    """The backend `settings` names, or None when the LLM is switched off."""
    if settings.backend == "ollama":
        return OllamaBackend(
            settings.ollama_host, settings.ollama_model, timeout=settings.timeout_seconds
        )
    if settings.backend == "openai":
        return OpenAIBackend(
            settings.openai_base_url,
            settings.openai_model,
            api_key=settings.openai_api_key,
            timeout=settings.timeout_seconds,
        )
    return None
