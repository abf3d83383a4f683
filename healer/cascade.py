"""Dependency-aware healing: a provider and the dependents that failed with it are one
incident, healed provider first.

Before an incident is diagnosed, the pipeline asks `place` where it belongs:

- about a *dependent* whose provider has an incident (queued, in progress, or held
  open within the window): folded into it, no email of its own;
- about a dependent whose provider is failing but has no incident yet: it waits
  (handed back to the queue) up to HEALER_DEPENDENCY_WINDOW_SECONDS for the
  provider's alert; after that it is handled alone, and the policy holds its
  restart while the provider is down;
- about a *provider*: its failing dependents are listed in it now, and their
  alerts join it at intake.

After the provider's incident concluded, `heal_dependents` looks at each listed
dependent, in dependency order: untouched while the provider is not healthy or
when it recovered by itself, otherwise restarted and verified through the same
policy as any container (live managed label, identity, budget, quarantine,
check mode), one at a time.

The graph is read from one container list of the incident's host per incident
(healer/dependency_graph.py); a list that fails costs the grouping, never the
incident.

Why one file over 300 lines: placing an incident and healing its dependents
afterwards are the two halves of one ordering rule, kept side by side.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fleet.selector import LabelSelector, is_critical
from healer.actions import VerifySettings, verify
from healer.budget import history_for
from healer.clock import Clock
from healer.dependency_graph import DependencyGraph, DependencySettings
from healer.diagnosis.classifier import classify
from healer.docker_port import ContainerSummary, DockerPort
from healer.errors import DockerActionError, DockerUnavailableError, HealerError
from healer.evidence import gather
from healer.hosts import quarantine_key
from healer.metrics import HealerMetrics
from healer.model import Alert, Category, Decision, Dependent, Incident, IncidentStatus
from healer.policy import Advice, PolicySettings, decide
from healer.redactor import Redactor
from healer.store import Store
from healer.store.members import CLOSED
from healer.synthetic import synthetic_alert

log = logging.getLogger(__name__)

# A dependent waiting for its provider's incident looks again this often.
WAIT_POLL_SECONDS = 0.5
# States in which a provider is failing but no alert (nor scan) will ever open an
# incident about it: an operator paused it, or nobody ever started it.
NO_INCIDENT_STATES = ("created", "paused")

OUTCOMES = {
    IncidentStatus.HEALED: "healed",
    IncidentStatus.FAILED: "not_healed",
    IncidentStatus.QUARANTINED: "not_healed",
    IncidentStatus.OPEN: "held",
    IncidentStatus.SKIPPED: "skipped",
    IncidentStatus.RESOLVED: "held",
}


@dataclass(frozen=True)
class Neighbourhood:
    """The graph of the incident's host and how each container is doing now."""

    graph: DependencyGraph
    containers: dict[str, ContainerSummary]

    def failing(self, name: str) -> bool:
        found = self.containers.get(name)
        return found is not None and found.needs_attention


@dataclass(frozen=True)
class Placement:
    """Where an incident belongs: folded into `lead`, waiting, or handled here (with
    the nearest provider that is down, which holds its restart back)."""

    lead: int | None = None
    wait_for: str = ""
    provider_down: str = ""
    echo: bool = False  # a late alert of a dependent its provider's incident healed


