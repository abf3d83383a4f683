"""The deterministic classifier: container facts, logs and health output in, a Diagnosis out.

It always runs, before and without the LLM, and its diagnosis is the one that
stands when the model is down, slow or wrong. What it knows lives in
`signatures.yaml` (one entry per known failure: patterns, category, whether a
restart can help, what a human should do), read and checked by `signatures.py`;
this module only matches it, fast:

1. Signatures whose fact conditions (exit code, OOMKilled, state, restart
   count, ...) do not hold are set aside; those without patterns match on the
   facts alone.
2. The last `scan_lines` log lines, the health-check output and Docker's own
   error are folded once per source (lowercase, digits dropped, punctuation
   to spaces). Folded, a service's ordinary traffic collapses into a few distinct
   line shapes (timestamps, ids and sizes fold away), so the rest of the work
   is per shape, not per line: the shapes' words are intersected with the
   words the keywords need (a keyword whose words are absent costs nothing),
   the remaining keywords are looked for in each shape, and a signature's
   regexes run only on the lines of the shapes that hold one of its keywords.
3. The decisive finding wins (`ranking.py`): the one that explains how the
   container exited, in its last run, at an error level, that a restart cannot
   fix, most specific, nearest the end — in that order. The winner's patterns
   are also tried on the lines around its lead line, to quote supporting lines
   that carry no keyword (Redis prints the offending directive on its own line).

`finding.py` turns the winner into a Diagnosis that quotes the lines it rests
on verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from fleet.facts import ContainerFacts
from healer.diagnosis.exits import exit_of
from healer.diagnosis.finding import build_diagnosis
from healer.diagnosis.ranking import Hit, Layout, decide
from healer.diagnosis.signatures import (
    FOLD_DELETE,
    FOLD_TABLE,
    SOURCES,
    Signature,
    SignatureError,
    fold,
    load_signatures,
    parse_signatures,
)
from healer.model import Diagnosis, Evidence

SCAN_LINES = 200
# Longer lines are matched on their start only: patterns stay linear, but a
# megabyte line should not cost a megabyte of regex work per pattern.
MAX_MATCH_CHARS = 4096
MAX_HEALTH_LINES = 20
NEIGHBOURHOOD = 3


@dataclass(frozen=True)
class _Probe:
    """One distinct keyword (or substring) and the signatures that use it."""

    text: bytes  # folded form, searched in the folded text
    words: frozenset[bytes]  # all must be words of the text; empty for substrings
    sigs: tuple[int, ...]


class Classifier:
    """Matches evidence against a signature table. Immutable and thread-safe."""

    def __init__(self, signatures: Sequence[Signature], *, scan_lines: int = SCAN_LINES) -> None:
        seen: set[str] = set()
        for sig in signatures:
            if sig.id in seen:
                raise SignatureError(f"signature {sig.id!r} is defined twice")
            seen.add(sig.id)
        if not any(sig.catch_all for sig in signatures):
            raise SignatureError("no catch-all signature (one without patterns and conditions)")
        if scan_lines < 1:
            raise SignatureError("scan_lines must be at least 1")
        self.signatures = tuple(signatures)
        self.scan_lines = scan_lines
        self._conditional = tuple(i for i, s in enumerate(signatures) if not s.when.empty)
        self._facts_only = tuple(i for i, s in enumerate(signatures) if not s.patterns)
        # Per source: the substring probes (always searched), the words any keyword
        # needs, and the keyword probes keyed by their longest word.
        self._substrings: dict[str, tuple[_Probe, ...]] = {}
        self._vocabulary: dict[str, frozenset[bytes]] = {}
        self._by_word: dict[str, dict[bytes, tuple[_Probe, ...]]] = {}
        self._unkeyed: dict[str, tuple[int, ...]] = {}
        for source in SOURCES:
            index: dict[tuple[bytes, bool], list[int]] = {}
            unkeyed: list[int] = []
            for i, sig in enumerate(signatures):
                if not sig.patterns or source not in sig.sources:
                    continue
                if not sig.keywords and not sig.substrings:
                    unkeyed.append(i)
                for keyword in sig.keywords:
                    index.setdefault((fold(keyword), False), []).append(i)
                for substring in sig.substrings:
                    index.setdefault((fold(substring), True), []).append(i)
            probes = [
                _Probe(text, frozenset() if anywhere else frozenset(text.split()), tuple(ids))
                for (text, anywhere), ids in index.items()
            ]
            by_word: dict[bytes, list[_Probe]] = {}
            for probe in probes:
                if probe.words:
                    by_word.setdefault(max(probe.words, key=len), []).append(probe)
            self._substrings[source] = tuple(p for p in probes if not p.words)
            self._vocabulary[source] = frozenset(w for p in probes for w in p.words)
            self._by_word[source] = {w: tuple(ps) for w, ps in by_word.items()}
            self._unkeyed[source] = tuple(unkeyed)

    @classmethod
    def from_yaml(cls, text: str, *, scan_lines: int = SCAN_LINES) -> Classifier:
        return cls(parse_signatures(text), scan_lines=scan_lines)

    @property
    def keyword_count(self) -> int:
        """Distinct keywords and substrings looked up in the logs."""
        return len(self._substrings["logs"]) + sum(map(len, self._by_word["logs"].values()))

    def classify(self, evidence: Evidence) -> Diagnosis:
        """The strongest matching signature, as a Diagnosis with source=rules."""
        facts = evidence.facts
        sigs = self.signatures
        blocked = {i for i in self._conditional if not sigs[i].when.hold(facts)}
        layout = self._layout(evidence)
        lines = layout.lines
        hits: list[Hit] = []
        for source, start, end in layout.spans:
            self._scan(lines, start, end, source, blocked, hits)
        hits.extend(Hit(i, 0, -1, None) for i in self._facts_only if i not in blocked)
        winner, lead = decide(sigs, hits, layout, exit_of(facts))
        if lead.line >= 0:
            self._neighbourhood(winner, lead.line, layout, hits)
        return build_diagnosis(sigs, evidence, lines, hits, winner, lead)

    def matching(self, line: str, source: str = "logs") -> tuple[str, ...]:
        """Ids of the signatures whose patterns recognise `line` alone, facts aside."""
        hits: list[Hit] = []
        self._scan([line], 0, 1, source, set(), hits)
        return tuple(self.signatures[h.sig].id for h in hits)

    # -- internals ---------------------------------------------------------

    def _layout(self, evidence: Evidence) -> Layout:
        facts = evidence.facts
        logs = _bounded(evidence.log_lines[-self.scan_lines :])
        run = evidence.run_lines
        run_from = 0 if run is None else max(0, len(logs) - run)
        health: Sequence[str] = evidence.health_output
        if not health and facts is not None:
            health = _failing_probe_output(facts)
        health = _bounded(health[-MAX_HEALTH_LINES:])
        docker = _bounded((facts.error,)) if facts is not None and facts.error else ()
        lines: list[str] = []
        spans: list[tuple[str, int, int]] = []
        for source, part in (("logs", logs), ("health", health), ("docker", docker)):
            if part:
                spans.append((source, len(lines), len(lines) + len(part)))
                lines.extend(part)
        # Logs come first, so an index among them is an index among all lines.
        return Layout(lines, spans, run_from)

    def _scan(
        self,
        lines: Sequence[str],
        start: int,
        end: int,
        source: str,
        blocked: set[int],
        hits: list[Hit],
    ) -> None:
        shapes = _shapes(lines[start:end])
        present = self._vocabulary[source].intersection(b" ".join(shapes).split())
        by_word = self._by_word[source]
        probes = [p for w in present for p in by_word.get(w, ()) if p.words <= present]
        probes.extend(self._substrings[source])
        tried: set[tuple[int, int]] = set()
        for probe in probes:
            live: list[int] | None = None
            for shape, indexes in shapes.items():
                if probe.text not in shape:
                    continue
                if live is None:
                    live = [s for s in probe.sigs if s not in blocked]
                if not live:
                    break
                for k in indexes:
                    for s in live:
                        if (s, k) not in tried:
                            tried.add((s, k))
                            self._try(s, start + k, lines, hits)
        for s in self._unkeyed[source]:
            if s not in blocked:
                for k in range(start, end):
                    self._try(s, k, lines, hits)

    def _try(self, s: int, k: int, lines: Sequence[str], hits: list[Hit]) -> None:
        for rank, pattern in enumerate(self.signatures[s].patterns):
            match = pattern.search(lines[k])
            if match is not None:
                hits.append(Hit(s, rank, k, match))
                return

    def _neighbourhood(self, winner: int, line: int, layout: Layout, hits: list[Hit]) -> None:
        """Try the winner's patterns on the lines around its lead, keywords or not."""
        done = {h.line for h in hits if h.sig == winner}
        lines = layout.lines
        for _, start, end in layout.spans:
            if start <= line < end:
                for k in range(
                    max(start, line - NEIGHBOURHOOD), min(end, line + NEIGHBOURHOOD + 1)
                ):
                    if k not in done:
                        self._try(winner, k, lines, hits)
                return


