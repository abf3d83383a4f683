"""A flapping container costs one model call per failure kind, and never more than the cap."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from healer.diagnosis.ollama_backend import OllamaBackend
from healer.diagnosis.service import DiagnosisService, LLMSettings
from healer.metrics import HealerMetrics
from healer.model import Source
from testbed.llm_faults import Fault
from tests.llm.conftest import NGINX_CONFIG_ERROR, PYTHON_CRASH, FaultFactory, evidence


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(
    url: str, clock: FakeClock, *, per_hour: int = 30, ttl: float = 3600.0
) -> tuple[DiagnosisService, HealerMetrics]:
    metrics = HealerMetrics(CollectorRegistry())
    settings = LLMSettings(
        backend="none", timeout_seconds=5, max_calls_per_hour=per_hour, cache_ttl_seconds=ttl
    )
    backend = OllamaBackend(url, "llama3.2", timeout=5)
    return DiagnosisService(settings, backend=backend, metrics=metrics, clock=clock), metrics


def crash_at(timestamp: str) -> tuple[str, ...]:
    # The same crash, printed at another time by another process id: the same failure.
    return (f"{timestamp} worker[{timestamp[-2:]}] starting", *PYTHON_CRASH)


def test_the_same_failure_is_answered_from_the_cache_until_the_ttl_expires(
    faults: FaultFactory,
) -> None:
    injector = faults(Fault.NONE)
    clock = FakeClock()
    diagnoser, metrics = service(injector.url, clock, ttl=600)

    first = diagnoser.diagnose(evidence(crash_at("2026-01-12T10:00:01")))
    clock.now += 300
    second = diagnoser.diagnose(evidence(crash_at("2026-01-12T10:05:17"), restart_count=3))

    assert first.llm_outcome == "ok"
    assert second.llm_outcome == "cached"
    assert injector.calls == 1
    assert second.llm is not None
    assert second.final.source is Source.LLM
    assert second.final.root_cause == first.final.root_cause
    assert "reused from cache (5 min old)" in second.final.note

    clock.now += 301
    third = diagnoser.diagnose(evidence(crash_at("2026-01-12T10:10:44")))
    assert third.llm_outcome == "ok"
    assert injector.calls == 2
    samples = {
        outcome: metrics.registry.get_sample_value(
            "healer_llm_requests_total", {"outcome": outcome}
        )
        for outcome in ("ok", "cached")
    }
    assert samples == {"ok": 2, "cached": 1}


def test_a_different_failure_of_the_same_container_is_not_served_from_the_cache(
    faults: FaultFactory,
) -> None:
    injector = faults(Fault.NONE)
    diagnoser, _ = service(injector.url, FakeClock())

    diagnoser.diagnose(evidence(PYTHON_CRASH))
    other = diagnoser.diagnose(evidence(NGINX_CONFIG_ERROR, exit_code=1))

    assert other.llm_outcome == "ok"
    assert injector.calls == 2


def test_a_rejected_answer_is_not_cached_so_the_next_alert_asks_again(
    faults: FaultFactory,
) -> None:
    injector = faults(Fault.GARBAGE)
    diagnoser, _ = service(injector.url, FakeClock())

    assert diagnoser.diagnose(evidence(PYTHON_CRASH)).llm_outcome == "invalid"
    injector.fault = Fault.NONE
    assert diagnoser.diagnose(evidence(PYTHON_CRASH)).llm_outcome == "ok"
    assert injector.calls == 2


def test_the_hourly_cap_stops_model_calls_and_refills_with_time(faults: FaultFactory) -> None:
    injector = faults(Fault.NONE)
    clock = FakeClock()
    diagnoser, metrics = service(injector.url, clock, per_hour=2, ttl=0)

    outcomes = [diagnoser.diagnose(evidence(PYTHON_CRASH)).llm_outcome for _ in range(4)]
    assert outcomes == ["ok", "ok", "rate_limited", "rate_limited"]
    assert injector.calls == 2

    limited = diagnoser.diagnose(evidence(PYTHON_CRASH))
    assert limited.final.source is Source.RULES
    assert "cap of 2 calls per hour" in limited.final.note

    clock.now += 1800  # half an hour refills one of two calls
    assert diagnoser.diagnose(evidence(PYTHON_CRASH)).llm_outcome == "ok"
    assert diagnoser.diagnose(evidence(PYTHON_CRASH)).llm_outcome == "rate_limited"
    assert injector.calls == 3
    assert (
        metrics.registry.get_sample_value("healer_llm_requests_total", {"outcome": "rate_limited"})
        == 4
    )


def test_a_cache_hit_does_not_spend_the_hourly_budget(faults: FaultFactory) -> None:
    injector = faults(Fault.NONE)
    diagnoser, _ = service(injector.url, FakeClock(), per_hour=1)

    outcomes = [diagnoser.diagnose(evidence(PYTHON_CRASH)).llm_outcome for _ in range(3)]
    other = diagnoser.diagnose(evidence(NGINX_CONFIG_ERROR))

    assert outcomes == ["ok", "cached", "cached"]
    assert other.llm_outcome == "rate_limited"
    assert injector.calls == 1
