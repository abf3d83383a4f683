"""The Flask application factory: a short list of registrations, dependencies passed in."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from healer.approval_desk import ApprovalDesk
from healer.approvals import approval_links
from healer.dependencies import Dependencies
from healer.notify.mail import compile_all
from healer.runtime import Runtime
from healer.web import api, approve, backstop, guard, intake, pages
from healer.web.boundary import ContainFailures, internal_error
from healer.web.context import ReadSide

RUNTIME = "healer.runtime"  # the background work, for its owner (serve, tests): not for routes
READ_SIDE = "healer.read"  # what routes may use


def create_app(deps: Dependencies, *, start_workers: bool = True) -> Flask:
    """Build the healer's web app from its dependencies. Workers and the outbox sender
    start here unless `start_workers=False`; `runtime_of(app).stop()` stops them."""
    config = deps.config
    web = config.web
    runtime = Runtime(deps)
    app = Flask(__name__, template_folder="web/templates")
    # Werkzeug refuses larger bodies with 413 before the handler reads them.
    app.config["MAX_CONTENT_LENGTH"] = web.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep contract field order
    app.extensions[RUNTIME] = runtime
    app.extensions[READ_SIDE] = ReadSide(
        settings=web,
        mode=config.mode,
        selector=config.selector,
        incidents=deps.store,
        containers=deps.hosts,
        metrics=deps.metrics,
        clock=deps.clock,
        workers_alive=runtime.workers.alive,
        clear_quarantine=deps.store.clear_quarantine,
    )
    guard.init_app(app, web)
    backstop.init_app(app, config.redactor)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    # Approval links act only through the store (a queued round, a closed incident):
    # the restart itself is the pipeline's, decided by the policy.
    approve.init_app(
        app,
        ApprovalDesk(
            approval_links(config, deps.store, deps.clock),
            deps.store,
            deps.notifier,
            deps.clock,
            on_queued=runtime.workers.wake,
            on_quarantined=deps.metrics.quarantined.set,
        ),
    )

    @app.context_processor
    def inject_settings() -> dict[str, Any]:
        return {"web": web, "mode": config.mode, "selector": config.selector}

    @app.before_request
    def refuse_undecodable_query() -> tuple[Any, int] | None:
        # Werkzeug decodes the raw query string as strict UTF-8 the first time a view
        # reads request.args; raw non-UTF-8 bytes (a server passes them on) would fail
        # there, inside the view, as a 500.
        try:
            request.query_string.decode()
        except UnicodeDecodeError:
            return jsonify(error="query string is not UTF-8 (percent-encode other bytes)"), 400
        return None

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Any, int]:
        # Every refusal is JSON with a reason, including Werkzeug's own 404/405/413.
        if isinstance(exc, InternalServerError):
            # How Flask hands over an exception raised outside a view (while routing,
            # in a URL converter, in request set-up): a 500 wrapping it.
            return unexpected(exc.original_exception or exc)
        if exc.code == 413:
            deps.metrics.webhooks.labels("too_large").inc()
            reason = f"body larger than HEALER_MAX_BODY_BYTES={web.max_body_bytes}"
        else:
            reason = exc.description or exc.name
        return jsonify(error=reason), exc.code or 500

    @app.errorhandler(Exception)
    def unexpected(exc: BaseException) -> tuple[Any, int]:
        return jsonify(internal_error(exc, request.method, request.path)), 500

    compile_all(app.jinja_env)  # before any thread could compile concurrently (see there)
    # The webhook is answered before Flask sees the request (see healer/web/intake.py);
    # nothing at all escapes to the server (see healer/web/boundary.py).
    webhook = intake.WebhookIntake(
        runtime.intake, web, config.mode, config.redactor, deps.metrics, app.wsgi_app
    )
    app.wsgi_app = ContainFailures(webhook)  # type: ignore[method-assign,assignment]

    if start_workers:
        runtime.start()
    return app


def runtime_of(app: Flask) -> Runtime:
    """The app's background work (workers, housekeeper, sender), for whoever owns the app."""
    runtime: Runtime = app.extensions[RUNTIME]
    return runtime
