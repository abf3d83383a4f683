"""One incident, start to finish: evidence, diagnosis, decision, action, verification.

Each step is written to the store before the next one starts, so a healer
killed at any point resumes the incident without repeating an effect: a
restart whose intent was recorded but whose result was not is verified, not
reissued; a concluded incident is only notified.

Why one file over 300 lines: the steps are written in the order they run, so the
write-ahead rule above can be checked by reading one function top to bottom; the
policy, Docker, the store and notification live elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from healer.actions import verify
from healer.budget import history_for
from healer.cascade import WAIT_POLL_SECONDS, Cascade, Placement
from healer.clock import Clock
from healer.config import HealerConfig
from healer.dependencies import Dependencies
from healer.docker_port import DockerPort
from healer.errors import DockerActionError, DockerUnavailableError
from healer.evidence import gather
from healer.hosts import DockerHosts, quarantine_key
from healer.memory import Memory, recall_for, with_recurrence
from healer.metrics import HealerMetrics
from healer.model import (
    Category,
    Decision,
    Diagnosis,
    Incident,
    IncidentStatus,
    Mode,
    Source,
    Verification,
)
from healer.policy import Advice, History, PolicySettings, Surroundings, decide
from healer.ports import Diagnoser, Notifier
from healer.store import Store

log = logging.getLogger(__name__)

# A container found missing this recently is not looked up again before the first decision.
FRESH_SECONDS = 1.0


class IncidentProcessor:
    def __init__(self, deps: Dependencies) -> None:
        self.config: HealerConfig = deps.config
        self.hosts: DockerHosts = deps.hosts
        self.store: Store = deps.store
        self.diagnoser: Diagnoser = deps.diagnoser
        self.notifier: Notifier = deps.notifier
        self.clock: Clock = deps.clock
        self.metrics: HealerMetrics = deps.metrics
        self.cascade = Cascade(
            self.config.dependencies,
            selector=self.config.selector,
            critical_services=self.config.critical_services,
            verify_settings=self.config.verify,
            log_lines=self.config.log_lines,
            redactor=self.config.redactor,
            store=self.store,
            clock=self.clock,
            metrics=self.metrics,
        )

    def process(self, incident: Incident) -> Incident:
        """Run (or resume) the pipeline for one claimed incident.

        A restartable alert that joined while a round ran is not swallowed: when the
        round ended held open or skipped, the incident is decided again at once.
        """
        while True:
            if not incident.concluded and not self._run(incident):
                return self._wait_for_provider(incident)
            if not self.store.take_redecide(incident.id, self.clock.now()):
                break
            incident = self._get(incident.id)
        concluded = self._get(incident.id)
        docker = self.hosts.port(concluded.host) if concluded.container else None
        if self.cascade.enabled and docker is not None and concluded.grouped_into is None:
            # The provider's outcome is settled: now its dependents, before the one email.
            mode = concluded.mode.strictest(self.config.mode)
            policy = replace(self.config.policy, mode=mode)
            if self.cascade.heal_dependents(concluded, docker, policy):
                # Read again only when dependents were handled (their steps and outcomes
                # go in the email): with none, nothing the incident shows has changed.
                concluded = self._get(incident.id)
        decision = concluded.decision
        if decision is None or decision.notify:
            # The first email, or a follow-up in its thread when a held incident was
            # decided again after its first email.
            told = any(n.get("kind") == "incident" for n in concluded.notifications)
            self.notifier.notify(concluded, "update" if told else "incident")
        self.store.finish(incident.id, self.clock.now())
        return self._get(incident.id)

    def _wait_for_provider(self, incident: Incident) -> Incident:
        """Hand the incident back to the queue for a moment: its provider is failing and
        its provider's alert is expected within the dependency window."""
        self.clock.sleep(WAIT_POLL_SECONDS)  # (a one-shot scan claims it again at once)
        self.store.release(incident.id, self.clock.now() + WAIT_POLL_SECONDS)
        return self._get(incident.id)

    def _get(self, incident_id: int) -> Incident:
        incident = self.store.get(incident_id)
        if incident is None:  # the store never deletes incidents
            raise LookupError(f"incident {incident_id} vanished from the store")
        return incident

    def _step(self, incident: Incident, step: str, detail: str, started: float) -> None:
        now = self.clock.now()
        self.store.add_step(incident.id, now, step, detail, now - started)

    def _effective_mode(self, incident: Incident) -> Mode:
        """Check mode is absolute: the stricter of the incident's and the healer's mode.
        The incident keeps the mode it was handled in, so its record tells the truth."""
        mode = incident.mode.strictest(self.config.mode)
        if mode is not incident.mode:
            now = self.clock.now()
            self.store.set_mode(incident.id, mode, now)
            self.store.add_step(
                incident.id,
                now,
                "mode",
                f"accepted in {incident.mode.value} mode; the healer now runs with "
                f"HEALER_MODE={self.config.mode.value}, so it is handled in {mode.value} mode",
            )
        return mode

    def _run(self, incident: Incident) -> bool:
        """One round; False when the incident must wait for its provider's incident."""
        clock, store = self.clock, self.store
        settings = replace(self.config.policy, mode=self._effective_mode(incident))
        alert = incident.action_alert
        if not incident.container:
            self._about_the_stack(incident, settings)
            return True
        docker = self.hosts.port(incident.host)
        if docker is None:
            self._unknown_host(incident)
            return True
        key = quarantine_key(incident.host, incident.container)
        # Evidence (always fresh: a resumed incident looks at the container as it is now).
        t = clock.now()
        evidence = gather(
            docker,
            name=incident.container,
            container_id=alert.labels.get("container_id", ""),
            now=t,
            log_lines=self.config.log_lines,
            redactor=self.config.redactor,
        )
        store.save_evidence(incident.id, evidence.to_dict(), clock.now())
        found = "found" if evidence.facts else "container not found"
        self._step(incident, "evidence", f"{found}; {len(evidence.log_lines)} log lines", t)

        # Dependencies: folded into its provider's incident, waiting for it, or handled here.
        placement = Placement()
        if self.cascade.enabled and evidence.facts is not None:
            placement = self.cascade.place(incident, docker)
            if placement.lead is not None:
                self.cascade.record_grouped(incident, placement)
                return True
            if placement.wait_for:
                if not any(s.step == "waiting" for s in incident.steps):
                    store.add_step(
                        incident.id,
                        clock.now(),
                        "waiting",
                        f"{placement.wait_for}, which it depends on, is failing too: waiting "
                        "for its incident to join it",
                    )
                return False

        # Diagnosis (kept across a resume: the model is not asked twice).
        memory: Memory | None = None
        if incident.rules_diagnosis is None:
            t = clock.now()
            result = self.diagnoser.diagnose(evidence, alert)
            memory = recall_for(
                store,
                self.config.memory,
                incident_id=incident.id,
                host=incident.host,
                container=incident.container,
                rules=result.rules,
                now=clock.now(),
            )
            store.save_diagnosis(
                incident.id,
                with_recurrence(result.final, memory),
                result.rules,
                result.llm_outcome,
                clock.now(),
            )
            advice = Advice(
                rules_restart_safe=result.rules.restart_safe,
                llm_restart_safe=result.llm.restart_safe if result.llm else None,
            )
            self._step(
                incident,
                "diagnosis",
                f"{result.final.category.value} ({result.final.source.value}); "
                f"llm: {result.llm_outcome}",
                t,
            )
        else:
            final = incident.diagnosis
            memory = Memory.from_dict(incident.memory) if incident.memory else None
            advice = Advice(
                rules_restart_safe=incident.rules_diagnosis.restart_safe,
                llm_restart_safe=(
                    final.restart_safe if final and final.source is Source.LLM else None
                ),
            )

        attempts = len(incident.actions)
        verification: Verification | None = None
        for action in incident.actions:
            if action.result == "pending":
                # The healer died between recording a restart and its result.
                if evidence.facts is not None:
                    verification = self._verify(incident, docker, evidence.facts.id)
                else:
                    verification = Verification(
                        ok=False,
                        state="gone",
                        health_status="none",
                        summary="the container no longer exists",
                        checked_at=clock.now(),
                    )
                result_text = "ok" if verification.ok else "error"
                store.finish_action(
                    incident.id,
                    action.attempt,
                    result_text,
                    "" if verification.ok else "outcome unknown after a healer restart",
                    clock.now(),
                )

        decision: Decision | None = None
        while True:
            if verification is not None and not verification.ok and attempts > 0:
                clock.sleep(self.config.verify.backoff_seconds * 2 ** (attempts - 1))
            if evidence.facts is not None:
                facts = docker.inspect(evidence.facts.id)
            elif decision is None and clock.now() - evidence.collected_at < FRESH_SECONDS:
                facts = None  # looked for it a moment ago and it was not there
            else:
                facts = docker.find(incident.container)
            window_start = clock.now() - self.config.policy.crashloop_window_seconds
            history = history_for(
                store,
                key,
                incident.container,
                incident.host,
                attempts=attempts,
                window_start=window_start,
                exclude_id=incident.id,
            )
            surroundings = Surroundings(
                provider_down=placement.provider_down,
                recurring=memory.summary if memory is not None and memory.recurring else "",
            )
            decision = decide(
                alert,
                facts,
                history,
                settings,
                advice,
                surroundings,
                approved=incident.restart_approved,
            )
            if decision.quarantine:
                first = store.quarantine(key, decision.reason, incident.id, clock.now())
                if not first:
                    decision = Decision(
                        restart=False,
                        status=decision.status,
                        reason=decision.reason + " (already quarantined; no second escalation)",
                        quarantine=True,
                        notify=False,
                    )
                self.metrics.quarantined.set(len(store.quarantined()))
            store.save_decision(incident.id, decision, clock.now())
            self.store.add_step(incident.id, clock.now(), "decision", decision.reason)
            if not decision.restart or facts is None:
                break
            attempts += 1
            verification = self._restart_and_verify(incident, docker, key, facts.id, attempts)

        status = decision.status
        if status is IncidentStatus.OPEN and self._get(incident.id).resolved_at is not None:
            status = IncidentStatus.RESOLVED
        store.conclude(incident.id, status, clock.now())
        self.metrics.incidents.labels(status.value).inc()
        if status is IncidentStatus.HEALED:
            self.metrics.heal_duration.observe(clock.now() - incident.opened_at)
        log.info(
            "incident %d %s %s: %s (%s)",
            incident.id,
            incident.alertname,
            incident.container,
            status.value,
            decision.reason,
        )
        return True

    def _unknown_host(self, incident: Incident) -> None:
        """An alert about a host the map does not know: recorded, told, never acted on."""
        now = self.clock.now()
        decision = Decision(
            restart=False, status=IncidentStatus.SKIPPED, reason=self.hosts.refusal(incident.host)
        )
        self.store.save_decision(incident.id, decision, now)
        self.store.add_step(incident.id, now, "decision", decision.reason)
        self.store.conclude(incident.id, decision.status, now)
        self.metrics.incidents.labels(decision.status.value).inc()

    def _about_the_stack(self, incident: Incident, settings: PolicySettings) -> None:
        """An alert about no single container (the daemon, the exporter, the healer itself):
        nothing to inspect or restart; it is recorded and people are told, from its annotations."""
        clock, store = self.clock, self.store
        annotations = incident.alert.annotations
        diagnosis = Diagnosis(
            category=Category.UNKNOWN,
            root_cause=annotations.get("description")
            or annotations.get("summary")
            or f"{incident.alertname} is firing",
            restart_safe=False,
            recommendation="Follow the runbook"
            + (f": {annotations['runbook_url']}" if annotations.get("runbook_url") else "."),
            source=Source.RULES,
            signature="stack-alert",
        )
        store.save_diagnosis(incident.id, diagnosis, diagnosis, "disabled", clock.now())
        decision = decide(
            incident.alert, None, History(0, 0, quarantined=False), settings, Advice()
        )
        store.save_decision(incident.id, decision, clock.now())
        store.add_step(incident.id, clock.now(), "decision", decision.reason)
        status = decision.status
        if self._get(incident.id).resolved_at is not None:
            status = IncidentStatus.RESOLVED
        store.conclude(incident.id, status, clock.now())
        self.metrics.incidents.labels(status.value).inc()

    def _restart_and_verify(
        self, incident: Incident, docker: DockerPort, key: str, container_id: str, attempt: int
    ) -> Verification:
        clock, store = self.clock, self.store
        t = clock.now()
        store.begin_action(incident.id, key, attempt, "restart", t)
        try:
            docker.restart(container_id, self.config.verify.restart_timeout_seconds)
        except (DockerActionError, DockerUnavailableError) as exc:
            store.finish_action(incident.id, attempt, "error", str(exc), clock.now())
            self.metrics.restarts.labels("error").inc()
            self._step(incident, "restart", f"attempt {attempt} failed: {exc}", t)
            failed = Verification(
                ok=False,
                state="unknown",
                health_status="unknown",
                summary=f"restart failed: {exc}",
                checked_at=clock.now(),
            )
            store.save_verification(incident.id, failed, clock.now())
            return failed
        store.finish_action(incident.id, attempt, "ok", "", clock.now())
        self.metrics.restarts.labels("ok").inc()
        self._step(incident, "restart", f"attempt {attempt} issued", t)
        return self._verify(incident, docker, container_id)

    def _verify(self, incident: Incident, docker: DockerPort, container: str) -> Verification:
        t = self.clock.now()
        verification = verify(
            docker,
            container,
            self.config.verify,
            self.clock,
        )
        self.store.save_verification(incident.id, verification, self.clock.now())
        self.metrics.restarts.labels("verified" if verification.ok else "not_verified").inc()
        self._step(incident, "verify", verification.summary, t)
        return verification
