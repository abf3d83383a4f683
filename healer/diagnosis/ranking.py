"""Which finding decides: the line that explains the exit, not the last or loudest match.

Every signature that matches a line (or the container's facts alone) is a
candidate. A program prints much that is not why it stopped, and some of what
it prints is chosen by whoever feeds it input, so candidates are ordered by
what the Docker Engine reports first and by the text last:

1. **Fit to the exit.** How the last run ended (`Exit`: OOM kill, crash
   signal, resource-limit signal, stop, 0, 126/127, another code) comes from
   the engine, not from the program. A finding that explains it (a heap
   exhaustion for an OOM kill, a segfault for SIGSEGV, a shutdown line for a
   stop) outranks one that is merely compatible with it; one that contradicts
   a loud exit (a "connection refused" line in a container that was OOM-killed
   or stopped by an operator) is only context. SIGABRT is not loud: .NET, C++
   and Rust end any unhandled error with abort(). A stopped container's last
   health-check output is stale, so health lines fit only a live container.
2. **The run.** Lines printed since the container's last start outrank lines
   of earlier runs (`Evidence.run_lines`); a fact that explains the exit
   belongs to the last run too.
3. **Decisive lines.** A persistent failure the program itself files under
   DEBUG, INFO, NOTICE or WARN is one it carried on after (a cache directory it
   could not write, a client address MySQL could not resolve): ERROR, FATAL,
   [emerg] and unlevelled lines (tracebacks, panics) come first. A health
   check's output says that the service is unwell, not why, so the logs' lines
   come before it; a fallback fact ("exited with code 1") comes after both.
4. **Persistence.** A finding a restart cannot fix (`restart_safe: false`:
   configuration, persistent dependency failures, full disks) outranks a
   restartable one. Text printed after a configuration or dependency error —
   a user-supplied "java.lang.OutOfMemoryError" after nginx's "host not found
   in upstream" — can therefore never turn it into a restartable diagnosis.
5. **Priority** (specific signatures over generic ones), then **position**
   (nearest the end of the log), then the signature listed first.

Signatures that match the same line are compared first, by fit and priority
alone, so a line is read as its most specific signature says ("[emerg]
socket() failed (24: Too many open files)" is about file descriptors, not a
configuration error) before lines are compared with each other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from healer.diagnosis.exits import Exit
from healer.diagnosis.signatures import Signature

# Exits the engine reports loudly enough that a finding which does not explain them is context.
LOUD = frozenset({Exit.OOM, Exit.SIGNAL, Exit.LIMIT, Exit.STOP})
# A level is read from the start of a line, where loggers put it.
LEVEL_SPAN = 120
_LEVEL = re.compile(
    r"(?P<minor>"
    r"\b(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING)\b"
    r"|\[(?:[\w-]+:)?(?:trace\d?|debug|info|notice|warn|warning|Note|Warning|System|Info)\]"
    r'|(?i:\b(?:level|lvl|severity)"?\s*[=:]\s*"?(?:trace|debug|info|notice|warn|warning)\b)'
    r'|"level"\s*:\s*[1-4]0\b|"s"\s*:\s*"(?:I|W|D\d?)"'
    r"|^(?:trce|dbug|info|warn):|^[DIW], \[|^\S+\s+[IWD]\s+[A-Z]{3,}\s+\["
    r")|(?P<major>"
    r"\b(?:ERROR|ERR|FATAL|PANIC|CRIT|CRITICAL|ALERT|EMERG|SEVERE)\b"
    r"|\[(?:[\w-]+:)?(?:error|crit|alert|emerg|Error|ERROR)\]"
    r'|(?i:\b(?:level|lvl|severity)"?\s*[=:]\s*"?(?:error|err|fatal|panic|critical)\b)'
    r'|"level"\s*:\s*[56]0\b|"s"\s*:\s*"[EF]"'
    r"|^(?:fail|crit):|^[EF], \[|^\S+\s+[EF]\s+[A-Z]{3,}\s+\[|\b[Ff]atal error\b"
    r")"
)


@dataclass(frozen=True)
class Hit:
    """One signature matching one line (or the facts alone)."""

    sig: int  # index of the signature
    rank: int  # index of the pattern that matched (0 = the most telling)
    line: int  # index into the scanned lines; -1 when the facts alone matched
    match: re.Match[str] | None


@dataclass(frozen=True)
class Layout:
    """Where the scanned lines came from: (source, start, end) spans, and where the last run
    begins among the log lines."""

    lines: Sequence[str]
    spans: Sequence[tuple[str, int, int]]
    run_from: int  # index of the first log line of the last run (0 when unknown)

    def source(self, line: int) -> str:
        for source, start, end in self.spans:
            if start <= line < end:
                return source
        return "facts"


def is_minor(line: str) -> bool:
    """True when the line is marked DEBUG, INFO, NOTICE or WARN and nothing at its start says
    ERROR or worse (a supervisor logs a child's fatal error at WARNING: the error decides)."""
    groups = {m.lastgroup for m in _LEVEL.finditer(line[:LEVEL_SPAN])}
    return "minor" in groups and "major" not in groups


def decide(
    signatures: Sequence[Signature], hits: Sequence[Hit], layout: Layout, exit: Exit
) -> tuple[int, Hit]:
    """The winning signature and its lead hit (see the module's docstring for the order)."""
    return _Ranking(signatures, layout, exit).decide(hits)


class _Ranking:
    def __init__(self, signatures: Sequence[Signature], layout: Layout, exit: Exit) -> None:
        self.signatures = signatures
        self.layout = layout
        self.exit = exit

    def decide(self, hits: Sequence[Hit]) -> tuple[int, Hit]:
        # The most specific reading of each line first ...
        by_line: dict[int, Hit] = {}
        candidates: list[Hit] = []
        for hit in hits:
            if hit.line < 0:
                candidates.append(hit)
                continue
            best = by_line.get(hit.line)
            if best is None or self.reading(hit) > self.reading(best):
                by_line[hit.line] = hit
        # ... then the lines (and facts) against each other. The catch-all signature always
        # matches, so there is a candidate.
        candidates.extend(by_line.values())
        winner = max(candidates, key=self.weight)
        lead = max(
            (h for h in hits if h.sig == winner.sig), key=lambda h: (*self.tier(h), -h.rank, h.line)
        )
        return winner.sig, lead

    def fit(self, hit: Hit) -> int:
        """2 when the finding explains the exit, 1 when compatible with it, 0 when context."""
        if self.layout.source(hit.line) == "health" and self.exit is not Exit.LIVE:
            return 0
        if self.exit in self.signatures[hit.sig].exits:
            return 2
        return 0 if self.exit in LOUD else 1

    def tier(self, hit: Hit) -> tuple[int, int, int]:
        """(fit, in the last run, decisive)."""
        explains = self.fit(hit)
        if hit.line < 0:
            # A fact that explains the exit is as telling as a line; a fallback ("exited
            # with code 1") only stands when no line says more.
            return explains, int(explains == 2), int(explains == 2)
        sig = self.signatures[hit.sig]
        source = self.layout.source(hit.line)
        this_run = source != "logs" or hit.line >= self.layout.run_from
        if source == "health":
            # A probe's output says the service is unwell, not why: the logs' lines come first.
            return explains, int(this_run), 0
        # A persistent failure the program itself files under WARN or below is one it
        # carried on after (a cache dir it could not write, a client it could not resolve).
        demoted = (
            source == "logs" and not sig.restart_safe and is_minor(self.layout.lines[hit.line])
        )
        return explains, int(this_run), int(not demoted)

    def reading(self, hit: Hit) -> tuple[int, int, int]:
        return self.fit(hit), self.signatures[hit.sig].priority, -hit.sig

    def weight(self, hit: Hit) -> tuple[int, int, int, bool, int, int, int]:
        sig = self.signatures[hit.sig]
        return (*self.tier(hit), not sig.restart_safe, sig.priority, hit.line, -hit.sig)
