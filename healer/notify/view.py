"""What a notification says, decided once: an incident as a JSON-ready "view".

The view is built when a notification is queued and stored in the outbox row,
so a retry days later sends what was true when the incident concluded, and
every channel (HTML email, plain text, Slack, the storm digest) words it the
same way. Everything here is pure; the templates only lay it out.

All text in a view is data, never markup: the templates escape it.

Why one file over 300 lines: the incident view and the digest view share their
phrases, colours and safe-URL rules; one place keeps every channel worded alike.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from healer.model import Incident, IncidentStatus, Mode, iso
from healer.notify.surroundings import dependents_phrase, dependents_view, memory_view
from healer.redactor import Redactor

if TYPE_CHECKING:  # config builds sections from notify/: no import at run time
    from healer.config import HealerConfig

LOG_EXCERPT_LINES = 20
HEALTH_EXCERPT_LINES = 10
SUBJECT_REASON_CHARS = 60

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
SEVERITY_COLOURS = {"critical": "#b42318", "warning": "#b54708", "info": "#175cd3"}
UNKNOWN_SEVERITY_COLOUR = "#475467"

# Outcome groups: what a reader scans for first. Colours pass WCAG AA on white.
OUTCOME_GROUPS = {
    "healed": ("healed", "#067647"),
    "not_healed": ("NOT healed", "#b42318"),
    "diagnosis_only": ("diagnosis only", "#b54708"),
    "skipped": ("skipped", "#475467"),
    "resolved": ("resolved", "#067647"),
}

ALERT_PHRASES = {
    "ContainerDown": "down",
    "ContainerUnhealthy": "unhealthy",
    "ContainerOOMKilled": "OOM-killed",
    "ContainerCrashLooping": "crash-looping",
    "ContainerHighMemory": "high memory",
    "ContainerHighCpu": "high CPU",
}

# Labels the email already shows in their own place.
SHOWN_LABELS = frozenset({"alertname", "container", "severity", "instance", "host", "hostname"})

_WHITESPACE = re.compile(r"\s+")


# The signed approval links an incident's email offers (healer/approvals.py), if any.
ApprovalLinksFor = Callable[[Incident], list[dict[str, str]]]


@dataclass(frozen=True)
class ViewSettings:
    public_url: str
    grafana_url: str
    domain: str  # right-hand side of Message-IDs
    redactor: Redactor  # scrubs each view: it is stored in the outbox and sent as is
    approval_links: ApprovalLinksFor | None = None

    @classmethod
    def from_config(
        cls, config: HealerConfig, approval_links: ApprovalLinksFor | None = None
    ) -> ViewSettings:
        return cls(
            public_url=config.web.public_url,
            grafana_url=config.web.grafana_url,
            domain=mail_domain(config.smtp.sender),
            redactor=config.redactor,
            approval_links=approval_links,
        )


def mail_domain(address: str) -> str:
    domain = address.rpartition("@")[2].strip().strip(">").lower()
    return domain if re.fullmatch(r"[a-z0-9.-]+", domain or "-") else "healer"


def one_line(text: str, limit: int | None = None) -> str:
    """Collapse whitespace (headers may not carry newlines) and cut at `limit` chars."""
    text = _WHITESPACE.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def safe_url(url: str) -> str:
    """`url` when it is a plain http(s) link, else "" (no javascript:, data:, mailto: ...)."""
    url = url.strip()
    if not url or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return ""
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def severity_of(label: str) -> str:
    return one_line(label, 16).lower() or "warning"


def incident_message_id(incident: Incident, domain: str, suffix: str = "") -> str:
    """A Message-ID that is the same every time it is computed for this incident.

    Ids restart at 1 when a data dir is wiped; the opening time and the alert's
    fingerprint keep a new incident #1 from threading into an old one's mails.
    """
    stamp = int(incident.opened_at * 1000)
    fp = hashlib.sha256(incident.alert.fingerprint.encode()).hexdigest()[:8]
    tail = f".{suffix}" if suffix else ""
    return f"<incident-{incident.id}.{stamp}.{fp}{tail}@{domain}>"


def digest_message_id(item_id: int, created_at: float, domain: str) -> str:
    return f"<digest-{item_id}.{int(created_at * 1000)}@{domain}>"


def outcome_of(incident: Incident) -> tuple[str, str]:
    """(the subject's outcome phrase, its outcome group)."""
    status = incident.status
    reason = incident.decision.reason if incident.decision else ""
    restarts = incident.restarts
    if status is IncidentStatus.HEALED:
        return (f"healed after {plural(restarts, 'restart')}" if restarts else "healed"), "healed"
    if status is IncidentStatus.QUARANTINED:
        return "NOT healed, quarantined", "not_healed"
    if status is IncidentStatus.FAILED:
        if any(a.result == "error" for a in incident.actions):
            return "restart failed", "not_healed"
        if restarts:
            return f"NOT healed after {plural(restarts, 'restart')}", "not_healed"
        return "NOT healed: the healer hit an error", "not_healed"
    if status is IncidentStatus.SKIPPED:
        return f"skipped: {short_reason(reason, incident.container)}", "skipped"
    check = incident.mode is Mode.CHECK or reason.startswith("check mode")
    if status is IncidentStatus.RESOLVED:
        if check:
            return "check mode: diagnosis only (resolved)", "resolved"
        return "resolved", "resolved"
    if check:
        return "check mode: diagnosis only", "diagnosis_only"
    return f"not restarted: {short_reason(reason, incident.container)}", "diagnosis_only"


def short_reason(reason: str, container: str) -> str:
    """The first clause of a policy reason, without repeating the container's name."""
    first = reason.split(";")[0].strip() or "no reason recorded"
    if container and first.startswith(container + " "):
        first = first[len(container) + 1 :]
    return one_line(first, SUBJECT_REASON_CHARS)


def subject_for(incident: Incident, outcome: str) -> str:
    severity = severity_of(incident.severity).upper()
    what = incident.container or incident.alertname
    phrase = ALERT_PHRASES.get(incident.alertname, incident.alertname)
    phrase += dependents_phrase(incident)
    return one_line(f"[{severity}] {what} {phrase} — {outcome}", 200)


def _links(incident: Incident, settings: ViewSettings) -> list[dict[str, str]]:
    candidates = [
        (f"Incident #{incident.id}", f"{settings.public_url}/incidents/{incident.id}"),
        ("Prometheus", incident.alert.generator_url),
        ("Grafana dashboard", f"{settings.grafana_url}/d/itops-fleet"),
        ("Runbook", incident.alert.annotations.get("runbook_url", "")),
    ]
    links = []
    for label, url in candidates:
        if settings.public_url == "" and label.startswith("Incident"):
            continue
        if settings.grafana_url == "" and label.startswith("Grafana"):
            continue
        checked = safe_url(url)
        if checked:
            links.append({"label": label, "url": checked})
    return links


def _evidence(incident: Incident) -> dict[str, Any] | None:
    ev = incident.evidence
    if not ev:
        return None
    logs = [str(line) for line in ev.get("log_lines") or ()]
    health = [str(line) for line in ev.get("health_output") or ()]
    return {
        "exists": bool(ev.get("exists", True)),
        "state": ev.get("state"),
        "exit_code": ev.get("exit_code"),
        "oom_killed": ev.get("oom_killed"),
        "health_status": ev.get("health_status"),
        "restart_count": ev.get("restart_count"),
        "image": ev.get("image"),
        "started_at": ev.get("started_at"),
        "finished_at": ev.get("finished_at"),
        "log_excerpt": logs[-LOG_EXCERPT_LINES:],
        "log_total": len(logs),
        "health_output": health[-HEALTH_EXCERPT_LINES:],
        "truncated": bool(ev.get("truncated")),
    }


def _facts_phrase(evidence: Mapping[str, Any] | None) -> str:
    if not evidence:
        return ""
    if not evidence["exists"]:
        return "the container no longer exists"
    parts = []
    if evidence["state"]:
        parts.append(str(evidence["state"]))
    if evidence["exit_code"] not in (None, 0) or evidence["state"] == "exited":
        parts.append(f"exit code {evidence['exit_code']}")
    if evidence["oom_killed"]:
        parts.append("OOM-killed")
    if evidence["health_status"] not in (None, "", "none"):
        parts.append(str(evidence["health_status"]))
    return ", ".join(parts)


def _id_suffix(incident: Incident, kind: str) -> str:
    if kind == "resolved":
        return "resolved"
    if kind == "update":
        return f"update{incident.rounds}"
    return ""


def incident_view(
    incident: Incident, kind: str, settings: ViewSettings, *, now: float
) -> dict[str, Any]:
    """Everything the incident email, its follow-up and the Slack message show."""
    alert = incident.alert
    outcome, group = outcome_of(incident)
    label, outcome_colour = OUTCOME_GROUPS[group]
    severity = severity_of(incident.severity)
    evidence = _evidence(incident)
    diagnosis = incident.diagnosis
    verification = incident.verification
    annotations = dict(alert.annotations)
    closed = incident.closed_at
    view: dict[str, Any] = {
        "kind": kind,
        "incident_id": incident.id,
        "container": incident.container,
        "alertname": incident.alertname,
        "alert_phrase": ALERT_PHRASES.get(incident.alertname, incident.alertname),
        "severity": severity,
        "severity_colour": SEVERITY_COLOURS.get(severity, UNKNOWN_SEVERITY_COLOUR),
        "status": incident.status.value,
        "mode": incident.mode.value,
        "outcome": outcome,
        "outcome_group": group,
        "outcome_label": label,
        "outcome_colour": outcome_colour,
        "subject": subject_for(incident, outcome),
        "message_id": incident_message_id(incident, settings.domain, _id_suffix(incident, kind)),
        "root_message_id": incident_message_id(incident, settings.domain),
        "instance": alert.labels.get("instance", ""),
        "host": alert.labels.get("host") or alert.labels.get("hostname") or "",
        "summary": annotations.pop("summary", ""),
        "description": annotations.pop("description", ""),
        "annotations": sorted(
            [k, v] for k, v in annotations.items() if k != "runbook_url" and str(v).strip()
        ),
        "labels": sorted(
            [k, v] for k, v in alert.labels.items() if k not in SHOWN_LABELS and str(v).strip()
        ),
        "related_alerts": list(incident.related_alerts),
        "alert_started_at": iso(alert.starts_at),
        "opened_at": iso(incident.opened_at),
        "opened_epoch": incident.opened_at,
        "closed_at": iso(closed),
        "resolved_at": iso(incident.resolved_at),
        "time_to_outcome": duration_text(None if closed is None else closed - incident.opened_at),
        "facts_phrase": _facts_phrase(evidence),
        "evidence": evidence,
        "diagnosis": (
            {
                **diagnosis.to_dict(),
                "source_label": "LLM" if diagnosis.source.value == "llm" else "rules engine",
            }
            if diagnosis
            else None
        ),
        "llm_outcome": incident.llm_outcome,
        "decision": incident.decision.reason if incident.decision else "",
        "actions": [
            {**a.to_dict(), "duration": duration_text(a.to_dict()["duration_seconds"])}
            for a in incident.actions
        ],
        "verification": (
            {**verification.to_dict(), "waited": duration_text(verification.waited_seconds)}
            if verification
            else None
        ),
        "links": _links(incident, settings),
        "approvals": [a.to_dict() for a in incident.approvals],
        # Buttons for a held incident (a "resolved" follow-up has nothing left to approve).
        "approval_actions": (
            settings.approval_links(incident)
            if settings.approval_links is not None and kind != "resolved"
            else []
        ),
        "written_at": iso(now),
        "dependents": dependents_view(incident),
        "memory": memory_view(incident),
    }
    view["preheader"] = one_line(
        f"{outcome}. " + (diagnosis.root_cause if diagnosis else view["decision"]), 160
    )
    result: dict[str, Any] = settings.redactor.scrub_data(view)
    return result


def fallback_view(
    incident: Incident, kind: str, settings: ViewSettings, *, now: float, error: str
) -> dict[str, Any]:
    """A bare view for when building the full one failed: the email still goes out."""
    severity = severity_of(incident.severity)
    subject = one_line(f"[{severity.upper()}] {incident.container} — {incident.status.value}")
    view = {
        "kind": kind,
        "incident_id": incident.id,
        "container": incident.container,
        "alertname": incident.alertname,
        "severity": severity,
        "severity_colour": SEVERITY_COLOURS.get(severity, UNKNOWN_SEVERITY_COLOUR),
        "status": incident.status.value,
        "mode": incident.mode.value,
        "outcome": incident.status.value,
        "outcome_group": "not_healed",
        "outcome_label": incident.status.value,
        "outcome_colour": UNKNOWN_SEVERITY_COLOUR,
        "subject": subject,
        "message_id": incident_message_id(incident, settings.domain),
        "root_message_id": incident_message_id(incident, settings.domain),
        "opened_epoch": incident.opened_at,
        "opened_at": iso(incident.opened_at),
        "preheader": f"The healer could not lay out this incident ({error}); see its page.",
        "links": _links(incident, settings),
        "written_at": iso(now),
    }
    result: dict[str, Any] = settings.redactor.scrub_data(view)
    return result


def digest_view(
    members: Sequence[Mapping[str, Any]], settings: ViewSettings, *, now: float
) -> dict[str, Any]:
    """One message for an alert storm: a line per incident, counted by outcome."""
    ordered = sorted(
        members,
        key=lambda m: (-SEVERITY_RANK.get(str(m.get("severity")), 1), m.get("incident_id", 0)),
    )
    severity = max(
        (str(m.get("severity", "warning")) for m in members),
        key=lambda s: SEVERITY_RANK.get(s, 1),
        default="warning",
    )
    groups = Counter(str(m.get("outcome_group", "not_healed")) for m in members)
    counts = [
        {"label": OUTCOME_GROUPS[g][0], "colour": OUTCOME_GROUPS[g][1], "count": groups[g]}
        for g in OUTCOME_GROUPS
        if groups.get(g)
    ]
    phrases = {m.get("alert_phrase") for m in members}
    what = (
        f"{len(members)} containers {phrases.pop()}"
        if len(phrases) == 1
        else f"{len(members)} incidents"
    )
    summary = ", ".join(f"{c['count']} {c['label']}" for c in counts)
    opened = [float(m.get("opened_epoch", 0.0)) for m in members]
    links = []
    if settings.public_url:
        links.append({"label": "All incidents", "url": f"{settings.public_url}/"})
    if settings.grafana_url:
        links.append({"label": "Grafana dashboard", "url": f"{settings.grafana_url}/d/itops-fleet"})
    view = {
        "kind": "digest",
        "count": len(members),
        "severity": severity,
        "severity_colour": SEVERITY_COLOURS.get(severity, UNKNOWN_SEVERITY_COLOUR),
        "subject": one_line(f"[{severity.upper()}] Alert storm: {what} — {summary}", 200),
        "headline": f"{what} in one burst",
        "preheader": one_line(
            f"{what} within {duration_text(max(opened) - min(opened))}: {summary}.", 160
        ),
        "counts": counts,
        "first_opened_at": iso(min(opened)) if opened else None,
        "last_opened_at": iso(max(opened)) if opened else None,
        "incidents": [dict(m) for m in ordered],
        "links": [{"label": k["label"], "url": safe_url(k["url"])} for k in links],
        "written_at": iso(now),
    }
    result: dict[str, Any] = settings.redactor.scrub_data(view)
    return result
