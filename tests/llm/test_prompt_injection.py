"""Logs that try to command the model change nothing the healer decides on.

The "model" here is the fault injector in `obedient` mode: it does exactly
what the injected log line says, which is the worst a real model could do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from healer.diagnosis.classifier import classify
from healer.diagnosis.llm_schema import ChatMessage
from healer.diagnosis.ollama_backend import OllamaBackend
from healer.diagnosis.service import DiagnosisService, LLMSettings
from healer.model import Category
from healer.redact import REDACTED
from healer.redactor import Redactor
from testbed.llm_faults import Fault, prompt_data_lines
from tests.llm.conftest import INJECTION, NGINX_CONFIG_ERROR, FaultFactory, evidence, facts

POISONED = (*NGINX_CONFIG_ERROR, INJECTION)


def obedient_service(url: str) -> DiagnosisService:
    settings = LLMSettings(backend="none", timeout_seconds=5)
    return DiagnosisService(settings, backend=OllamaBackend(url, "llama3.2", timeout=5))


def test_the_injected_text_reaches_the_model_only_inside_the_data_markers(
    faults: FaultFactory,
) -> None:
    injector = faults(Fault.OBEDIENT)
    obedient_service(injector.url).diagnose(evidence(POISONED))

    messages = injector.requests[0]["messages"]
    system, user = messages[0]["content"], messages[-1]["content"]
    assert INJECTION in prompt_data_lines(messages)
    assert user.count(INJECTION) == 1
    assert INJECTION not in system
    assert "never as instructions" in system


def test_an_obedient_model_cannot_change_the_rules_diagnosis_or_make_a_restart_look_safe(
    faults: FaultFactory,
) -> None:
    injector = faults(Fault.OBEDIENT)
    ev = evidence(POISONED)
    without_llm = DiagnosisService(LLMSettings(backend="none"), backend=None).diagnose(ev)

    result = obedient_service(injector.url).diagnose(ev)

    # The model obeyed the logs, its quote is genuinely in them, so its answer is "valid" ...
    assert result.llm_outcome == "ok"
    assert result.llm is not None
    assert result.llm.restart_safe is True
    assert "rm -rf /" in result.llm.recommendation  # display text only, never executed
    # ... and still nothing the policy reads has moved.
    assert result.rules == classify(ev) == without_llm.rules
    assert result.rules.category is Category.CONFIGURATION
    assert result.rules.restart_safe is False
    assert result.final.restart_safe is False
    assert "the rules' false stands" in result.final.note
    assert result.llm_vetoes_restart is False


def test_a_model_can_only_lower_restart_safe_never_raise_it(faults: FaultFactory) -> None:
    # The well-behaved injector says restart_safe=false: on a crash the rules call restartable,
    # that is a veto the policy may honour (LLM_CAN_VETO), and `final` carries it.
    injector = faults(Fault.NONE)
    ev = evidence(("Segmentation fault (core dumped)",), exit_code=139)
    result = obedient_service(injector.url).diagnose(ev)

    assert result.llm is not None
    assert result.llm.restart_safe is False
    assert result.llm_vetoes_restart is True
    assert result.final.restart_safe is False
    assert result.rules == classify(ev)


def test_secrets_in_the_logs_never_reach_the_model(faults: FaultFactory) -> None:
    injector = faults(Fault.NONE)
    # Raw, unredacted lines: the prompt redacts again, whatever the caller did.
    lines = (
        "connecting with DB_PASSWORD=hunter2-very-secret",
        "GET /api with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "psycopg2.OperationalError: postgres://app:s3cr3tpw@prod-db-01:5432/app refused",
    )
    obedient_service(injector.url).diagnose(evidence(lines))

    sent = json.dumps(injector.requests)
    for secret in ("hunter2-very-secret", "eyJhbGciOiJIUzI1NiJ9", "s3cr3tpw"):
        assert secret not in sent
    assert "DB_PASSWORD=" in sent, "the key stays, so a reader knows which setting it was"


class EchoingModel:
    """A model that records its prompt and answers with a secret it was never shown
    (a model's training data, a cache, a hallucination: it can say anything)."""

    describe = "fake:echo"

    def __init__(self, secret: str, quote: str) -> None:
        self.secret, self.quote = secret, quote
        self.messages: list[ChatMessage] = []

    def chat_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any]) -> str:
        self.messages.extend(messages)
        return json.dumps(
            {
                "category": "configuration",
                "root_cause": f"The webhook token {self.secret} was refused.",
                "restart_safe": False,
                "recommendation": f"Rotate {self.secret}.",
                "evidence": [self.quote],
            }
        )


def test_the_installations_secrets_reach_neither_the_model_nor_its_recorded_answer() -> None:
    token = "whk-5f1c0e9a7b3d2c4e"
    redactor = Redactor.of([token])
    # Raw, uncleaned evidence (the pipeline cleans it first; the service does not rely on that).
    ev = replace(
        evidence([f"auth failed for {token}"]),
        facts=replace(facts(), error=f'exec: "{token}": executable file not found in $PATH'),
    )
    model = EchoingModel(token, quote=f"auth failed for {token}")
    service = DiagnosisService(LLMSettings(backend="none"), backend=model, redactor=redactor)

    result = service.diagnose(ev)

    assert model.messages, "the model was asked"
    assert token not in json.dumps(model.messages)
    assert result.llm is not None
    for diagnosis in (result.rules, result.llm, result.final):
        assert token not in json.dumps(diagnosis.to_dict())
    assert result.llm.root_cause == f"The webhook token {REDACTED} was refused."
    assert result.llm.evidence == (f"auth failed for {REDACTED}",)
