"""The healer's own Prometheus metrics, registered on a registry passed in.

Label sets are created up front so every outcome reads 0 before it first
happens: a rate() over a series that does not exist yet is an empty panel.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

INCIDENT_OUTCOMES = ("healed", "failed", "quarantined", "skipped", "open", "resolved")
RESTART_RESULTS = ("ok", "error", "verified", "not_verified")
LLM_OUTCOMES = ("ok", "invalid", "timeout", "error", "cached", "rate_limited", "disabled")
EMAIL_OUTCOMES = ("sent", "retry", "failed", "written")
WEBHOOK_RESULTS = (
    "accepted",
    "duplicate",
    "unauthorized",
    "invalid",
    "too_large",
    "unavailable",
    "error",
)


class HealerMetrics:
    """Every healer_* family, as one object the pipeline parts share."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.incidents = Counter(
            "healer_incidents_total",
            "Incidents finished, by outcome (the status the incident ended in).",
            ["outcome"],
            registry=registry,
        )
        self.restarts = Counter(
            "healer_restarts_total",
            "Container restarts issued by the healer, by result "
            "(ok/error from Docker; verified/not_verified after the stability check).",
            ["result"],
            registry=registry,
        )
        self.heal_duration = Histogram(
            "healer_heal_duration_seconds",
            "Time from an incident's intake to its verified outcome.",
            buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
            registry=registry,
        )
        self.llm_requests = Counter(
            "healer_llm_requests_total",
            "Diagnosis requests to the LLM, by outcome "
            "(ok, invalid answer, timeout, error, cached, rate_limited, disabled).",
            ["outcome"],
            registry=registry,
        )
        self.llm_duration = Histogram(
            "healer_llm_duration_seconds",
            "Latency of LLM diagnosis calls, including failed ones.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
            registry=registry,
        )
        self.emails = Counter(
            "healer_emails_total",
            "Notification deliveries, by outcome (sent, retry scheduled, failed for good, "
            "written to the .eml outbox folder).",
            ["outcome"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "healer_queue_depth",
            "Incidents accepted but not yet processed.",
            registry=registry,
        )
        self.quarantined = Gauge(
            "healer_quarantined_containers",
            "Containers the crash-loop breaker has quarantined (no restarts until cleared).",
            registry=registry,
        )
        self.outbox_depth = Gauge(
            "healer_outbox_depth",
            "Notifications waiting to be delivered.",
            registry=registry,
        )
        self.webhooks = Counter(
            "healer_webhook_alerts_total",
            "Alertmanager webhook alerts received, by intake result.",
            ["result"],
            registry=registry,
        )
        for outcome in INCIDENT_OUTCOMES:
            self.incidents.labels(outcome)
        for result in RESTART_RESULTS:
            self.restarts.labels(result)
        for outcome in LLM_OUTCOMES:
            self.llm_requests.labels(outcome)
        for outcome in EMAIL_OUTCOMES:
            self.emails.labels(outcome)
        for result in WEBHOOK_RESULTS:
            self.webhooks.labels(result)