# -- helpers ---------------------------------------------------------------


def _bounded(lines: Sequence[str]) -> Sequence[str]:
    if max(map(len, lines), default=0) <= MAX_MATCH_CHARS:
        return lines
    return [line[:MAX_MATCH_CHARS] for line in lines]


def _shapes(segment: Sequence[str]) -> dict[bytes, list[int]]:
    """Lines grouped by their folded form: digits and punctuation fold away, so a
    service's ordinary traffic collapses into a few shapes, and the keyword search
    costs what the distinct lines cost, not what all lines cost."""
    folded = (
        "\n".join(segment)
        .encode("utf-8", "replace")
        .translate(FOLD_TABLE, FOLD_DELETE)
        .split(b"\n")
    )
    if len(folded) != len(segment):  # some line holds a newline of its own
        folded = [fold(line) for line in segment]
    shapes: dict[bytes, list[int]] = {}
    for k, shape in enumerate(folded):
        indexes = shapes.get(shape)
        if indexes is None:
            shapes[shape] = [k]
        else:
            indexes.append(k)
    return shapes


def _failing_probe_output(facts: ContainerFacts) -> tuple[str, ...]:
    for probe in reversed(facts.health_log):
        if probe.exit_code != 0 and probe.output.strip():
            return tuple(line for line in probe.output.splitlines() if line.strip())
    return ()


# -- the shipped table ---------------------------------------------------------


@cache
def default_classifier() -> Classifier:
    """The classifier over the shipped table, built once on first use."""
    return Classifier(load_signatures())


def classify(evidence: Evidence) -> Diagnosis:
    """Diagnose `evidence` with the shipped signature table (pure, no I/O after the first call)."""
    return default_classifier().classify(evidence)
