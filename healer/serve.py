"""`healer serve`: the Flask app under gunicorn (one process, several threads).

One worker process on purpose: the incident workers and the outbox live in
the same process as the intake, and SQLite has one writer. Threads give the
concurrency the webhook needs; answers take milliseconds.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from healer.app import create_app
from healer.config import HealerConfig, describe
from healer.wiring import build

log = logging.getLogger(__name__)

HTTP_THREADS = 8


class HealerServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, config: HealerConfig) -> None:
        self.config_value = config
        super().__init__()

    def load_config(self) -> None:
        c = self.config_value
        settings: dict[str, Any] = {
            "bind": f"{c.host}:{c.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": HTTP_THREADS,
            # A webhook answers in milliseconds; 30 s only guards against a wedged worker.
            "timeout": 30,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": c.log_level.lower(),
            "proc_name": "it-ops-healer",
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        # Runs in the worker process: the store, Docker client and threads are made after fork.
        deps = build(self.config_value)
        app = create_app(
            self.config_value,
            docker=deps.docker,
            store=deps.store,
            diagnoser=deps.diagnoser,
            notifier=deps.notifier,
            clock=deps.clock,
            metrics=deps.metrics,
        )
        log.info("healer ready: %s", describe(self.config_value))
        return app


def serve(config: HealerConfig) -> int:
    HealerServer(config).run()
    return 0
