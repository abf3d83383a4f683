"""JSON history and operator actions: /api/incidents, /api/quarantine."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from healer.model import IncidentStatus, iso
from healer.web.auth import bearer_refusal
from healer.web.pages import INCIDENT_ID, MAX_SQLITE_INTEGER, read_side

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_LIMIT = 500


def _count(name: str, default: int, maximum: int) -> int | None:
    """Query argument `name` as a whole number clamped to `maximum`; None when it is not
    plain ASCII digits (int() would also take "+1", " 1", "1_0" and other scripts' digits).

    Asking for more than there is, however much more, is not an error: the answer is
    just what there is. Clamping also keeps the number inside SQLite's 64 bits.
    """
    text = request.args.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    # Longer than the maximum means larger: decided without int(), which refuses numbers
    # over 4300 digits.
    if len(digits) > len(str(maximum)):
        return maximum
    return min(int(digits), maximum)


@bp.get("/incidents")
def list_incidents() -> tuple[Response, int]:
    rt = read_side()
    limit = _count("limit", 50, MAX_LIMIT)
    offset = _count("offset", 0, MAX_SQLITE_INTEGER)
    if limit is None or offset is None:
        return jsonify(error="limit and offset must be whole numbers (digits 0-9 only)"), 400
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in IncidentStatus}:
        return jsonify(error=f"unknown status {status!r}"), 400
    incidents = rt.incidents.list_incidents(
        limit=limit, offset=offset, status=status, container=request.args.get("container")
    )
    return jsonify(incidents=[i.to_dict() for i in incidents]), 200


@bp.get(f"/incidents/{INCIDENT_ID}")
def get_incident(incident_id: int) -> tuple[Response, int]:
    incident = read_side().incidents.get(incident_id)
    if incident is None:
        return jsonify(error=f"no incident {incident_id}"), 404
    return jsonify(incident.to_dict()), 200


@bp.get("/quarantine")
def list_quarantine() -> tuple[Response, int]:
    entries = read_side().incidents.quarantined()
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
    rt = read_side()
    refused = bearer_refusal(rt.settings.webhook_token, request.headers.get("Authorization", ""))
    if refused is not None:
        code, reason = refused
        return jsonify(error=reason), code
    if not rt.clear_quarantine(name):
        return jsonify(error=f"{name} is not quarantined"), 404
    rt.metrics.quarantined.set(len(rt.incidents.quarantined()))
    return jsonify(cleared=name), 200
