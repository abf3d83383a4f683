"""JSON history and operator actions: /api/incidents, /api/quarantine."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from healer.model import IncidentStatus, iso
from healer.web.auth import bearer_refusal
from healer.web.pages import runtime

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_LIMIT = 500


@bp.get("/incidents")
def list_incidents() -> tuple[Response, int]:
    rt = runtime()
    try:
        limit = min(int(request.args.get("limit", "50")), MAX_LIMIT)
        offset = int(request.args.get("offset", "0"))
    except ValueError:
        return jsonify(error="limit and offset must be whole numbers"), 400
    if limit < 0 or offset < 0:
        return jsonify(error="limit and offset must not be negative"), 400
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in IncidentStatus}:
        return jsonify(error=f"unknown status {status!r}"), 400
    incidents = rt.store.list_incidents(
        limit=limit, offset=offset, status=status, container=request.args.get("container")
    )
    return jsonify(incidents=[i.to_dict() for i in incidents]), 200


@bp.get("/incidents/<int:incident_id>")
def get_incident(incident_id: int) -> tuple[Response, int]:
    incident = runtime().store.get(incident_id)
    if incident is None:
        return jsonify(error=f"no incident {incident_id}"), 404
    return jsonify(incident.to_dict()), 200


@bp.get("/quarantine")
def list_quarantine() -> tuple[Response, int]:
    entries = runtime().store.quarantined()
    return (
        jsonify(
            quarantined=[
                {
                    "container": e.container,
                    "since": iso(e.since),
                    "reason": e.reason,
                    "incident_id": e.incident_id,
                }
                for e in entries
            ]
        ),
        200,
    )


@bp.post("/quarantine/<name>/clear")
def clear_quarantine(name: str) -> tuple[Response, int]:
    rt = runtime()
    refused = bearer_refusal(rt.config.webhook_token, request.headers.get("Authorization", ""))
    if refused is not None:
        code, reason = refused
        return jsonify(error=reason), code
    if not rt.store.clear_quarantine(name):
        return jsonify(error=f"{name} is not quarantined"), 404
    rt.metrics.quarantined.set(len(rt.store.quarantined()))
    return jsonify(cleared=name), 200
