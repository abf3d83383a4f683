"""`python -m healer report INCIDENT_ID`: an incident as a Markdown post-mortem.

Built from what the store recorded — the alert, the evidence, the diagnosis, each
decision on the timeline, the restarts, the verification, who approved what, the
notifications — and the container's other incidents, ready to paste into a ticket.
Pure: the CLI reads the store and prints what this returns.

Everything from outside (alert text, log lines, model text, Docker's errors) is data:
inline text is Markdown-escaped, logs sit in fenced blocks longer than any run of
backticks inside them, so a log line cannot turn into a link, an image or markup in
the ticket it is pasted into.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from healer.model import Incident, iso
from healer.notify.view import ALERT_PHRASES, duration_text, one_line, safe_url

LOG_LINES = 40
# Inline markup (emphasis, code, links, HTML, table cells): with brackets escaped,
# parentheses are inert. What counts only at a line's start: see paragraph().
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")
_LINE_START = re.compile(r"^([#+=-]|\d{1,9}(?=[.)](?:\s|$)))")
_TICKS = re.compile(r"`+")


def text(value: object) -> str:
    """Outside text as one line of inert inline Markdown."""
    return _SPECIAL.sub(r"\\\1", one_line(str(value)))


def paragraph(value: object) -> str:
    """Outside text at the start of a line: also not a heading, list or quote."""
    escaped = text(value)
    match = _LINE_START.match(escaped)
    if match is None:
        return escaped
    # "# x", "- x", "+ x" and "= x" lose their meaning escaped; "1. x" by its dot.
    at = match.end() if match.group(1)[0].isdigit() else 0
    return escaped[:at] + "\\" + escaped[at:]


def code(lines: Iterable[str], info: str = "text") -> list[str]:
    body = [str(line) for line in lines]
    longest = max((len(run) for line in body for run in _TICKS.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *body, fence]


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += [
        "| " + " | ".join(text(cell) if cell != "" else " " for cell in row) + " |" for row in rows
    ]
    return out


def _when(ts: float | None) -> str:
    return iso(ts) or "—"


def postmortem(incident: Incident, related: Sequence[Incident] = (), *, now: float) -> str:
    """The post-mortem of `incident`; `related` are the container's other incidents."""
    what = incident.container or incident.alertname
    phrase = ALERT_PHRASES.get(incident.alertname, incident.alertname)
    lines = [f"# Post-mortem: incident #{incident.id}, {text(what)} {text(phrase)}", ""]
    lines += _summary(incident)
    for title, section in (
        ("What broke", _what_broke(incident)),
        ("Evidence", _evidence(incident)),
        ("Diagnosis", _diagnosis(incident)),
        ("Decisions", _decisions(incident)),
        ("Actions", _actions(incident)),
        ("Verification", _verification(incident)),
        ("Approvals", _approvals(incident)),
        ("Notifications", _notifications(incident)),
        ("Timeline", _timeline(incident)),
        ("Related incidents", _related(incident, related)),
    ):
        lines += ["", f"## {title}", "", *section]
    lines += ["", f"_Written by `python -m healer report {incident.id}` at {iso(now)}._", ""]
    return "\n".join(lines)


def _summary(i: Incident) -> list[str]:
    closed = i.closed_at
    after = f" (after {duration_text(closed - i.opened_at)})" if closed is not None else ""
    rows: list[tuple[str, object]] = [
        ("Status", i.status.value),
        ("Container", i.container or "—"),
        ("Host", i.host or "—"),
        ("Alert", f"{i.alertname} ({i.severity})"),
        ("Mode", i.mode.value),
        ("Opened", _when(i.opened_at)),
        ("Concluded", _when(closed) + after),
        ("Alert resolved", _when(i.resolved_at)),
        ("Decided", f"{i.rounds} time(s)"),
    ]
    return table(("", ""), rows)


def _what_broke(i: Incident) -> list[str]:
    annotations = i.alert.annotations
    out = []
    if annotations.get("summary"):
        out.append(f"**{text(annotations['summary'])}**")
        out.append("")
    if annotations.get("description"):
        out += [paragraph(annotations["description"]), ""]
    out.append(
        f"{paragraph(i.alertname)} fired at {_when(i.alert.starts_at)} for "
        f"{text(i.container or 'no single container')}."
    )
    if i.related_alerts:
        out.append(f"Also firing and joined to this incident: {text(', '.join(i.related_alerts))}.")
    labels = sorted((k, v) for k, v in i.alert.labels.items() if k != "alertname")
    if labels:
        out += ["", *table(("Label", "Value"), labels)]
    links = [
        (label, safe_url(url))
        for label, url in (
            ("Prometheus", i.alert.generator_url),
            ("Runbook", annotations.get("runbook_url", "")),
        )
    ]
    shown = [f"[{label}](<{url}>)" for label, url in links if url and ">" not in url]
    if shown:
        out += ["", "Links: " + " · ".join(shown)]
    return out


