"""The healer's vocabulary: alerts, evidence, diagnoses, decisions and incidents.

Plain frozen values passed between the pipeline steps. Anything that crosses
into JSON (the API, the store, the email) goes through `to_dict`, so the
contract field names live here and nowhere else.

Why one file over 300 lines: these are a dozen small value types that refer to
each other (an Incident holds the rest); split, each would import most others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fleet.facts import ContainerFacts

# datetime's range in epoch seconds (0001-01-01 .. 9999-12-31T23:59:59 UTC).
_FIRST_SHOWABLE = -62_135_596_800.0
_LAST_SHOWABLE = 253_402_300_799.0


def iso(ts: float | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC with milliseconds, as the API and emails show time.

    Total: a time past datetime's range (stored before intake clamped times) shows as
    its first or last instant rather than failing the whole page or list it is on.
    """
    if ts is None or math.isnan(ts):
        return None
    ts = min(max(ts, _FIRST_SHOWABLE), _LAST_SHOWABLE)
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Category(StrEnum):
    CONFIGURATION = "configuration"
    RESOURCE = "resource"
    DEPENDENCY = "dependency"
    CRASH = "crash"
    UNKNOWN = "unknown"


class Source(StrEnum):
    RULES = "rules"
    LLM = "llm"


class IncidentStatus(StrEnum):
    OPEN = "open"
    HEALED = "healed"
    FAILED = "failed"
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"
    RESOLVED = "resolved"

    @property
    def terminal(self) -> bool:
        return self is not IncidentStatus.OPEN


class Mode(StrEnum):
    CHECK = "check"
    HEAL = "heal"

    def strictest(self, other: Mode) -> Mode:
        """Check wins: an incident accepted in heal mode is handled in check mode once the
        healer runs in check mode, and a check-mode incident is never healed."""
        return Mode.CHECK if Mode.CHECK in (self, other) else Mode.HEAL


