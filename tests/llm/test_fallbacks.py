"""A model that misbehaves never costs the diagnosis: the rules stand, the reason is recorded.

The misbehaving model is `testbed.llm_faults.FaultInjector`, a fault
injector spoken to through the real `ollama` client and the real OpenAI-style
HTTP backend.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry

from healer.diagnosis.classifier import classify
from healer.diagnosis.llm_schema import ChatBackend
from healer.diagnosis.ollama_backend import OllamaBackend
from healer.diagnosis.openai_backend import OpenAIBackend
from healer.diagnosis.service import DiagnosisService, LLMSettings
from healer.errors import ConfigError
from healer.metrics import HealerMetrics
from healer.model import Source
from testbed.llm_faults import Fault
from testbed.processes import free_port
from tests.llm.conftest import NGINX_CONFIG_ERROR, PYTHON_CRASH, FaultFactory, evidence

TIMEOUT = 1.5
# Generous on purpose: the bound proves "about the timeout, not the hang", not a latency figure.
SLACK = 4.0


def backend_for(kind: str, url: str) -> ChatBackend:
    if kind == "ollama":
        return OllamaBackend(url, "llama3.2", timeout=TIMEOUT)
    return OpenAIBackend(f"{url}/v1", "any-model", api_key="sk-test", timeout=TIMEOUT)


def service_for(kind: str, url: str, metrics: HealerMetrics | None = None) -> DiagnosisService:
    settings = LLMSettings(backend="none", timeout_seconds=TIMEOUT)
    return DiagnosisService(settings, backend=backend_for(kind, url), metrics=metrics)


def llm_count(metrics: HealerMetrics, outcome: str) -> float | None:
    return metrics.registry.get_sample_value("healer_llm_requests_total", {"outcome": outcome})


@pytest.mark.parametrize("kind", ["ollama", "openai"])
@pytest.mark.parametrize(
    ("fault", "outcome", "reason"),
    [
        (Fault.GARBAGE, "invalid", "LLM answer rejected: not JSON"),
        (Fault.WRONG_SCHEMA, "invalid", "LLM answer rejected: does not match the schema"),
        (Fault.INVENTED_EVIDENCE, "invalid", "invented evidence"),
        (Fault.HTTP_500, "error", "HTTP 500"),
        (Fault.HANG, "timeout", f"LLM timed out after {TIMEOUT:g}s"),
        (Fault.DRIP, "timeout", f"LLM timed out after {TIMEOUT:g}s"),
    ],
)
def test_a_misbehaving_model_leaves_the_rules_diagnosis_standing_with_the_reason_noted(
    faults: FaultFactory, kind: str, fault: Fault, outcome: str, reason: str
) -> None:
    injector = faults(fault, hang_seconds=60)
    metrics = HealerMetrics(CollectorRegistry())
    ev = evidence(PYTHON_CRASH)

    started = time.monotonic()
    result = service_for(kind, injector.url, metrics).diagnose(ev)
    elapsed = time.monotonic() - started

    assert injector.calls >= 1, "the model was asked"
    assert result.llm_outcome == outcome
    assert result.llm is None
    assert result.rules == classify(ev)
    assert result.final.source is Source.RULES
    assert result.final.category is result.rules.category
    assert result.final.restart_safe is result.rules.restart_safe
    assert reason in result.final.note
    assert "rules diagnosis stands" in result.final.note
    assert elapsed < TIMEOUT + SLACK
    assert llm_count(metrics, outcome) == 1
    assert llm_count(metrics, "ok") == 0


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_an_unreachable_model_server_falls_back_at_once(kind: str) -> None:
    metrics = HealerMetrics(CollectorRegistry())
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    started = time.monotonic()
    result = service_for(kind, url, metrics).diagnose(evidence(PYTHON_CRASH))

    assert time.monotonic() - started < 2.0
    assert result.llm_outcome == "error"
    assert "cannot connect" in result.final.note
    assert result.final.source is Source.RULES
    assert llm_count(metrics, "error") == 1


def test_the_api_key_is_sent_to_the_server_and_never_written_into_a_note(
    faults: FaultFactory,
) -> None:
    injector = faults(Fault.HTTP_500)
    result = service_for("openai", injector.url).diagnose(evidence(PYTHON_CRASH))
    assert "sk-test" not in result.final.note
    assert "sk-test" not in repr(LLMSettings(backend="none", openai_api_key="sk-test"))


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_a_valid_grounded_answer_becomes_the_final_diagnosis_with_source_llm(
    faults: FaultFactory, kind: str
) -> None:
    injector = faults(Fault.NONE, category="crash")
    metrics = HealerMetrics(CollectorRegistry())
    ev = evidence(PYTHON_CRASH)

    result = service_for(kind, injector.url, metrics).diagnose(ev)

    assert result.llm_outcome == "ok"
    assert result.llm is not None
    assert result.final == result.llm
    assert result.final.source is Source.LLM
    assert result.final.evidence == (PYTHON_CRASH[-1],)
    assert result.final.signature == result.rules.signature
    assert result.rules == classify(ev)
    assert llm_count(metrics, "ok") == 1
    assert metrics.registry.get_sample_value("healer_llm_duration_seconds_count") == 1


def test_a_quote_not_in_the_logs_is_dropped_and_flagged_while_the_rest_is_kept(
    faults: FaultFactory,
) -> None:
    injector = faults(Fault.NONE)
    # The injector quotes the last log line; the service must keep it. Here the model's answer is
    # amended on the wire to add an invented line next to the real one.
    original = injector.content_for

    def with_invented_line(body: object, schema: object) -> str:
        import json

        answer = json.loads(original(body, schema))  # type: ignore[arg-type]
        answer["evidence"].append("FATAL: invented by the model")
        return json.dumps(answer)

    injector.content_for = with_invented_line  # type: ignore[method-assign]
    result = service_for("ollama", injector.url).diagnose(evidence(PYTHON_CRASH))

    assert result.llm_outcome == "ok"
    assert result.llm is not None
    assert result.llm.evidence == (PYTHON_CRASH[-1],)
    assert "1 quoted line(s) not found in the logs were dropped" in result.llm.note


def test_the_openai_adapter_switches_to_the_json_schema_form_once_and_remembers_it(
    faults: FaultFactory,
) -> None:
    injector = faults(Fault.JSON_SCHEMA_ONLY)
    diagnoser = service_for("openai", injector.url)

    first = diagnoser.diagnose(evidence(PYTHON_CRASH))
    second = diagnoser.diagnose(evidence(NGINX_CONFIG_ERROR))

    assert (first.llm_outcome, second.llm_outcome) == ("ok", "ok")
    forms = [r["response_format"]["type"] for r in injector.requests]
    assert forms == ["json_object", "json_schema", "json_schema"]


def test_with_the_llm_switched_off_the_rules_diagnose_alone_and_say_so() -> None:
    metrics = HealerMetrics(CollectorRegistry())
    service = DiagnosisService.from_settings(LLMSettings(backend="none"), metrics=metrics)
    ev = evidence(PYTHON_CRASH)

    result = service.diagnose(ev)

    assert result.llm_outcome == "disabled"
    assert result.llm is None
    assert result.final.source is Source.RULES
    assert result.final.note.endswith("LLM disabled (LLM_BACKEND=none)")
    assert llm_count(metrics, "disabled") == 1


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"backend": "gpt"}, "LLM_BACKEND"),
        ({"backend": "openai"}, "OPENAI_BASE_URL"),
        ({"timeout_seconds": 0}, "LLM_TIMEOUT_SECONDS"),
        ({"max_calls_per_hour": -1}, "LLM_MAX_CALLS_PER_HOUR"),
    ],
)
def test_bad_llm_settings_fail_with_the_key_named(settings: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        LLMSettings(**settings)  # type: ignore[arg-type]
