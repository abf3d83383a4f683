"""The winning signature's finding as a Diagnosis: its sentences filled in, its lines quoted.

The root cause and the recommendation are the signature's templates, filled
with what the matched lines say (named groups: the directive, the host, the
variable) and with the container's facts. The evidence quotes the lines the
finding rests on verbatim, at most five and each capped, so a reader, the LLM
grounding check and the email can all point at them.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from healer.diagnosis.ranking import Hit
from healer.diagnosis.signatures import Signature
from healer.model import Diagnosis, Evidence, Source

MAX_EVIDENCE_LINES = 5
MAX_EVIDENCE_CHARS = 300
MAX_LINE_FIELD_CHARS = 200
MAX_GROUP_FIELD_CHARS = 120
# Lines of weak, generic signatures (a bare "FATAL") do not pad out the evidence.
SUPPORTING_MIN_PRIORITY = 30


def build_diagnosis(
    signatures: Sequence[Signature],
    evidence: Evidence,
    lines: Sequence[str],
    hits: Sequence[Hit],
    winner: int,
    lead: Hit,
) -> Diagnosis:
    """The Diagnosis of `signatures[winner]`, led by `lead`, quoting from `lines`."""
    sig = signatures[winner]
    own = sorted((h for h in hits if h.sig == winner), key=lambda h: -h.line)
    values = {
        **sig.defaults,
        **_groups([lead, *own]),
        **_standard_fields(evidence, lines, lead.line),
    }
    root_cause = sig.root_cause.format_map(values)
    facts = evidence.facts
    if facts is not None and facts.restart_count > 0 and "{restart_count}" not in sig.root_cause:
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
        evidence=_quotes(signatures, lines, hits, winner, lead, own),
        signature=sig.id,
        decisive_line=_quote(lines[lead.line]) if lead.line >= 0 else "",
    )


def _quotes(
    sigs: Sequence[Signature],
    lines: Sequence[str],
    hits: Sequence[Hit],
    winner: int,
    lead: Hit,
    own: Sequence[Hit],
) -> tuple[str, ...]:
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


def _quote(line: str) -> str:
    line = line.rstrip("\r\n")
    if len(line) <= MAX_EVIDENCE_CHARS:
        return line
    return line[: MAX_EVIDENCE_CHARS - 1] + "…"


def _trim(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _groups(hits: Sequence[Hit]) -> dict[str, str]:
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