@dataclass(frozen=True)
class Alert:
    """One alert of an Alertmanager v4 webhook (or a synthetic one from a scan)."""

    fingerprint: str
    status: str  # "firing" | "resolved"
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None = None
    generator_url: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def container(self) -> str:
        return self.labels.get("container", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "warning")

    @property
    def restartable(self) -> bool:
        """The rules marked this alert as one a restart may fix (`action="restart"`)."""
        return self.labels.get("action") == "restart"

    def to_json(self) -> dict[str, Any]:
        """The stored form (epoch seconds, exact); `to_dict` is the API's form."""
        return {
            "fingerprint": self.fingerprint,
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "generator_url": self.generator_url,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        return cls(
            fingerprint=data["fingerprint"],
            status=data["status"],
            labels=data["labels"],
            annotations=data["annotations"],
            starts_at=data["starts_at"],
            ends_at=data.get("ends_at"),
            generator_url=data.get("generator_url", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": iso(self.starts_at),
            "endsAt": iso(self.ends_at),
            "generatorURL": self.generator_url,
        }


@dataclass(frozen=True)
class Evidence:
    """What the healer saw of a container when an incident was processed.

    Log and health lines are already redacted and size-capped: nothing in here
    may leak a secret into the model, the email or the history.
    """

    container: str
    facts: ContainerFacts | None
    log_lines: tuple[str, ...] = ()
    health_output: tuple[str, ...] = ()
    collected_at: float = 0.0
    truncated: bool = False
    # How many of the last log lines the container printed since its last start (None: not
    # known). Lines before them belong to earlier runs: the classifier weighs them less.
    run_lines: int | None = None

    def to_dict(self) -> dict[str, Any]:
        facts = self.facts
        return {
            "container": self.container,
            "exists": facts is not None,
            "state": facts.state if facts else None,
            "exit_code": facts.exit_code if facts else None,
            "oom_killed": facts.oom_killed if facts else None,
            "health_status": facts.health_status if facts else None,
            "restart_count": facts.restart_count if facts else None,
            "image": facts.image if facts else None,
            "started_at": iso(facts.started_at) if facts else None,
            "finished_at": iso(facts.finished_at) if facts else None,
            "log_lines": list(self.log_lines),
            "health_output": list(self.health_output),
            "collected_at": iso(self.collected_at),
            "truncated": self.truncated,
        }


@dataclass(frozen=True)
class Diagnosis:
    """Why a container failed and whether restarting it can help.

    `source` says who wrote it. `evidence` holds the lines it rests on, quoted
    verbatim from the logs or health output. `note` records, e.g., why a model
    answer was not used; it is display text only and never steers control flow.
    """

    category: Category
    root_cause: str
    restart_safe: bool
    recommendation: str
    source: Source
    evidence: tuple[str, ...] = ()
    signature: str = ""
    note: str = ""
    # The line the classifier's verdict rests on (its strongest match), "" when the facts
    # alone decided: with `signature` it names the failure for the incident memory.
    decisive_line: str = ""

    def with_note(self, note: str) -> Diagnosis:
        return replace(self, note=note)

    def map_text(self, fix: Callable[[str], str]) -> Diagnosis:
        """A copy with `fix` applied to every free-text field (e.g. a redactor's clean)."""
        return replace(
            self,
            root_cause=fix(self.root_cause),
            recommendation=fix(self.recommendation),
            evidence=tuple(fix(line) for line in self.evidence),
            note=fix(self.note),
            decisive_line=fix(self.decisive_line),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "root_cause": self.root_cause,
            "restart_safe": self.restart_safe,
            "recommendation": self.recommendation,
            "source": self.source.value,
            "evidence": list(self.evidence),
            "signature": self.signature,
            "note": self.note,
            "decisive_line": self.decisive_line,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Diagnosis:
        return cls(
            category=Category(data["category"]),
            root_cause=str(data["root_cause"]),
            restart_safe=bool(data["restart_safe"]),
            recommendation=str(data["recommendation"]),
            source=Source(data["source"]),
            evidence=tuple(str(x) for x in data.get("evidence", ())),
            signature=str(data.get("signature", "")),
            note=str(data.get("note", "")),
            decisive_line=str(data.get("decisive_line", "")),
        )


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


@dataclass(frozen=True)
class ActionAttempt:
    """One restart the healer issued, with its outcome and timing."""

    attempt: int
    action: str  # "restart"
    started_at: float
    finished_at: float | None = None
    result: str = "pending"  # pending | ok | error
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        duration = None
        if self.finished_at is not None:
            duration = round(self.finished_at - self.started_at, 3)
        return {
            "attempt": self.attempt,
            "action": self.action,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_seconds": duration,
            "result": self.result,
            "error": self.error,
        }


@dataclass(frozen=True)
class Dependent:
    """A container that failed with the incident's container because it depends on it
    (Compose depends_on, healer.depends-on): listed in the provider's incident, and
    restarted after the provider is healthy again if it is still down."""

    container: str
    via: str  # how it joined: "graph" (found failing), "alert" (its own alert), "incident"
    joined_at: float
    outcome: str = "pending"  # pending | recovered | healed | not_healed | held | skipped
    reason: str = ""
    alertname: str = ""  # its own alert, when one arrived
    merged_incident: int | None = None  # its own incident, folded into this one
    handled_at: float | None = None
    actions: tuple[ActionAttempt, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "via": self.via,
            "joined_at": iso(self.joined_at),
            "outcome": self.outcome,
            "reason": self.reason,
            "alertname": self.alertname or None,
            "merged_incident": self.merged_incident,
            "handled_at": iso(self.handled_at),
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass(frozen=True)
class Verification:
    """Whether the container came back and stayed back after the last restart."""

    ok: bool
    state: str
    health_status: str
    summary: str
    checked_at: float
    waited_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "state": self.state,
            "health_status": self.health_status,
            "summary": self.summary,
            "checked_at": iso(self.checked_at),
            "waited_seconds": round(self.waited_seconds, 3),
        }

    def to_json(self) -> dict[str, Any]:
        """The stored form (epoch seconds, exact); `to_dict` is the API's form."""
        return {**self.to_dict(), "checked_at": self.checked_at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verification:
        return cls.from_dict(data, checked_at=float(data["checked_at"]))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], checked_at: float) -> Verification:
        return cls(
            ok=bool(data["ok"]),
            state=str(data["state"]),
            health_status=str(data["health_status"]),
            summary=str(data["summary"]),
            checked_at=checked_at,
            waited_seconds=float(data.get("waited_seconds", 0.0)),
        )


@dataclass(frozen=True)
class Decision:
    """What the policy allows for one incident, and the reason a human can read."""

    restart: bool
    status: IncidentStatus  # the status the incident takes when no restart is issued
    reason: str
    quarantine: bool = False
    notify: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(
            restart=bool(data["restart"]),
            status=IncidentStatus(data["status"]),
            reason=str(data["reason"]),
            quarantine=bool(data.get("quarantine", False)),
            notify=bool(data.get("notify", True)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "restart": self.restart,
            "status": self.status.value,
            "reason": self.reason,
            "quarantine": self.quarantine,
            "notify": self.notify,
        }


@dataclass(frozen=True)
class Step:
    """One timed step of an incident's pipeline (intake, evidence, diagnosis, ...)."""

    at: float
    step: str
    detail: str = ""
    duration_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "step": self.step,
            "detail": self.detail,
            "duration_seconds": (
                None if self.duration_seconds is None else round(self.duration_seconds, 4)
            ),
        }


@dataclass(frozen=True)
class Approval:
    """A person's approval of one action on an incident, given through a signed link."""

    action: str  # restart | quarantine | resolve (healer/approval_token.py)
    at: float
    by: str  # the requester's address, as the server saw it (REMOTE_ADDR)
    round: int  # the decision round it opened: an approved restart is decided in that round

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "at": iso(self.at), "by": self.by}


@dataclass(frozen=True)
class Incident:
    """One alert's life in the healer, as stored and as the API shows it.

    `evidence` is kept in its JSON form: it is for people (API, email, status
    page); the pipeline always works from freshly gathered evidence.
    """

    id: int
    container: str
    alertname: str
    status: IncidentStatus
    mode: Mode
    opened_at: float
    alert: Alert
    closed_at: float | None = None
    resolved_at: float | None = None
    stage: str = "queued"
    evidence: Mapping[str, Any] | None = None
    diagnosis: Diagnosis | None = None
    rules_diagnosis: Diagnosis | None = None
    llm_outcome: str = ""
    decision: Decision | None = None
    actions: tuple[ActionAttempt, ...] = ()
    verification: Verification | None = None
    notifications: tuple[Mapping[str, Any], ...] = ()
    related_alerts: tuple[str, ...] = field(default=())
    steps: tuple[Step, ...] = ()
    concluded: bool = False
    # A later alert that a restart may fix, attached to this incident: the policy acts
    # on it (its labels and container id) instead of the alert that opened the incident.
    acting_alert: Alert | None = None
    rounds: int = 1  # how many times the incident was decided (a held one is re-decided)
    host: str = ""  # the Docker host it is about ("" = the one host, without a host map)
    approvals: tuple[Approval, ...] = ()  # oldest first
    # Containers that depend on this one and failed with it (healer/cascade.py).
    dependents: tuple[Dependent, ...] = ()
    # This incident was about a dependent and was folded into its provider's incident.
    grouped_into: int | None = None
    # Earlier incidents with the same failure signature (healer/memory.py), as shown.
    memory: Mapping[str, Any] | None = None

    @property
    def severity(self) -> str:
        return self.alert.severity

    @property
    def action_alert(self) -> Alert:
        """The alert the pipeline decides on."""
        return self.acting_alert or self.alert

    @property
    def restarts(self) -> int:
        return sum(1 for a in self.actions if a.action == "restart")

    @property
    def restart_approved(self) -> bool:
        """A person approved a restart for the round being decided now."""
        return any(a.action == "restart" and a.round == self.rounds for a in self.approvals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host or None,
            "container": self.container,
            "alertname": self.alertname,
            "status": self.status.value,
            "mode": self.mode.value,
            "severity": self.severity,
            "stage": self.stage,
            "opened_at": iso(self.opened_at),
            "closed_at": iso(self.closed_at),
            "resolved_at": iso(self.resolved_at),
            "alert": self.alert.to_dict(),
            "evidence": dict(self.evidence) if self.evidence else None,
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis else None,
            "rules_diagnosis": self.rules_diagnosis.to_dict() if self.rules_diagnosis else None,
            "llm_outcome": self.llm_outcome,
            "decision": self.decision.to_dict() if self.decision else None,
            "actions": [a.to_dict() for a in self.actions],
            "verification": self.verification.to_dict() if self.verification else None,
            "notifications": [dict(n) for n in self.notifications],
            "related_alerts": list(self.related_alerts),
            "acting_alert": self.acting_alert.to_dict() if self.acting_alert else None,
            "rounds": self.rounds,
            "approvals": [a.to_dict() for a in self.approvals],
            "steps": [s.to_dict() for s in self.steps],
            "dependents": [d.to_dict() for d in self.dependents],
            "grouped_into": self.grouped_into,
            "memory": dict(self.memory) if self.memory else None,
        }
