"""Diagnosis as the healer uses it: the rules always, the LLM as validated, optional advice.

`DiagnosisService.diagnose` runs the deterministic classifier first, then (when
a backend is configured, the failure is not cached and the hourly cap allows)
asks the model, within a hard deadline, for a schema-bound answer. The answer
is validated (types, enums, lengths) and grounded (every quoted line must be
in the evidence). Whatever goes wrong, the rules' diagnosis stands and the
reason is written in its `note` and in the `llm_outcome` metric label.

What the model may influence: display text, and `llm.restart_safe`, which the
policy may read only to *withhold* a restart (LLM_CAN_VETO). `final` never
says a restart is safer than the rules say: its `restart_safe` is the rules'
value AND the model's, so even a policy that reads `final` cannot be talked
into a restart by a log line.

The parts live beside it: `settings` (config and backend factory), `budget`
(hourly cap and cache), `deadline`, `prompt`, and `grounding` (parse and check
the answer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from healer.diagnosis.budget import DiagnosisCache, TokenBucket, failure_signature
from healer.diagnosis.classifier import classify as default_classify
from healer.diagnosis.deadline import call_with_deadline
from healer.diagnosis.grounding import ground, parse_answer
from healer.diagnosis.llm_schema import DIAGNOSIS_SCHEMA, ChatBackend, LLMError, LLMTimeoutError
from healer.diagnosis.prompt import build_diagnosis_prompt
from healer.diagnosis.settings import LLMSettings, make_backend
from healer.metrics import HealerMetrics
from healer.model import Alert, Diagnosis, DiagnosisResult, Evidence, Source
from healer.redactor import NO_SECRETS, Redactor

# The wiring builds the service from its settings through this module alone.
__all__ = ["DiagnosisService", "LLMSettings", "make_backend"]

log = logging.getLogger(__name__)


class DiagnosisService:
    """The healer's `Diagnoser`: `diagnose(evidence, alert) -> DiagnosisResult`. Thread-safe."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        backend: ChatBackend | None,
        classify: Callable[[Evidence], Diagnosis] = default_classify,
        metrics: HealerMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        redactor: Redactor = NO_SECRETS,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self._classify = classify
        self._redactor = redactor
        self._metrics = metrics
        self._cache = DiagnosisCache(settings.cache_ttl_seconds, clock)
        self._bucket = TokenBucket(settings.max_calls_per_hour, clock)

    @classmethod
    def from_settings(
        cls,
        settings: LLMSettings,
        *,
        metrics: HealerMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        redactor: Redactor = NO_SECRETS,
    ) -> DiagnosisService:
        """A service with the backend `settings` names (Ollama, OpenAI-compatible or none)."""
        return cls(
            settings,
            backend=make_backend(settings),
            metrics=metrics,
            clock=clock,
            redactor=redactor,
        )

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()

    def diagnose(self, evidence: Evidence, alert: Alert | None = None) -> DiagnosisResult:
        """The rules' diagnosis of `evidence`, plus the model's when it is valid and grounded.

        Every text in the result is cleaned with the installation's redactor: a model may
        repeat what it was shown, and an error note may quote a server's answer."""
        result = self._diagnose(evidence, alert)
        fix = self._redactor.clean
        return replace(
            result,
            rules=result.rules.map_text(fix),
            llm=result.llm.map_text(fix) if result.llm else None,
            final=result.final.map_text(fix),
        )

    def _diagnose(self, evidence: Evidence, alert: Alert | None) -> DiagnosisResult:
        rules = self._classify(evidence)
        backend = self.backend
        if backend is None:
            return self._fallback(rules, "disabled", "LLM disabled (LLM_BACKEND=none)")

        key = failure_signature(evidence, rules)
        cached = self._cache.get(key)
        if cached is not None:
            llm, age = cached
            llm = llm.with_note(_join(llm.note, f"reused from cache ({age / 60:.0f} min old)"))
            return self._result(rules, llm, "cached", None)

        if not self._bucket.try_take():
            cap = self.settings.max_calls_per_hour
            return self._fallback(
                rules, "rate_limited", f"LLM not asked: the cap of {cap} calls per hour is reached"
            )

        prompt = build_diagnosis_prompt(evidence, rules, alert)
        # The prompt redacted its data by pattern; the installation's own values go too.
        messages = [{**m, "content": self._redactor.scrub(m["content"])} for m in prompt.messages]
        started = time.perf_counter()
        try:
            raw = call_with_deadline(
                lambda: backend.chat_json(messages, DIAGNOSIS_SCHEMA),
                self.settings.timeout_seconds,
            )
        except LLMTimeoutError:
            seconds = self._observe(started)
            note = f"LLM timed out after {self.settings.timeout_seconds:g}s"
            return self._fallback(rules, "timeout", note, seconds)
        except LLMError as exc:
            seconds = self._observe(started)
            return self._fallback(rules, "error", f"LLM unavailable: {exc}", seconds)
        except Exception:
            # A bug in a backend must cost the advice, never the incident.
            log.exception("LLM backend %s failed unexpectedly", backend.describe)
            seconds = self._observe(started)
            return self._fallback(rules, "error", "LLM call failed unexpectedly", seconds)
        seconds = self._observe(started)

        try:
            llm = self._validated(raw, evidence, rules, backend.describe)
        except ValueError as exc:
            log.info("LLM answer from %s rejected: %s", backend.describe, exc)
            return self._fallback(rules, "invalid", f"LLM answer rejected: {exc}", seconds)
        self._cache.put(key, llm)
        return self._result(rules, llm, "ok", seconds)

    def _validated(self, raw: str, evidence: Evidence, rules: Diagnosis, who: str) -> Diagnosis:
        answer = parse_answer(raw)
        kept, dropped, checkable = ground(answer.evidence, evidence)
        notes = [f"advice from {who}"]
        if checkable and not kept:
            raise ValueError("none of its quoted lines appears in the logs (invented evidence)")
        if not checkable:
            notes.append("no log lines to check its quotes against; quotes dropped")
        elif dropped:
            notes.append(f"{dropped} quoted line(s) not found in the logs were dropped")
        return Diagnosis(
            category=answer.category_enum,
            root_cause=answer.root_cause,
            restart_safe=answer.restart_safe,
            recommendation=answer.recommendation,
            source=Source.LLM,
            evidence=tuple(kept),
            signature=rules.signature,
            note="; ".join(notes),
        )

    def _result(
        self, rules: Diagnosis, llm: Diagnosis, outcome: str, seconds: float | None
    ) -> DiagnosisResult:
        final = llm
        if llm.restart_safe and not rules.restart_safe:
            final = replace(
                llm,
                restart_safe=False,
                note=_join(llm.note, "model said restart_safe=true; the rules' false stands"),
            )
        self._count(outcome)
        return DiagnosisResult(rules, llm, final, outcome, seconds)

    def _fallback(
        self, rules: Diagnosis, outcome: str, reason: str, seconds: float | None = None
    ) -> DiagnosisResult:
        note = reason if outcome == "disabled" else f"{reason}; rules diagnosis stands"
        self._count(outcome)
        return DiagnosisResult(
            rules, None, rules.with_note(_join(rules.note, note)), outcome, seconds
        )

    def _observe(self, started: float) -> float:
        seconds = time.perf_counter() - started
        if self._metrics is not None:
            self._metrics.llm_duration.observe(seconds)
        return seconds

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.llm_requests.labels(outcome).inc()


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
