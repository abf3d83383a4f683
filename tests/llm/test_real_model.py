"""The LLM adapters end to end against a real local model (Gemma 3 270M, base, not tuned).

The Ollama adapter goes through the real `ollama` client to the Ollama-API test
server; the OpenAI-compatible adapter to llama-cpp-python's own server. The
model's judgement is not asserted — it is a 270M base model — only the
contract: schema-valid JSON, categories from the enum, a validated result,
and timeouts that hold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ollama
import pytest

from healer.diagnosis.classifier import classify
from healer.diagnosis.grounding import parse_answer
from healer.diagnosis.llm_schema import DIAGNOSIS_SCHEMA, ChatBackend, ChatMessage
from healer.diagnosis.ollama_backend import OllamaBackend
from healer.diagnosis.openai_backend import OpenAIBackend
from healer.diagnosis.prompt import build_diagnosis_prompt
from healer.diagnosis.service import DiagnosisService, LLMSettings
from healer.model import Category, Source
from testbed.processes import Service
from tests.llm.conftest import NGINX_CONFIG_ERROR, PYTHON_CRASH, evidence

pytestmark = pytest.mark.llm

MODEL = "gemma3:270m"
# Generous: an answer takes seconds on an idle 2-core machine but can take minutes when other
# work competes for the cores; the timeout test below uses a short one on purpose.
REAL_TIMEOUT = 200.0


def test_the_ollama_test_server_answers_the_real_ollama_client(ollama_server: Service) -> None:
    client = ollama.Client(host=ollama_server.url, timeout=10)
    assert client.list().models[0].model == MODEL
    assert client.show(MODEL).details is not None


class RecordingBackend:
    """Passes calls through to a real backend and keeps the raw answers for the test to read."""

    def __init__(self, inner: ChatBackend) -> None:
        self.inner = inner
        self.raw: list[str] = []

    @property
    def describe(self) -> str:
        return self.inner.describe

    def chat_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any]) -> str:
        answer = self.inner.chat_json(messages, schema)
        self.raw.append(answer)
        return answer


def assert_schema_valid(raw: str) -> None:
    data = json.loads(raw)
    assert set(data) == set(DIAGNOSIS_SCHEMA["properties"])
    assert data["category"] in [c.value for c in Category]
    assert isinstance(data["restart_safe"], bool)
    for field in ("root_cause", "recommendation"):
        assert 1 <= len(data[field]) <= DIAGNOSIS_SCHEMA["properties"][field]["maxLength"]
    assert 1 <= len(data["evidence"]) <= DIAGNOSIS_SCHEMA["properties"]["evidence"]["maxItems"]
    parse_answer(raw)  # and the validator accepts what the constrained decoder produced


def test_a_diagnosis_through_the_real_ollama_client_is_schema_valid_and_validated(
    ollama_server: Service,
) -> None:
    settings = LLMSettings(backend="none", timeout_seconds=REAL_TIMEOUT)
    backend = RecordingBackend(OllamaBackend(ollama_server.url, MODEL, timeout=REAL_TIMEOUT))
    ev = evidence(NGINX_CONFIG_ERROR)

    result = DiagnosisService(settings, backend=backend).diagnose(ev)

    assert len(backend.raw) == 1
    assert_schema_valid(backend.raw[0])
    # A 270M base model often quotes lines that are not in the logs (e.g. from the prompt's
    # instructions); both endings are correct, and which one it is is not asserted.
    assert result.llm_outcome in ("ok", "invalid")
    assert result.rules == classify(ev)
    if result.llm_outcome == "ok":
        assert result.llm is not None
        assert result.final.source is Source.LLM
        assert result.final.category in Category
        assert all(any(q in line for line in NGINX_CONFIG_ERROR) for q in result.final.evidence)
    else:
        assert result.final.source is Source.RULES
        assert "LLM answer rejected" in result.final.note
    assert result.llm_seconds is not None


def test_the_openai_adapter_gets_schema_valid_json_from_llama_cpp_server(
    openai_server: Service,
) -> None:
    ev = evidence(NGINX_CONFIG_ERROR)
    prompt = build_diagnosis_prompt(ev, classify(ev))
    backend = OpenAIBackend(f"{openai_server.url}/v1", MODEL, timeout=REAL_TIMEOUT)

    assert_schema_valid(backend.chat_json(prompt.messages, DIAGNOSIS_SCHEMA))


def test_a_diagnosis_gives_up_at_the_timeout_while_the_real_model_is_still_working(
    ollama_server: Service,
) -> None:
    # Last in the module: the server finishes the abandoned answer in the background.
    ev = evidence(list(PYTHON_CRASH) * 6)
    settings = LLMSettings(
        backend="ollama", ollama_host=ollama_server.url, ollama_model=MODEL, timeout_seconds=0.5
    )
    started = time.monotonic()
    result = DiagnosisService.from_settings(settings).diagnose(ev)

    assert time.monotonic() - started < 0.5 + 3.0
    assert result.llm_outcome == "timeout"
    assert result.final.source is Source.RULES
    assert "LLM timed out after 0.5s" in result.final.note
