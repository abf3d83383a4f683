"""The Flask application factory: a short list of registrations, dependencies passed in."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from prometheus_client import CollectorRegistry
from werkzeug.exceptions import HTTPException, InternalServerError

from healer.clock import Clock
from healer.config import HealerConfig
from healer.docker_port import DockerPort
from healer.metrics import HealerMetrics
from healer.notify.mail import compile_all
from healer.ports import Diagnoser, Notifier
from healer.runtime import Runtime
from healer.store import Store
from healer.web import api, backstop, guard, intake, pages
from healer.web.boundary import ContainFailures, internal_error


def create_app(
    config: HealerConfig,
    *,
    docker: DockerPort,
    store: Store,
    diagnoser: Diagnoser,
    notifier: Notifier,
    clock: Clock,
    metrics: HealerMetrics | None = None,
    start_workers: bool = True,
) -> Flask:
    """Build the healer's web app. Workers and the outbox sender start here unless
    `start_workers=False`; `app.extensions["healer"].stop()` stops them."""
    app = Flask(__name__, template_folder="web/templates")
    # Werkzeug refuses larger bodies with 413 before the handler reads them.
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep contract field order
    runtime = Runtime(
        config=config,
        docker=docker,
        store=store,
        diagnoser=diagnoser,
        notifier=notifier,
        clock=clock,
        metrics=metrics or HealerMetrics(CollectorRegistry()),
    )
    app.extensions["healer"] = runtime
    guard.init_app(app, config)
    backstop.init_app(app, config.redactor)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)

    @app.context_processor
    def inject_config() -> dict[str, Any]:
        return {"config": config}

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
            runtime.metrics.webhooks.labels("too_large").inc()
            reason = f"body larger than HEALER_MAX_BODY_BYTES={config.max_body_bytes}"
        else:
            reason = exc.description or exc.name
        return jsonify(error=reason), exc.code or 500

    @app.errorhandler(Exception)
    def unexpected(exc: BaseException) -> tuple[Any, int]:
        return jsonify(internal_error(exc, request.method, request.path)), 500

    compile_all(app.jinja_env)  # before any thread could compile concurrently (see there)
    # The webhook is answered before Flask sees the request (see healer/web/intake.py);
    # nothing at all escapes to the server (see healer/web/boundary.py).
    app.wsgi_app = ContainFailures(intake.WebhookIntake(runtime, app.wsgi_app))  # type: ignore[method-assign,assignment]

    if start_workers:
        runtime.start()
    return app
