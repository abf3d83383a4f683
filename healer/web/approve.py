"""/approve/<token>: a signed link's confirmation page (GET) and its one action (POST).

GET never acts: mail scanners and link previews open links. Only the confirmation
form's POST does, and it needs no cookie or session — the token in the URL is the
credential, for its one action on its one incident, once — so there is nothing for a
cross-site request to borrow. That is also why these pages are open with
HEALER_READ_TOKEN set (healer/web/guard.py): they show only what the email showed.
`by` is the requester's address as the server saw it (REMOTE_ADDR); behind a
reverse proxy that is the proxy's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue

from healer.approval_desk import ApprovalDesk, Ticket
from healer.errors import StoreError
from healer.model import Incident, iso

bp = Blueprint("approve", __name__)
DESK = "healer.approvals"
# The page loads nothing, runs no script, may only post to itself and is never framed
# (no click-jacking); it is never cached and its URL (the token) is never sent on.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
# While the approved round runs, the used link's page shows its progress.
REFRESH_SECONDS = 2


def init_app(app: Flask, desk: ApprovalDesk) -> None:
    app.extensions[DESK] = desk
    app.register_blueprint(bp)


def _desk() -> ApprovalDesk:
    desk: ApprovalDesk = current_app.extensions[DESK]
    return desk


@bp.app_context_processor
def page_links() -> dict[str, Any]:
    """`approval_links(incident)` for the incident page: the same actions as its email,
    as links relative to this healer."""

    def approval_links(incident: Incident) -> list[dict[str, str]]:
        try:
            return _desk().links(incident)
        except StoreError:
            return []  # the page still shows; its buttons come back with the store

    return {"approval_links": approval_links}


@bp.after_request
def harden(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    return response


@bp.get("/approve/<token>")
def confirm(token: str) -> tuple[str, int]:
    desk = _desk()
    if not desk.enabled:
        return _page(Ticket(404, "approvals are turned off on this healer"), token)
    try:
        return _page(desk.read(token), token)
    except StoreError as exc:
        return _page(Ticket(503, f"the healer cannot read its store now ({exc})"), token)


@bp.post("/approve/<token>")
def act(token: str) -> ResponseReturnValue:
    desk = _desk()
    if not desk.enabled:
        return _page(Ticket(404, "approvals are turned off on this healer"), token)
    try:
        ticket = desk.approve(token, request.form.get("action", ""), request.remote_addr or "")
    except StoreError as exc:
        return _page(Ticket(503, f"nothing was done: the store cannot write now ({exc})"), token)
    if ticket.used is not None and ticket.code == 200:
        # Done: show the used link's page (a reload then never posts again).
        return redirect(f"/approve/{token}", code=303)
    return _page(ticket, token)


def _page(ticket: Ticket, token: str) -> tuple[str, int]:
    incident = ticket.incident
    refresh = ticket.used is not None and incident is not None and not incident.concluded
    return (
        render_template(
            "approve.html",
            ticket=ticket,
            incident=incident,
            token=token,
            refresh=REFRESH_SECONDS if refresh else 0,
            expires_at=iso(ticket.grant.expires_at) if ticket.grant else None,
        ),
        ticket.code,
    )
