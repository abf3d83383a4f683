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
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import pydantic

from healer.diagnosis.classifier import classify as default_classify
from healer.diagnosis.llm_schema import (
    DIAGNOSIS_SCHEMA,
    ChatBackend,
    LLMAnswer,
    LLMError,
    LLMTimeoutError,
    clean_text,
)
from healer.diagnosis.ollama_backend import DEFAULT_HOST, DEFAULT_MODEL, OllamaBackend
from healer.diagnosis.openai_backend import OpenAIBackend
from healer.diagnosis.prompt import build_diagnosis_prompt
from healer.errors import ConfigError
from healer.metrics import HealerMetrics
from healer.model import Alert, Diagnosis, Evidence, Source
from healer.redactor import NO_SECRETS, Redactor

log = logging.getLogger(__name__)

BackendName = Literal["ollama", "openai", "none"]
# A quote shorter than this ("error", "1") appears in almost any log and grounds nothing.
MIN_QUOTE_CHARS = 8
CACHE_MAX_ENTRIES = 512
_ERROR_LINE = re.compile(
    r"error|fatal|panic|exception|traceback|killed|refused|denied|fail|emerg|cannot|unable",
    re.IGNORECASE,
)
_VOLATILE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{12,}|\d+", re.IGNORECASE)

T = TypeVar("T")


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


@dataclass(frozen=True)
class DiagnosisResult:
    """The classifier's diagnosis, the model's (when valid), and the one to show.

    `rules` is what the policy decides on. `llm` is set only for a valid,
    grounded model answer (fresh or cached). `final` is the model's answer when
    there is one, else the rules' with a note saying why the model's was not
    used; its `restart_safe` is never more permissive than `rules.restart_safe`.
    """

    rules: Diagnosis
    llm: Diagnosis | None
    final: Diagnosis
    llm_outcome: str
    llm_seconds: float | None = None

    @property
    def llm_vetoes_restart(self) -> bool:
        """True when a valid model answer says a restart will not help (for LLM_CAN_VETO)."""
        return self.llm is not None and not self.llm.restart_safe

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": self.rules.to_dict(),
            "llm": self.llm.to_dict() if self.llm else None,
            "final": self.final.to_dict(),
            "llm_outcome": self.llm_outcome,
            "llm_seconds": None if self.llm_seconds is None else round(self.llm_seconds, 3),
        }


class TokenBucket:
    """At most `per_hour` takes in any hour, refilled smoothly, on an injected clock."""

    def __init__(self, per_hour: int, clock: Callable[[], float]) -> None:
        self.capacity = float(per_hour)
        self._rate = per_hour / 3600.0
        self._tokens = float(per_hour)
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def try_take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class DiagnosisCache:
    """Valid model answers per failure signature, for `ttl` seconds (bounded, oldest evicted)."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Diagnosis]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Diagnosis, float] | None:
        """The cached diagnosis and its age in seconds, if still fresh."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            age = self._clock() - entry[0]
            if age >= self.ttl:
                del self._entries[key]
                return None
            return entry[1], age

    def put(self, key: str, diagnosis: Diagnosis) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock(), diagnosis)
            self._entries.move_to_end(key)
            while len(self._entries) > CACHE_MAX_ENTRIES:
                self._entries.popitem(last=False)


def failure_signature(evidence: Evidence, rules: Diagnosis) -> str:
    """A key under which one failure of one kind of container is diagnosed once.

    Image, the classifier's signature and category, exit code and OOM flag,
    plus a hash of the last error-looking lines with numbers, hex ids and
    timestamps blanked, so a container crash-looping on the same error maps to
    the same key on every restart.
    """
    facts = evidence.facts
    lines = [line for line in evidence.log_lines if _ERROR_LINE.search(line)][-5:]
    if not lines:
        lines = list(evidence.log_lines[-3:])
    lines += list(evidence.health_output[-1:])
    normalized = "\n".join(_VOLATILE.sub("#", line.strip()) for line in lines)
    parts = [
        facts.image if facts else "",
        rules.signature,
        rules.category.value,
        str(facts.exit_code) if facts else "",
        str(facts.oom_killed) if facts else "",
        hashlib.sha256(normalized.encode()).hexdigest(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def call_with_deadline(fn: Callable[[], T], seconds: float, what: str = "LLM") -> T:
    """`fn()` or `LLMTimeoutError` after `seconds`, whatever the socket timeouts do.

    An HTTP client's timeout bounds each read, not the whole answer: a server
    that trickles a byte a second never trips it. The call runs in a daemon
    thread that is abandoned at the deadline (it ends when its own socket
    timeout fires); the hourly cap bounds how many can be abandoned.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="llm-call", daemon=True).start()
    if not done.wait(seconds):
        raise LLMTimeoutError(f"{what} timed out after {seconds:g}s")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def parse_answer(raw: str) -> LLMAnswer:
    """The model's text as a validated answer; `ValueError` says what was wrong in a few words."""
    text = raw.strip()
    if text.startswith("```"):
        # Servers without schema support sometimes fence the JSON; the fence carries nothing.
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        return LLMAnswer.model_validate(data)
    except pydantic.ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "answer" for err in exc.errors()})
        raise ValueError(f"does not match the schema: {', '.join(fields)[:120]}") from None


def _fold(text: str) -> str:
    return clean_text(text, 1_000_000).replace("‹‹‹", "<<<").replace("›››", ">>>")


def ground(quotes: list[str], evidence: Evidence) -> tuple[list[str], int, bool]:
    """`(kept, dropped, checkable)`: the quotes that appear verbatim in the evidence lines.

    Whitespace is folded on both sides (the prompt shows lines folded); a quote
    must be a substring of one line. `checkable` is False when the evidence has
    no lines at all, so there is nothing a quote could be checked against.
    """
    sources = [*evidence.log_lines, *evidence.health_output]
    if evidence.facts is not None and evidence.facts.error:
        sources.append(evidence.facts.error)
    folded = [_fold(line) for line in sources if line.strip()]
    if not folded:
        return [], len(quotes), False
    unique = list(dict.fromkeys(_fold(quote) for quote in quotes))
    kept = [q for q in unique if len(q) >= MIN_QUOTE_CHARS and any(q in line for line in folded)]
    return kept, len(unique) - len(kept), True


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
