"""The deterministic classifier: container facts, logs and health output in, a Diagnosis out.

It always runs, before and without the LLM, and its diagnosis is the one that
stands when the model is down, slow or wrong. What it knows lives in
`signatures.yaml` (one entry per known failure: patterns, category, whether a
restart can help, what a human should do); this module only matches it, fast:

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
3. The strongest match wins: highest priority, then the lead line nearest the
   end of the log (then the signature listed first). The winner's patterns are
   also tried on the lines around its lead line, to quote supporting lines that
   carry no keyword (Redis prints the offending directive on its own line).

The result quotes the lines it rests on verbatim (at most five, each capped),
so a reader, the LLM grounding check and the email can all point at them.
"""

from __future__ import annotations

import re
import signal
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cache
from importlib import resources
from typing import Any

import yaml

from fleet.facts import ContainerFacts
from healer.model import Category, Diagnosis, Evidence, Source

SOURCES = ("logs", "health", "docker")
SCAN_LINES = 200
# Longer lines are matched on their start only: patterns stay linear, but a
# megabyte line should not cost a megabyte of regex work per pattern.
MAX_MATCH_CHARS = 4096
MAX_EVIDENCE_LINES = 5
MAX_EVIDENCE_CHARS = 300
MAX_LINE_FIELD_CHARS = 200
MAX_GROUP_FIELD_CHARS = 120
MAX_HEALTH_LINES = 20
NEIGHBOURHOOD = 3
# Lines of weak, generic signatures (a bare "FATAL") do not pad out the evidence.
SUPPORTING_MIN_PRIORITY = 30
STANDARD_FIELDS = frozenset(
    {"container", "exit_code", "signal", "state", "restart_count", "health_status", "line"}
)
_SIGNATURE_KEYS = frozenset(
    {
        "id",
        "category",
        "restart_safe",
        "priority",
        "root_cause",
        "recommendation",
        "patterns",
        "keywords",
        "substrings",
        "sources",
        "when",
        "defaults",
        "examples",
    }
)
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Folding for the keyword search: digits deleted (so lines that differ only in
# numbers fold to the same shape), ASCII letters to lowercase, `_`, newlines and
# non-ASCII bytes kept, everything else (punctuation, blanks) to a space.
_KEEP = frozenset(b"abcdefghijklmnopqrstuvwxyz_\n")
_FOLD = bytes(c + 32 if 65 <= c <= 90 else c if c in _KEEP or c >= 128 else 32 for c in range(256))
_DIGITS = b"0123456789"


class SignatureError(ValueError):
    """The signature table is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class Conditions:
    """Facts a signature requires; None means "any". All given ones must hold."""

    exists: bool | None = None
    oom_killed: bool | None = None
    exit_codes: frozenset[int] | None = None
    exit_nonzero: bool | None = None
    states: frozenset[str] | None = None
    health: frozenset[str] | None = None
    min_restart_count: int | None = None

    @property
    def empty(self) -> bool:
        return self == Conditions()

    def hold(self, facts: ContainerFacts | None) -> bool:
        if facts is None:
            # Without facts only "the container is gone" (or no condition at all) can hold.
            return self.exists is not True and replace(self, exists=None).empty
        return (
            self.exists is not False
            and (self.oom_killed is None or facts.oom_killed == self.oom_killed)
            and (self.exit_codes is None or facts.exit_code in self.exit_codes)
            and (self.exit_nonzero is None or (facts.exit_code != 0) == self.exit_nonzero)
            and (self.states is None or facts.state in self.states)
            and (self.health is None or facts.health_status in self.health)
            and (self.min_restart_count is None or facts.restart_count >= self.min_restart_count)
        )


@dataclass(frozen=True)
class Signature:
    """One known way a container fails (an entry of signatures.yaml)."""

    id: str
    category: Category
    restart_safe: bool
    priority: int
    root_cause: str
    recommendation: str
    patterns: tuple[re.Pattern[str], ...] = ()
    keywords: tuple[str, ...] = ()
    substrings: tuple[str, ...] = ()
    sources: frozenset[str] = frozenset(SOURCES)
    when: Conditions = field(default_factory=Conditions)
    defaults: Mapping[str, str] = field(default_factory=dict)
    examples: tuple[str, ...] = ()

    @property
    def catch_all(self) -> bool:
        return not self.patterns and self.when.empty


@dataclass(frozen=True)
class _Probe:
    """One distinct keyword (or substring) and the signatures that use it."""

    text: bytes  # folded form, searched in the folded text
    words: frozenset[bytes]  # all must be words of the text; empty for substrings
    sigs: tuple[int, ...]


@dataclass(frozen=True)
class _Hit:
    sig: int  # index of the signature
    rank: int  # index of the pattern that matched (0 = the most telling)
    line: int  # index into the scanned lines; -1 when the facts alone matched
    match: re.Match[str] | None


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
        lines, spans = self._lines(evidence)
        hits: list[_Hit] = []
        for source, start, end in spans:
            self._scan(lines, start, end, source, blocked, hits)
        hits.extend(_Hit(i, 0, -1, None) for i in self._facts_only if i not in blocked)
        return self._diagnose(evidence, lines, spans, hits)

    def matching(self, line: str, source: str = "logs") -> tuple[str, ...]:
        """Ids of the signatures whose patterns recognise `line` alone, facts aside."""
        hits: list[_Hit] = []
        self._scan([line], 0, 1, source, set(), hits)
        return tuple(self.signatures[h.sig].id for h in hits)

    # -- internals ---------------------------------------------------------

    def _lines(self, evidence: Evidence) -> tuple[list[str], list[tuple[str, int, int]]]:
        facts = evidence.facts
        logs = _bounded(evidence.log_lines[-self.scan_lines :])
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
        return lines, spans

    def _scan(
        self,
        lines: Sequence[str],
        start: int,
        end: int,
        source: str,
        blocked: set[int],
        hits: list[_Hit],
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

    def _try(self, s: int, k: int, lines: Sequence[str], hits: list[_Hit]) -> None:
        for rank, pattern in enumerate(self.signatures[s].patterns):
            match = pattern.search(lines[k])
            if match is not None:
                hits.append(_Hit(s, rank, k, match))
                return

    def _diagnose(
        self,
        evidence: Evidence,
        lines: Sequence[str],
        spans: Sequence[tuple[str, int, int]],
        hits: list[_Hit],
    ) -> Diagnosis:
        sigs = self.signatures
        lead: dict[int, _Hit] = {}
        for hit in hits:
            current = lead.get(hit.sig)
            if current is None or (hit.rank, -hit.line) < (current.rank, -current.line):
                lead[hit.sig] = hit
        # The catch-all always matches, so `lead` is never empty.
        winner = max(lead, key=lambda s: (sigs[s].priority, lead[s].line, -s))
        sig = sigs[winner]
        if lead[winner].line >= 0:
            self._neighbourhood(winner, lead[winner].line, lines, spans, hits)
        own = sorted((h for h in hits if h.sig == winner), key=lambda h: -h.line)
        values = {
            **sig.defaults,
            **_groups([lead[winner], *own]),
            **_standard_fields(evidence, lines, lead[winner].line),
        }
        root_cause = sig.root_cause.format_map(values)
        facts = evidence.facts
        if (
            facts is not None
            and facts.restart_count > 0
            and "{restart_count}" not in sig.root_cause
        ):
            times = "time" if facts.restart_count == 1 else "times"
            if not root_cause.endswith((".", "!", "?")):
                root_cause += "."
            root_cause += f" Docker has restarted it {facts.restart_count} {times} so far."
        return Diagnosis(
            category=sig.category,
            root_cause=root_cause,
            restart_safe=sig.restart_safe,
            recommendation=sig.recommendation.format_map(values),
            source=Source.RULES,
            evidence=self._quotes(lines, hits, winner, lead[winner], own),
            signature=sig.id,
            decisive_line=_quote(lines[lead[winner].line]) if lead[winner].line >= 0 else "",
        )

    def _neighbourhood(
        self,
        winner: int,
        line: int,
        lines: Sequence[str],
        spans: Sequence[tuple[str, int, int]],
        hits: list[_Hit],
    ) -> None:
        """Try the winner's patterns on the lines around its lead, keywords or not."""
        done = {h.line for h in hits if h.sig == winner}
        for _, start, end in spans:
            if start <= line < end:
                for k in range(
                    max(start, line - NEIGHBOURHOOD), min(end, line + NEIGHBOURHOOD + 1)
                ):
                    if k not in done:
                        self._try(winner, k, lines, hits)
                return

    def _quotes(
        self,
        lines: Sequence[str],
        hits: list[_Hit],
        winner: int,
        lead: _Hit,
        own: list[_Hit],
    ) -> tuple[str, ...]:
        sigs = self.signatures
        # Other signatures' lines support the finding only when they point the same
        # way: an old [emerg] is not evidence for a clean shutdown.
        category = sigs[winner].category
        supporting = sorted(
            (
                h
                for h in hits
                if h.sig != winner
                and sigs[h.sig].category is category
                and sigs[h.sig].priority >= SUPPORTING_MIN_PRIORITY
            ),
            key=lambda h: (-sigs[h.sig].priority, -h.line, h.sig),
        )
        chosen: dict[int, None] = {}
        texts: set[str] = set()
        for hit in (lead, *own, *supporting):
            if hit.line < 0 or hit.line in chosen or lines[hit.line] in texts:
                continue
            chosen[hit.line] = None
            texts.add(lines[hit.line])
            if len(chosen) == MAX_EVIDENCE_LINES:
                break
        return tuple(_quote(lines[k]) for k in sorted(chosen))


# -- helpers ---------------------------------------------------------------


def fold(text: str) -> bytes:
    """A keyword or a text as the keyword search sees it (see signatures.yaml)."""
    return text.encode("utf-8", "replace").translate(_FOLD, _DIGITS).strip()


def _bounded(lines: Sequence[str]) -> Sequence[str]:
    if max(map(len, lines), default=0) <= MAX_MATCH_CHARS:
        return lines
    return [line[:MAX_MATCH_CHARS] for line in lines]


def _shapes(segment: Sequence[str]) -> dict[bytes, list[int]]:
    """Lines grouped by their folded form: digits and punctuation fold away, so a
    service's ordinary traffic collapses into a few shapes, and the keyword search
    costs what the distinct lines cost, not what all lines cost."""
    folded = "\n".join(segment).encode("utf-8", "replace").translate(_FOLD, _DIGITS).split(b"\n")
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


def _quote(line: str) -> str:
    line = line.rstrip("\r\n")
    if len(line) <= MAX_EVIDENCE_CHARS:
        return line
    return line[: MAX_EVIDENCE_CHARS - 1] + "…"


def _trim(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _groups(hits: Sequence[_Hit]) -> dict[str, str]:
    """Named groups of the lead match first, then of the signature's other matches."""
    values: dict[str, str] = {}
    for hit in hits:
        if hit.match is None:
            continue
        for name, value in hit.match.groupdict().items():
            if value is not None and value.strip() and name not in values:
                values[name] = _trim(value, MAX_GROUP_FIELD_CHARS)
    return values


def signal_name(exit_code: int) -> str:
    """The signal behind an exit code of 128+N (137 → SIGKILL), or "no signal"."""
    number = exit_code - 128
    if not 0 < number < 65:
        return "no signal"
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _standard_fields(evidence: Evidence, lines: Sequence[str], lead_line: int) -> dict[str, str]:
    facts = evidence.facts
    name = evidence.container or (facts.name if facts else "") or "the container"
    line = _trim(lines[lead_line], MAX_LINE_FIELD_CHARS) if lead_line >= 0 else ""
    if facts is None:
        return {
            "container": name,
            "exit_code": "unknown",
            "signal": "no signal",
            "state": "missing",
            "restart_count": "0",
            "health_status": "none",
            "line": line,
        }
    return {
        "container": name,
        "exit_code": str(facts.exit_code),
        "signal": signal_name(facts.exit_code),
        "state": facts.state,
        "restart_count": str(facts.restart_count),
        "health_status": facts.health_status,
        "line": line,
    }


# -- loading -----------------------------------------------------------------


def parse_signatures(text: str) -> tuple[Signature, ...]:
    """Signatures from YAML text (`signatures:` list), validated; SignatureError names the entry."""
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader, C if available
    except yaml.YAMLError as exc:
        raise SignatureError(f"signatures are not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("signatures"), list):
        raise SignatureError("expected a mapping with a `signatures` list")
    return tuple(_signature(entry, n) for n, entry in enumerate(data["signatures"], 1))


def load_signatures() -> tuple[Signature, ...]:
    """The signature table shipped next to this module (package data)."""
    text = resources.files(__package__).joinpath("signatures.yaml").read_text(encoding="utf-8")
    return parse_signatures(text)


@cache
def default_classifier() -> Classifier:
    """The classifier over the shipped table, built once on first use."""
    return Classifier(load_signatures())


def classify(evidence: Evidence) -> Diagnosis:
    """Diagnose `evidence` with the shipped signature table (pure, no I/O after the first call)."""
    return default_classifier().classify(evidence)


def _signature(raw: Any, n: int) -> Signature:
    where = f"signature #{n}"
    if not isinstance(raw, Mapping):
        raise SignatureError(f"{where}: expected a mapping")
    if isinstance(raw.get("id"), str):
        where = f"signature {raw['id']!r}"
    unknown = set(raw) - _SIGNATURE_KEYS
    if unknown:
        raise SignatureError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    sig_id = raw.get("id")
    if not isinstance(sig_id, str) or not _ID.match(sig_id):
        raise SignatureError(f"{where}: `id` must be lowercase words joined by dashes")
    try:
        category = Category(str(raw.get("category")))
    except ValueError:
        choices = [c.value for c in Category]
        raise SignatureError(f"{where}: `category` must be one of {choices}") from None
    restart_safe = raw.get("restart_safe")
    if not isinstance(restart_safe, bool):
        raise SignatureError(f"{where}: `restart_safe` must be true or false")
    priority = raw.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 1000:
        raise SignatureError(f"{where}: `priority` must be an integer from 0 to 1000")
    texts = {key: raw.get(key) for key in ("root_cause", "recommendation")}
    for key, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise SignatureError(f"{where}: `{key}` must be a non-empty string")
    patterns = tuple(_compile(p, where) for p in _strings(raw, "patterns", where))
    keywords = _strings(raw, "keywords", where)
    substrings = _strings(raw, "substrings", where)
    for word in (*keywords, *substrings):
        if word != word.lower() or not fold(word):
            raise SignatureError(f"{where}: keyword {word!r} must be lowercase and hold a letter")
    sources = frozenset(_strings(raw, "sources", where)) or frozenset(SOURCES)
    if not sources <= set(SOURCES):
        raise SignatureError(f"{where}: `sources` must be among {list(SOURCES)}")
    if patterns and "logs" in sources and not (keywords or substrings):
        raise SignatureError(f"{where}: patterns over logs need keywords (or every line is tried)")
    if (keywords or substrings) and not patterns:
        raise SignatureError(f"{where}: keywords without patterns")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in defaults.items()
    ):
        raise SignatureError(f"{where}: `defaults` must map names to strings")
    when = _conditions(raw.get("when"), where)
    _check_fields(texts, patterns, defaults, where)
    return Signature(
        id=sig_id,
        category=category,
        restart_safe=restart_safe,
        priority=priority,
        root_cause=" ".join(str(texts["root_cause"]).split()),
        recommendation=" ".join(str(texts["recommendation"]).split()),
        patterns=patterns,
        keywords=keywords,
        substrings=substrings,
        sources=sources,
        when=when,
        defaults=dict(defaults),
        examples=_strings(raw, "examples", where),
    )


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SignatureError(f"{where}: `{key}` must be a list of strings")
    return tuple(value)


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise SignatureError(f"{where}: bad pattern {pattern!r}: {exc}") from exc


def _conditions(raw: Any, where: str) -> Conditions:
    if raw is None:
        return Conditions()
    if not isinstance(raw, Mapping):
        raise SignatureError(f"{where}: `when` must be a mapping")
    known = {f.name for f in fields(Conditions)}
    unknown = set(raw) - known
    if unknown:
        raise SignatureError(
            f"{where}: unknown condition(s) {', '.join(sorted(map(str, unknown)))}"
        )
    values: dict[str, Any] = {}
    for key in ("exists", "oom_killed", "exit_nonzero"):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise SignatureError(f"{where}: condition `{key}` must be true or false")
            values[key] = raw[key]
    if "min_restart_count" in raw:
        if not isinstance(raw["min_restart_count"], int) or isinstance(
            raw["min_restart_count"], bool
        ):
            raise SignatureError(f"{where}: condition `min_restart_count` must be an integer")
        values["min_restart_count"] = raw["min_restart_count"]
    if "exit_codes" in raw:
        codes = raw["exit_codes"]
        if not isinstance(codes, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in codes
        ):
            raise SignatureError(f"{where}: condition `exit_codes` must be a list of integers")
        values["exit_codes"] = frozenset(codes)
    for key in ("states", "health"):
        if key in raw:
            names = raw[key]
            if not isinstance(names, list) or not all(isinstance(s, str) for s in names):
                raise SignatureError(f"{where}: condition `{key}` must be a list of names")
            values[key] = frozenset(names)
    return Conditions(**values)


def _check_fields(
    texts: Mapping[str, Any],
    patterns: Sequence[re.Pattern[str]],
    defaults: Mapping[str, str],
    where: str,
) -> None:
    group_sets = [set(p.groupindex) for p in patterns]
    reserved = set().union(*group_sets) & STANDARD_FIELDS if group_sets else set()
    if reserved:
        raise SignatureError(f"{where}: group name(s) {sorted(reserved)} are reserved fields")
    always = set.intersection(*group_sets) if group_sets else set()
    allowed = (STANDARD_FIELDS - ({"line"} if not patterns else set())) | always | set(defaults)
    for key, template in texts.items():
        try:
            parsed = list(string.Formatter().parse(str(template)))
        except ValueError as exc:
            raise SignatureError(f"{where}: `{key}` is not a valid template: {exc}") from exc
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if spec or conversion or not name.isidentifier():
                raise SignatureError(f"{where}: `{key}` field {{{name}}} must be a plain name")
            if name not in allowed:
                raise SignatureError(
                    f"{where}: `{key}` uses {{{name}}}, which not every match provides "
                    "(add it to `defaults` or to every pattern)"
                )
