"""Whether the healer may restart a container: a pure function of plain values.

Every safety rule lives here, in the order a reviewer should read them, and
each refusal carries a reason a human can act on. Nothing in here talks to
Docker, the clock or the model: the caller gathers the facts, so the rules can
be tested exhaustively.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fleet.facts import ContainerFacts
from fleet.selector import LabelSelector
from healer.model import Alert, Decision, IncidentStatus, Mode

# A container label by which an operator narrows what the healer may do to it.
CONTAINER_MODE_LABEL = "healer.mode"
HEALABLE_ACTION = "restart"
CRASHLOOP_ALERT = "ContainerCrashLooping"


@dataclass(frozen=True)
class PolicySettings:
    mode: Mode
    selector: LabelSelector
    protected_label: str
    protected_containers: frozenset[str]
    max_restart_attempts: int
    crashloop_restarts: int
    llm_can_veto: bool
    # The breaker's window and when a quarantine lifts by itself: read by the pipeline
    # and the housekeeper, not by `decide` (which gets the history already counted).
    crashloop_window_seconds: float = 900.0
    quarantine_release_seconds: float = 600.0
    # HEALER_RECURRENCE_HOLD: a failure that keeps coming back is held for a human
    # instead of restarted (the memory only says so; this setting decides).
    recurrence_hold: bool = False


@dataclass(frozen=True)
class History:
    """What the healer has already done to this container."""

    restarts_in_window: int  # healer restarts within the crash-loop window, any incident
    attempts_this_incident: int
    quarantined: bool
    # When the container's previous incident ended `failed` within the crash-loop window
    # (its restart budget is spent: the same failure episode gets no fresh budget).
    failed_at: float | None = None


@dataclass(frozen=True)
class Advice:
    """The diagnosis as the policy may use it: two booleans, nothing else."""

    rules_restart_safe: bool = True
    llm_restart_safe: bool | None = None  # None: no valid model answer


@dataclass(frozen=True)
class Surroundings:
    """What the healer knows beyond this container's own failure. Each field can only
    hold a restart back, never cause one: the rules above them still decide."""

    # A provider this container depends on (Compose depends_on, healer.depends-on) that
    # is not healthy now: restarting the dependent first would not help.
    provider_down: str = ""
    # The incident memory: this failure's signature recurs past HEALER_RECURRENCE_THRESHOLD
    # (the phrase says how often), so a restart only hides it.
    recurring: str = ""


def _skip(reason: str, *, notify: bool = True) -> Decision:
    return Decision(restart=False, status=IncidentStatus.SKIPPED, reason=reason, notify=notify)


def _hold(reason: str) -> Decision:
    """No restart; the incident stays open for a human (and closes when the alert resolves)."""
    return Decision(restart=False, status=IncidentStatus.OPEN, reason=reason)


def decide(
    alert: Alert,
    facts: ContainerFacts | None,
    history: History,
    settings: PolicySettings,
    advice: Advice = Advice(),
    surroundings: Surroundings = Surroundings(),
    *,
    approved: bool = False,
) -> Decision:
    """Decide one step of one incident. Called again before every retry.

    `approved`: a person approved a restart of this incident through a signed link
    (healer/approvals.py). An approval lifts exactly the holds that exist to wait for
    a human: check mode (HEALER_MODE, or the mode the incident was accepted in), the
    diagnosis' "a restart will not help" (the rules', or the model's under
    LLM_CAN_VETO) and the incident memory's "this keeps coming back" (the person has
    seen the history in the email). Everything else still holds — the live managed
    label, identity, protected containers, an operator's container label, a provider
    that is down, quarantine, the breaker and the budget — and the person is always
    told the answer.
    """
    if not approved:
        return _decide(alert, facts, history, settings, advice, surroundings)
    lifted = _decide(
        alert,
        facts,
        history,
        replace(settings, mode=Mode.HEAL),
        Advice(),
        replace(surroundings, recurring=""),
    )
    if lifted.restart:
        reason = f"approved restart: {lifted.reason}"
    elif lifted.status is IncidentStatus.HEALED:
        reason = lifted.reason
    else:
        reason = f"{lifted.reason} (a restart was approved; an approval does not lift this)"
    return replace(lifted, reason=reason, notify=True)


def _decide(
    alert: Alert,
    facts: ContainerFacts | None,
    history: History,
    settings: PolicySettings,
    advice: Advice,
    surroundings: Surroundings,
) -> Decision:
    # 0. Alerts about the stack itself (daemon, exporter, healer) name no container.
    if not alert.container:
        return _hold(
            f"{alert.alertname} is not about one container; people are told, nothing is restarted"
        )
    # 1. Identity and authorisation come from the live container, never the alert.
    if facts is None:
        return _skip(f"container {alert.container!r} no longer exists; nothing to restart")
    if facts.name != alert.container:
        return _skip(
            f"the alert names {alert.container!r} but the container it identifies "
            f"({facts.short_id}) is named {facts.name!r}; an alert must name the live "
            "container it is about, so nothing is restarted"
        )
    if not settings.selector.matches(facts.labels):
        return _skip(
            f"{facts.name} does not carry the managed label {settings.selector} now; "
            "alert labels alone never authorise a restart"
        )
    if facts.name in settings.protected_containers or (
        settings.protected_label and settings.protected_label in facts.labels
    ):
        return _skip(f"{facts.name} is part of the healer's own stack; it is never restarted")
    alert_id = alert.labels.get("container_id", "")
    if alert_id and not facts.id.startswith(alert_id):
        return _skip(
            f"{facts.name} was replaced (alert is about {alert_id[:12]}, live container is "
            f"{facts.short_id}); the new container is not restarted on the old one's alert"
        )
    # 2. An operator's intent wins over automation.
    container_mode = facts.labels.get(CONTAINER_MODE_LABEL, "").lower()
    if container_mode == "off":
        return _skip(f"{facts.name} opted out with label {CONTAINER_MODE_LABEL}=off", notify=False)
    if facts.state == "paused":
        return _skip(f"{facts.name} is paused, which only an operator does; left alone")
    if facts.state in ("removing", "dead"):
        return _skip(f"{facts.name} is {facts.state}; left alone")
    # 3. The crash-loop breaker: stop, escalate once, never storm.
    if history.quarantined:
        return Decision(
            restart=False,
            status=IncidentStatus.QUARANTINED,
            reason=f"{facts.name} is quarantined; no restarts until it recovers or is cleared",
            notify=False,
        )
    if alert.alertname == CRASHLOOP_ALERT:
        return Decision(
            restart=False,
            status=IncidentStatus.QUARANTINED,
            reason=f"{facts.name} is crash-looping (restart count keeps rising); quarantined "
            "so nothing restarts it further; a human must look",
            quarantine=True,
        )
    if (
        history.failed_at is not None
        and not history.attempts_this_incident
        and facts.needs_attention
    ):
        return Decision(
            restart=False,
            status=IncidentStatus.QUARANTINED,
            reason=f"{facts.name}'s previous incident ended failed within the crash-loop "
            f"window: its {settings.max_restart_attempts} restarts are spent for this failure; "
            "quarantined until a human looks",
            quarantine=True,
        )
    if history.restarts_in_window >= settings.crashloop_restarts:
        return Decision(
            restart=False,
            status=IncidentStatus.QUARANTINED,
            reason=f"the healer already restarted {facts.name} {history.restarts_in_window} "
            "times in the crash-loop window; quarantined",
            quarantine=True,
        )
    # 4. Modes: check mode and non-restart alerts diagnose and notify only.
    if settings.mode is Mode.CHECK or container_mode == "check":
        where = "label healer.mode=check" if container_mode == "check" else "HEALER_MODE=check"
        return _hold(f"check mode ({where}): diagnosis only, no restart")
    if alert.labels.get("action") != HEALABLE_ACTION:
        return _hold(f"{alert.alertname} is not an alert a restart can fix; notify only")
    # 5. Is there still something to heal?
    if not facts.needs_attention:
        if history.attempts_this_incident > 0:
            n = history.attempts_this_incident
            restarts = f"{n} restart{'s' if n > 1 else ''}"
            return Decision(
                restart=False,
                status=IncidentStatus.HEALED,
                reason=f"{facts.name} is {facts.state} again after {restarts}"
                + (f" and {facts.health_status}" if facts.has_healthcheck else ""),
            )
        return _skip(
            f"{facts.name} is already {facts.state}"
            + (f" and {facts.health_status}" if facts.has_healthcheck else "")
            + "; it recovered before the healer acted"
        )
    # 6. Advice may only hold a restart back.
    if not advice.rules_restart_safe:
        return _hold("the diagnosis says a restart will not fix this; it needs a human")
    if settings.llm_can_veto and advice.llm_restart_safe is False:
        return _hold("restart withheld: the LLM advises against it (LLM_CAN_VETO=true)")
    # 7. What surrounds the failure may only hold a restart back, too.
    if surroundings.provider_down:
        return _hold(
            f"{surroundings.provider_down}, which {facts.name} depends on, is not healthy; "
            f"restarting {facts.name} would not help until it is"
        )
    if settings.recurrence_hold and surroundings.recurring:
        return _hold(
            f"this failure keeps coming back ({surroundings.recurring}): a restart only "
            "hides it; held for a human (HEALER_RECURRENCE_HOLD=true)"
        )
    # 8. The per-incident budget.
    if history.attempts_this_incident >= settings.max_restart_attempts:
        return Decision(
            restart=False,
            status=IncidentStatus.FAILED,
            reason=f"{history.attempts_this_incident} restart(s) did not bring {facts.name} "
            f"back (MAX_RESTART_ATTEMPTS={settings.max_restart_attempts})",
        )
    attempt = history.attempts_this_incident + 1
    return Decision(
        restart=True,
        status=IncidentStatus.OPEN,
        reason=f"{facts.name} is {facts.state}"
        + (f" ({facts.health_status})" if facts.has_healthcheck else "")
        + f"; restart attempt {attempt} of {settings.max_restart_attempts}",
    )
