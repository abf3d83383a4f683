"""Scoring diagnoses against labels: the shared part of the diagnosis benches.

A `Labelled` case is evidence plus the category and `restart_safe` a human
gives it (from the log corpus or from a real injected fault). `judge` runs one
case through the rules and, when a model is configured, through the healer's
own `DiagnosisService` (validation, grounding, the never-more-permissive rule),
keeping what the model actually answered so it can be scored on its own:
schema-valid, quotes grounded in the logs, category, restart advice, latency and
tokens. `confusion` and `Report` print the tables.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import zip_longest

from bench.llm_backends import Metered
from healer.diagnosis.classifier import classify
from healer.diagnosis.grounding import ground, parse_answer
from healer.diagnosis.service import DiagnosisService, LLMSettings
from healer.model import Category, Diagnosis, DiagnosisResult, Evidence
from testbed.corpus import Case
from testbed.corpus_injection import Outcome

CATEGORIES = tuple(Category)


@dataclass(frozen=True)
class Labelled:
    name: str
    origin: str  # "fault" | "corpus"
    evidence: Evidence
    category: Category
    restart_safe: bool


def from_corpus(cases: Iterable[Case]) -> list[Labelled]:
    return [Labelled(c.name, "corpus", c.evidence, c.category, c.restart_safe) for c in cases]


def from_faults(outcomes: Iterable[Outcome]) -> list[Labelled]:
    return [
        Labelled(o.fault.name, "fault", o.evidence, o.fault.category, o.fault.restart_safe)
        for o in outcomes
    ]


def sample(cases: Sequence[Labelled], limit: int | None) -> list[Labelled]:
    """At most `limit` cases, round-robin over the categories, each category alternating
    real faults and corpus cases (starting with a fault for every other category), so a
    handful still covers every category and both sources."""
    if limit is None or limit >= len(cases):
        return list(cases)
    buckets: list[list[Labelled]] = []
    for n, category in enumerate(CATEGORIES):
        faults = [c for c in cases if c.category is category and c.origin == "fault"]
        corpus = [c for c in cases if c.category is category and c.origin != "fault"]
        first, second = (faults, corpus) if n % 2 == 0 else (corpus, faults)
        merged = [c for pair in zip_longest(first, second) for c in pair if c is not None]
        buckets.append(merged)
    chosen: list[Labelled] = []
    while len(chosen) < limit:
        for bucket in buckets:
            if bucket and len(chosen) < limit:
                chosen.append(bucket.pop(0))
    return chosen


@dataclass(frozen=True)
class Judged:
    """One case's verdicts: the rules', and (with a model) the model's and the final one."""

    case: Labelled
    rules: Diagnosis
    result: DiagnosisResult | None = None
    seconds: float | None = None
    answered: bool = False  # the model sent something (no timeout, no error)
    valid: bool = False  # ... that parses and matches the schema
    llm_category: Category | None = None
    llm_restart_safe: bool | None = None
    quotes: int = 0
    quotes_grounded: int = 0
    tokens: int | None = None

    @property
    def final(self) -> Diagnosis:
        return self.result.final if self.result is not None else self.rules


def service_for(backend: Metered, timeout: float) -> DiagnosisService:
    # No cache and no cap: every case is one model call.
    settings = LLMSettings(
        backend="none", timeout_seconds=timeout, max_calls_per_hour=10**6, cache_ttl_seconds=0
    )
    return DiagnosisService(settings, backend=backend)


def judge(case: Labelled, service: DiagnosisService | None, meter: Metered | None) -> Judged:
    rules = classify(case.evidence)
    if service is None or meter is None:
        return Judged(case, rules)
    mark = meter.mark()
    started = time.perf_counter()
    result = service.diagnose(case.evidence)
    seconds = time.perf_counter() - started
    raw, usage = meter.since(mark)
    answered = bool(raw) and result.llm_outcome not in ("timeout", "error")
    tokens = sum(u.total for u in usage) if usage and any(u.total for u in usage) else None
    try:
        answer = parse_answer(raw[-1]) if answered else None
    except ValueError:
        answer = None
    if answer is None:
        return Judged(case, rules, result, seconds, answered, tokens=tokens)
    kept, dropped, _ = ground(answer.evidence, case.evidence)
    return Judged(
        case,
        rules,
        result,
        seconds,
        answered,
        True,
        answer.category_enum,
        answer.restart_safe,
        len(kept) + dropped,
        len(kept),
        tokens,
    )


# -- tables --------------------------------------------------------------------------------


def confusion(pairs: Sequence[tuple[Category, Category | None]], title: str) -> list[str]:
    """Expected (rows) against predicted (columns), with each row's accuracy; a "none" column
    (no valid answer) only when some case has one."""
    counts = Counter(pairs)
    columns: list[Category | None] = list(CATEGORIES)
    if any(got is None for _, got in pairs):
        columns.append(None)
    head = ["expected \\ got", *(c.value if c else "none" for c in columns), "accuracy"]
    rows = [head]
    for expected in CATEGORIES:
        total = sum(n for (e, _), n in counts.items() if e is expected)
        if total:
            hits = counts[(expected, expected)]
            cells = [str(counts[(expected, got)] or ".") for got in columns]
            rows.append([expected.value, *cells, f"{hits}/{total} {pct(hits, total)}"])
    hits = sum(n for (e, g), n in counts.items() if e is g)
    rows.append(["all", *([""] * len(columns)), f"{hits}/{len(pairs)} {pct(hits, len(pairs))}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [title]
    for row in rows:
        cells = [
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
