"""The human side: the status page, one page per incident, /healthz and /metrics.

The pages are server-rendered (Jinja autoescapes every container, log and model
text), load nothing from elsewhere, refresh themselves, and stack their tables
into cards on a phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, render_template
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fleet.facts import ContainerFacts
from healer.errors import HealerError, StoreError
from healer.model import IncidentStatus, iso
from healer.notify.view import duration_text, safe_url
from healer.web.context import ReadSide

bp = Blueprint("pages", __name__)


def read_side() -> ReadSide:
    side: ReadSide = current_app.extensions["healer.read"]
    return side


RECENT = 25

# Incident ids are SQLite rowids, signed 64-bit. A larger number names no incident:
# the route does not match (404) rather than overflowing the query.
MAX_SQLITE_INTEGER = 2**63 - 1
INCIDENT_ID = f"<int(max={MAX_SQLITE_INTEGER}):incident_id>"


@bp.app_template_filter("iso")
def iso_filter(ts: float | None) -> str:
    return iso(ts) or ""


@bp.app_template_filter("clock")
def clock_filter(ts: float | None, now: float | None = None) -> str:
    """Time of day in UTC; with the date too unless it is `now`'s day."""
    if ts is None:
        return "—"
    at = datetime.fromtimestamp(ts, UTC)
    if now is not None and at.date() == datetime.fromtimestamp(now, UTC).date():
        return at.strftime("%H:%M:%S")
    return at.strftime("%Y-%m-%d %H:%M")


@bp.app_template_filter("ago")
def ago_filter(ts: float | None, now: float) -> str:
    """How long before `now`, in the largest whole unit ("3 min ago")."""
    if ts is None:
        return ""
    seconds = max(now - ts, 0.0)
    if seconds < 5:
        return "just now"
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


# Durations read the same on the status page as in the emails.
bp.add_app_template_filter(duration_text, "seconds")
# Links the page builds from an alert pass the same filter as the emails' links.
bp.add_app_template_filter(safe_url, "safe_url")


def _attention_first(
    containers: Sequence[ContainerFacts], flagged: set[str]
) -> list[ContainerFacts]:
    """Containers that need a look (down, unhealthy, quarantined, open incident) first."""
    return sorted(containers, key=lambda c: (not (c.needs_attention or c.name in flagged), c.name))


@bp.get("/")
def status_page() -> str:
    rt = read_side()
    try:
        containers = rt.containers.list_managed(rt.selector)
        docker_error = ""
    except HealerError as exc:
        containers, docker_error = [], str(exc)
    quarantined = {q.container: q for q in rt.incidents.quarantined()}
    open_incidents = rt.incidents.open_incidents()
    open_by_container = {i.container: i for i in reversed(open_incidents)}
    flagged = set(quarantined) | set(open_by_container)
    containers = _attention_first(containers, flagged)
    recent = rt.incidents.list_incidents(limit=RECENT)
    return render_template(
        "status.html",
        containers=containers,
        attention=[c for c in containers if c.needs_attention or c.name in flagged],
        docker_error=docker_error,
        quarantined=quarantined,
        open_incidents=open_incidents,
        open_by_container=open_by_container,
        recent=recent,
        healed_recent=sum(1 for i in recent if i.status is IncidentStatus.HEALED),
        outbox_depth=rt.incidents.outbox_depth(),
        iso=iso,
        now=rt.clock.now(),
    )


@bp.get(f"/incidents/{INCIDENT_ID}")
def incident_page(incident_id: int) -> tuple[str, int]:
    rt = read_side()
    incident = rt.incidents.get(incident_id)
    if incident is None:
        return render_template("not_found.html", what=f"incident #{incident_id}"), 404
    return (
        render_template("incident.html", incident=incident, iso=iso, now=rt.clock.now()),
        200,
    )


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    rt = read_side()
    workers_ok = rt.workers_alive()
    # A store that cannot write loses nothing (intake answers 503, incidents wait), but
    # nothing moves either: the probe says so, with SQLite's reason.
    try:
        rt.incidents.check_writable(rt.clock.now())
        store_error = ""
        depths: dict[str, int | None] = {
            "queue_depth": rt.incidents.queue_depth(),
            "outbox_depth": rt.incidents.outbox_depth(),
        }
    except StoreError as exc:
        store_error = str(exc)
        depths = {"queue_depth": None, "outbox_depth": None}
    ok = workers_ok and not store_error
    body = {
        "status": "ok" if ok else "degraded",
        "workers_alive": workers_ok,
        "store": store_error or "ok",
        "docker_up": rt.containers.ping(),
        **depths,
        "mode": rt.mode.value,
    }
    return jsonify(body), 200 if ok else 503


@bp.get("/metrics")
def metrics() -> Response:
    rt = read_side()
    rt.metrics.queue_depth.set(rt.incidents.queue_depth())
    rt.metrics.outbox_depth.set(rt.incidents.outbox_depth())
    return Response(generate_latest(rt.metrics.registry), mimetype=CONTENT_TYPE_LATEST)
