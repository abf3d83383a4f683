"""Which model the demo's healer asks: one that answers now, or none (and how to add one).

An explicit LLM_BACKEND wins (`none` turns the model off). Otherwise an
OpenAI-compatible server at OPENAI_BASE_URL is tried, then Ollama at
OLLAMA_HOST (default http://localhost:11434); the first that lists a model is
used, with OPENAI_MODEL / OLLAMA_MODEL when set and available, else the first
model it lists. Nothing answering is normal on a fresh machine: the demo runs
on the rules and says how to enable a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import requests

from healer.diagnosis.ollama_backend import DEFAULT_HOST

PROBE_SECONDS = 2.0
# A CPU-only model may answer slowly; past this the incident goes on with the rules' diagnosis.
DEMO_LLM_TIMEOUT = "30"
HOW_TO_ENABLE = (
    "To let the healer ask a model, start one and run the demo again:\n"
    "  Ollama:  ollama serve & ollama pull llama3.2        (OLLAMA_HOST, OLLAMA_MODEL)\n"
    "  or any OpenAI-compatible server, e.g. on the test bed:\n"
    "    .venv/bin/python -m llama_cpp.server --model .testbed/models/gemma-3-270m-q4_k_m.gguf \\\n"
    "      --port 8000 --n_ctx 4096 --chat_format gemma &\n"
    "    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 make demo\n"
    "  (pick a model first with python -m bench.llm_eval, see the README)"
)


@dataclass(frozen=True)
class ModelChoice:
    settings: Mapping[str, str] = field(default_factory=dict)  # the healer's LLM_* settings
    describe: str = ""  # e.g. "ollama llama3.2 at http://localhost:11434"; "" for none
    why_none: str = ""

    @property
    def found(self) -> bool:
        return bool(self.describe)


def choose_model(env: Mapping[str, str]) -> ModelChoice:
    backend = env.get("LLM_BACKEND", "").strip().lower()
    timeout = env.get("LLM_TIMEOUT_SECONDS", DEMO_LLM_TIMEOUT)
    if backend == "none":
        return ModelChoice({"LLM_BACKEND": "none"}, why_none="LLM_BACKEND=none")
    base_url = env.get("OPENAI_BASE_URL", "").rstrip("/")
    if backend in ("", "openai") and base_url:
        models = _openai_models(base_url, env.get("OPENAI_API_KEY", ""))
        if models:
            model = _pick(env.get("OPENAI_MODEL", ""), models)
            settings = {
                "LLM_BACKEND": "openai",
                "OPENAI_BASE_URL": base_url,
                "OPENAI_MODEL": model,
                "LLM_TIMEOUT_SECONDS": timeout,
            }
            if env.get("OPENAI_API_KEY"):
                settings["OPENAI_API_KEY"] = env["OPENAI_API_KEY"]
            return ModelChoice(settings, f"OpenAI-compatible {model} at {base_url}")
    host = env.get("OLLAMA_HOST", DEFAULT_HOST).rstrip("/")
    if backend in ("", "ollama"):
        models = _ollama_models(host)
        if models:
            model = _pick(env.get("OLLAMA_MODEL", ""), models)
            settings = {
                "LLM_BACKEND": "ollama",
                "OLLAMA_HOST": host,
                "OLLAMA_MODEL": model,
                "LLM_TIMEOUT_SECONDS": timeout,
            }
            return ModelChoice(settings, f"Ollama {model} at {host}")
    tried = [f"Ollama at {host}"] + ([f"OpenAI-compatible at {base_url}"] if base_url else [])
    return ModelChoice({"LLM_BACKEND": "none"}, why_none=f"no model answered ({', '.join(tried)})")


def _pick(wanted: str, available: list[str]) -> str:
    return wanted if wanted in available else available[0]


def _openai_models(base_url: str, api_key: str) -> list[str]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        answer = requests.get(f"{base_url}/models", headers=headers, timeout=PROBE_SECONDS)
        return [str(m["id"]) for m in answer.json()["data"]] if answer.ok else []
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return []


def _ollama_models(host: str) -> list[str]:
    try:
        answer = requests.get(f"{host}/api/tags", timeout=PROBE_SECONDS)
        return [str(m["name"]) for m in answer.json()["models"]] if answer.ok else []
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return []