class Cascade:
    def __init__(
        self,
        settings: DependencySettings,
        *,
        selector: LabelSelector,
        critical_services: frozenset[str],
        verify_settings: VerifySettings,
        log_lines: int,
        redactor: Redactor,
        store: Store,
        clock: Clock,
        metrics: HealerMetrics,
    ) -> None:
        self.settings = settings
        self._selector = selector
        self._critical = critical_services
        self._verify = verify_settings
        self._log_lines = log_lines
        self._redactor = redactor
        self._store = store
        self._clock = clock
        self._metrics = metrics

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def look(self, docker: DockerPort) -> Neighbourhood:
        try:
            listed = docker.summaries(self._selector)
        except HealerError as exc:
            log.warning("dependency graph unavailable: %s", exc)
            return Neighbourhood(DependencyGraph.empty(), {})
        return Neighbourhood(
            DependencyGraph.of((c.name, c.labels) for c in listed), {c.name: c for c in listed}
        )

    # -- before: where the incident belongs --------------------------------------

    def place(self, incident: Incident, docker: DockerPort) -> Placement:
        store, now = self._store, self._clock.now()
        near = self.look(docker)
        name, host = incident.container, incident.host
        ancestors = list(near.graph.ancestors(name))
        if ancestors:
            since = incident.opened_at - self.settings.window_seconds
            lead = store.find_lead(host, ancestors, incident.mode.value, since, now)
            if lead is not None and store.fold_into(
                lead.id, incident.id, incident.action_alert, now
            ):
                return Placement(lead=lead.id)
            if not near.failing(name):
                handled = store.handled_in(host, name, now - self.settings.window_seconds)
                if handled is not None:
                    return Placement(lead=handled, echo=True)
            failing = [a for a in ancestors if near.failing(a)]
            expecting = [a for a in failing if near.containers[a].state not in NO_INCIDENT_STATES]
            if expecting and now < incident.opened_at + self.settings.window_seconds:
                return Placement(wait_for=expecting[-1])
            if failing:
                return Placement(provider_down=failing[0])
        dependents = near.graph.dependents(name)
        if dependents:
            store.open_membership(incident.id, now)
            failing_now = [d for d in dependents if near.failing(d)]
            if failing_now:
                store.add_members(incident.id, host, failing_now, "graph", now)
        return Placement()

    def record_grouped(self, incident: Incident, placement: Placement) -> None:
        """A dependent's incident, folded into its provider's: recorded, never emailed."""
        now = self._clock.now()
        lead = placement.lead
        if placement.echo and lead is not None:
            self._store.mark_grouped(incident.id, lead, now)
            reason = (
                f"{incident.container} is healthy again: incident #{lead} about a container it "
                "depends on already restarted it; this alert came after"
            )
        else:
            reason = (
                f"{incident.container} depends on the container of incident #{lead}, which "
                "failed with it: handled there, as one incident"
            )
        decision = Decision(
            restart=False, status=IncidentStatus.SKIPPED, reason=reason, notify=False
        )
        self._store.save_decision(incident.id, decision, now)
        self._store.add_step(incident.id, now, "grouped", reason)
        self._store.conclude(incident.id, decision.status, now)
        self._metrics.incidents.labels(decision.status.value).inc()

    # -- after: the dependents, once the provider's incident concluded --------------

    def heal_dependents(
        self, incident: Incident, docker: DockerPort, settings: PolicySettings
    ) -> bool:
        """Handle every pending dependent of `incident`, then close its membership (a
        dependent that joined meanwhile is handled before it closes). True when any
        dependent was handled (the incident as read before is out of date then)."""
        store = self._store
        handled = False
        while True:
            pending = store.pending_members(incident.id)
            if not pending:
                held_open = incident.status is IncidentStatus.OPEN
                until = incident.opened_at + self.settings.window_seconds if held_open else CLOSED
                if store.close_membership(incident.id, until):
                    return handled
                continue
            handled = True
            near = self.look(docker)
            order = {n: i for i, n in enumerate(near.graph.dependents(incident.container))}
            pending.sort(key=lambda m: (order.get(m[0].container, len(order)), m[0].container))
            provider = docker.find(incident.container)
            provider_ok = (
                provider is not None
                and provider.running
                and provider.health_status in ("healthy", "none")
            )
            not_healed: set[str] = set()
            for member, alert in pending:
                if not provider_ok:
                    state = "gone" if provider is None else provider.state
                    if provider is not None and provider.has_healthcheck:
                        state += f", {provider.health_status}"
                    outcome, reason = (
                        "held",
                        f"not restarted: {incident.container} is not healthy ({state}); "
                        f"{member.container} waits for it",
                    )
                elif blocked := sorted(set(near.graph.ancestors(member.container)) & not_healed):
                    outcome, reason = (
                        "held",
                        f"not restarted: {blocked[0]}, which it depends on, was not healed",
                    )
                else:
                    outcome, reason = self._heal_one(incident, member, alert, docker, settings)
                if outcome not in ("healed", "recovered"):
                    not_healed.add(member.container)
                now = self._clock.now()
                store.settle_member(incident.id, member.container, outcome, reason, now)
                store.add_step(incident.id, now, "dependent", f"{member.container}: {reason}")

    def _heal_one(
        self,
        incident: Incident,
        member: Dependent,
        alert: Alert | None,
        docker: DockerPort,
        settings: PolicySettings,
    ) -> tuple[str, str]:
        store, clock = self._store, self._clock
        name = member.container
        facts = docker.find(name)
        if facts is None:
            return "skipped", f"{name} no longer exists"
        if not facts.needs_attention:
            return "recovered", (
                f"{name} recovered by itself once {incident.container} was back; not touched"
            )
        own = store.active_incident(incident.host, name, incident.id)
        if own is not None:
            return "skipped", f"its own incident #{own} handles {name}"
        key = quarantine_key(incident.host, name)
        now = clock.now()
        alert = alert or synthetic_alert(
            facts,
            critical=is_critical(name, facts.labels, self._critical),
            now=now,
            host=incident.host,
        )
        evidence = gather(
            docker,
            name=name,
            container_id=facts.id,
            now=now,
            log_lines=self._log_lines,
            redactor=self._redactor,
        )
        rules = classify(evidence)
        # A dependent is looked at only while its provider is running and healthy: a
        # dependent that failed to reach a dependency (its name gone from DNS, refused
        # connections) failed because of it, and a restart is what fixes that now.
        advice = Advice(
            rules_restart_safe=rules.restart_safe or rules.category is Category.DEPENDENCY
        )
        actions = store.member_actions(incident.id, name)
        for action in actions:
            if action.result == "pending":  # the healer died mid-restart: never repeated blindly
                store.finish_member_action(
                    incident.id, name, action.attempt, "error", "outcome unknown", clock.now()
                )
        attempts = len(actions)
        last_summary = ""
        while True:
            live = docker.inspect(facts.id) or docker.find(name)
            window_start = clock.now() - settings.crashloop_window_seconds
            history = history_for(
                store, key, name, incident.host, attempts=attempts, window_start=window_start
            )
            decision = decide(alert, live, history, settings, advice)
            if decision.quarantine:
                store.quarantine(key, decision.reason, incident.id, clock.now())
                self._metrics.quarantined.set(len(store.quarantined()))
            if live is None:
                return "skipped", decision.reason
            if not decision.restart:
                reason = decision.reason + (f" ({last_summary})" if last_summary else "")
                if decision.status is IncidentStatus.SKIPPED and not live.needs_attention:
                    return "recovered", reason
                return OUTCOMES[decision.status], f"{rules.category.value}: {reason}"
            attempts += 1
            last_summary = self._restart(incident, name, key, live.id, attempts, docker)

    def _restart(
        self,
        incident: Incident,
        name: str,
        key: str,
        container_id: str,
        attempt: int,
        docker: DockerPort,
    ) -> str:
        """Restart and verify one dependent; the verification's summary."""
        store, clock = self._store, self._clock
        store.begin_member_action(incident.id, name, key, attempt, clock.now())
        try:
            docker.restart(container_id, self._verify.restart_timeout_seconds)
        except (DockerActionError, DockerUnavailableError) as exc:
            store.finish_member_action(incident.id, name, attempt, "error", str(exc), clock.now())
            self._metrics.restarts.labels("error").inc()
            return f"restart failed: {exc}"
        store.finish_member_action(incident.id, name, attempt, "ok", "", clock.now())
        self._metrics.restarts.labels("ok").inc()
        result = verify(docker, container_id, self._verify, clock)
        self._metrics.restarts.labels("verified" if result.ok else "not_verified").inc()
        store.add_step(
            incident.id, clock.now(), "dependent", f"{name}: restart {attempt}; {result.summary}"
        )
        if not result.ok:
            clock.sleep(self._verify.backoff_seconds * 2 ** (attempt - 1))
        return result.summary