def _evidence(i: Incident) -> list[str]:
    ev = i.evidence
    if not ev:
        return ["No evidence was gathered (an alert about no single container)."]
    if not ev.get("exists", True):
        return [f"The container was not found when the healer looked, at {ev.get('collected_at')}."]
    rows = [
        ("State", ev.get("state")),
        ("Exit code", ev.get("exit_code")),
        ("OOM-killed", "yes" if ev.get("oom_killed") else "no"),
        ("Health", ev.get("health_status")),
        ("Restart count", ev.get("restart_count")),
        ("Image", ev.get("image")),
        ("Started at", ev.get("started_at")),
        ("Finished at", ev.get("finished_at")),
        ("Collected at", ev.get("collected_at")),
    ]
    out = table(("Fact", "Value"), [(k, "—" if v is None else v) for k, v in rows])
    logs = [str(line) for line in ev.get("log_lines") or ()][-LOG_LINES:]
    if logs:
        out += ["", f"Last {len(logs)} log line(s), secrets redacted:", "", *code(logs)]
    else:
        out += ["", "The container wrote no log lines."]
    health = [str(line) for line in ev.get("health_output") or ()]
    if health:
        out += ["", "Health check output:", "", *code(health)]
    return out


def _diagnosis(i: Incident) -> list[str]:
    d = i.diagnosis
    if d is None:
        return ["Not diagnosed."]
    source = "the LLM" if d.source.value == "llm" else "the rules engine"
    out = [
        f"- **Category:** {d.category.value} (from {source}; LLM: {text(i.llm_outcome or 'n/a')})",
        f"- **Root cause:** {text(d.root_cause)}",
        f"- **Restart safe:** {'yes' if d.restart_safe else 'no'}",
        f"- **Recommendation:** {text(d.recommendation)}",
    ]
    if d.note:
        out.append(f"- **Note:** {text(d.note)}")
    if d.evidence:
        out += ["", "The lines it rests on:", "", *code(d.evidence)]
    r = i.rules_diagnosis
    if r is not None and d.source.value == "llm":
        safe = "yes" if r.restart_safe else "no"
        out += [
            "",
            f"The rules said: {r.category.value}, restart safe {safe}: {text(r.root_cause)}",
        ]
    return out


def _decisions(i: Incident) -> list[str]:
    steps = [s for s in i.steps if s.step in ("decision", "mode", "redecide", "approval")]
    out = [f"1. {_when(s.at)} ({s.step}): {text(s.detail)}" for s in steps]
    if i.decision is not None:
        out += ["", f"Final: {text(i.decision.reason)}"]
    return out or ["No decision was recorded."]


def _actions(i: Incident) -> list[str]:
    if not i.actions:
        return ["No restart was issued."]
    rows = [
        (
            a.attempt,
            a.action,
            _when(a.started_at),
            duration_text(a.finished_at - a.started_at) if a.finished_at else "—",
            a.result,
            a.error,
        )
        for a in i.actions
    ]
    return table(("#", "Action", "Started", "Took", "Result", "Error"), rows)


def _verification(i: Incident) -> list[str]:
    v = i.verification
    if v is None:
        return ["Nothing to verify: no restart was issued."]
    verdict = "passed" if v.ok else "FAILED"
    return [
        f"**{verdict}**: {text(v.summary)}",
        "",
        f"State {text(v.state)}, health {text(v.health_status)}, watched for "
        f"{duration_text(v.waited_seconds)}, checked {_when(v.checked_at)}.",
    ]


def _approvals(i: Incident) -> list[str]:
    if not i.approvals:
        return ["Nobody approved an action on this incident."]
    return table(("Action", "At", "By"), [(a.action, _when(a.at), a.by) for a in i.approvals])


def _notifications(i: Incident) -> list[str]:
    if not i.notifications:
        return ["None."]
    rows = [
        (
            n.get("kind", ""),
            n.get("channel", ""),
            n.get("status", ""),
            n.get("attempts", ""),
            _when(n.get("sent_at")),
            n.get("last_error", ""),
        )
        for n in i.notifications
    ]
    return table(("Kind", "Channel", "Status", "Attempts", "Sent", "Last error"), rows)


def _timeline(i: Incident) -> list[str]:
    rows = [(_when(s.at), s.step, duration_text(s.duration_seconds), s.detail) for s in i.steps]
    return table(("At", "Step", "Took", "Detail"), rows)


def _related(i: Incident, related: Sequence[Incident]) -> list[str]:
    out = [
        f"- #{r.id} {text(r.alertname)}, {r.status.value}, opened {_when(r.opened_at)}"
        + (f": {text(r.decision.reason)}" if r.decision else "")
        for r in related
    ]
    if i.related_alerts:
        out.append(f"- Alerts that joined this incident: {text(', '.join(i.related_alerts))}")
    return out or [f"No other incidents of {text(i.container or i.alertname)} are recorded."]
