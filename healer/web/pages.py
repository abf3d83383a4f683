"""The human side: the status page, one page per incident, /healthz and /metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from healer.errors import HealerError
from healer.model import iso
from healer.web.intake import runtime

bp = Blueprint("pages", __name__)

RECENT = 25


@bp.get("/")
def status_page() -> str:
    rt = runtime()
    try:
        containers = rt.docker.list_managed(rt.config.selector)
        docker_error = ""
    except HealerError as exc:
        containers, docker_error = [], str(exc)
    quarantined = {q.container: q for q in rt.store.quarantined()}
    open_incidents = rt.store.open_incidents()
    open_by_container = {i.container: i for i in reversed(open_incidents)}
    return render_template(
        "status.html",
        config=rt.config,
        containers=containers,
        docker_error=docker_error,
        quarantined=quarantined,
        open_incidents=open_incidents,
        open_by_container=open_by_container,
        recent=rt.store.list_incidents(limit=RECENT),
        outbox_depth=rt.store.outbox_depth(),
        iso=iso,
        now=rt.clock.now(),
    )


@bp.get("/incidents/<int:incident_id>")
def incident_page(incident_id: int) -> tuple[str, int]:
    rt = runtime()
    incident = rt.store.get(incident_id)
    if incident is None:
        return render_template("not_found.html", what=f"incident {incident_id}"), 404
    return render_template("incident.html", incident=incident, config=rt.config, iso=iso), 200


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    rt = runtime()
    workers_ok = rt.workers.alive()
    body = {
        "status": "ok" if workers_ok else "degraded",
        "workers_alive": workers_ok,
        "docker_up": rt.docker.ping(),
        "queue_depth": rt.store.queue_depth(),
        "outbox_depth": rt.store.outbox_depth(),
        "mode": rt.config.mode.value,
    }
    return jsonify(body), 200 if workers_ok else 503


@bp.get("/metrics")
def metrics() -> Response:
    rt = runtime()
    rt.metrics.queue_depth.set(rt.store.queue_depth())
    rt.metrics.outbox_depth.set(rt.store.outbox_depth())
    return Response(generate_latest(rt.registry), mimetype=CONTENT_TYPE_LATEST)
