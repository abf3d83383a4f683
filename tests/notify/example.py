"""The example incident behind docs/email-example.html.

Regenerate the committed example after changing a template:

    .venv/bin/python -m tests.notify.example > docs/email-example.html

`test_the_committed_example_email_is_what_the_templates_render` fails when
the file and the templates drift apart.
"""

from __future__ import annotations

from pathlib import Path

from healer.model import (
    ActionAttempt,
    Alert,
    Category,
    Decision,
    Diagnosis,
    Incident,
    IncidentStatus,
    Mode,
    Source,
    Verification,
)
from healer.notify.delivery import Envelope
from healer.notify.mail import MailRenderer
from healer.notify.view import ViewSettings, incident_view
from healer.redactor import NO_SECRETS

EXAMPLE_FILE = Path(__file__).resolve().parents[2] / "docs" / "email-example.html"
OPENED = 1_717_243_200.0  # 2024-06-01T12:00:00Z

SETTINGS = ViewSettings(
    public_url="http://healer.example.com:9418",
    grafana_url="http://grafana.example.com:3000",
    domain="example.com",
    redactor=NO_SECRETS,
)


def example_incident() -> Incident:
    alert = Alert(
        fingerprint="3f1c2a9e8b7d6c5a",
        status="firing",
        labels={
            "alertname": "ContainerDown",
            "container": "prod-web-01",
            "severity": "critical",
            "action": "restart",
            "instance": "exporter:9417",
            "host": "docker-host-1",
        },
        annotations={
            "summary": "prod-web-01 is not running",
            "description": "prod-web-01 (nginx) has been exited for 30s; it is a critical service.",
            "runbook_url": "http://git.example.com/itops/prometheus/runbook.md#containerdown",
        },
        starts_at=OPENED - 35,
        generator_url="http://prometheus.example.com:9090/graph?g0.expr=docker_container_state",
    )
    return Incident(
        id=42,
        container="prod-web-01",
        alertname="ContainerDown",
        status=IncidentStatus.HEALED,
        mode=Mode.HEAL,
        opened_at=OPENED,
        closed_at=OPENED + 13.4,
        alert=alert,
        evidence={
            "container": "prod-web-01",
            "exists": True,
            "state": "exited",
            "exit_code": 1,
            "oom_killed": False,
            "health_status": "unhealthy",
            "restart_count": 0,
            "image": "nginx:1.27-alpine",
            "started_at": "2024-06-01T09:12:03.114Z",
            "finished_at": "2024-06-01T11:59:24.880Z",
            "log_lines": [
                "2024/06/01 11:59:24 [notice] 1#1: signal 15 (SIGTERM) received, exiting",
                '2024/06/01 11:59:24 [emerg] 1#1: host not found in upstream "app:8000" in '
                "/etc/nginx/conf.d/default.conf:14",
                'nginx: [emerg] host not found in upstream "app:8000"',
                "GET /<script>alert(1)</script> HTTP/1.1 400 (this line is shown as text)",
            ],
            "health_output": ["[health exit 1] wget: can't connect to remote host"],
            "truncated": False,
        },
        diagnosis=Diagnosis(
            category=Category.DEPENDENCY,
            root_cause=(
                "nginx stopped because its upstream app:8000 did not resolve while "
                "prod-app-01 was restarting."
            ),
            restart_safe=True,
            recommendation=(
                "A restart is safe now that prod-app-01 is back; add `resolver` with a "
                "short `valid=` so nginx re-resolves upstreams."
            ),
            source=Source.LLM,
            evidence=('nginx: [emerg] host not found in upstream "app:8000"',),
        ),
        llm_outcome="ok",
        decision=Decision(
            restart=False, status=IncidentStatus.HEALED, reason="prod-web-01 is back"
        ),
        actions=(
            ActionAttempt(
                attempt=1,
                action="restart",
                started_at=OPENED + 1.2,
                finished_at=OPENED + 2.05,
                result="ok",
            ),
        ),
        verification=Verification(
            ok=True,
            state="running",
            health_status="healthy",
            summary="running and healthy, no new restart for 10s",
            checked_at=OPENED + 13.3,
            waited_seconds=10.0,
        ),
    )


def example_html() -> str:
    view = incident_view(example_incident(), "incident", SETTINGS, now=OPENED + 13.5)
    renderer = MailRenderer(
        sender="healer@example.com", recipients=("oncall@example.com",), redactor=NO_SECRETS
    )
    msg = renderer.render(Envelope(1, "incident", view, OPENED + 13.5), now=OPENED + 13.5)
    html = msg.get_body(("html",))
    assert html is not None
    return str(html.get_content())


if __name__ == "__main__":
    print(example_html(), end="")
