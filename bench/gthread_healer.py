"""The healer as it was served before issue 11: gunicorn, one gthread worker, 8 threads.

    .venv/bin/python -m bench.gthread_healer      # same environment as `python -m healer serve`

Kept only as the baseline the benches compare `healer serve` (waitress)
against; production no longer uses it. gunicorn is a dev requirement.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from healer.app import runtime_of
from healer.config import HealerConfig, load_config
from healer.errors import ConfigError
from healer.serve import build_app


class GthreadHealer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, config: HealerConfig) -> None:
        self.config_value = config
        super().__init__()

    def load_config(self) -> None:
        c = self.config_value
        settings: dict[str, Any] = {
            "bind": f"{c.web.host}:{c.web.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": 8,
            "timeout": 30,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": c.log_level.lower(),
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        # Runs in the worker process: the store, Docker client and threads are made after fork.
        app = build_app(self.config_value)
        runtime_of(app).start()
        return app


def main() -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"gthread healer: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level)
    GthreadHealer(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
