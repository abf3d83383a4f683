"""`python -m exporter`: wire the cache, watcher, sampler and HTTP server together."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

from prometheus_client import CollectorRegistry

from exporter.cache import ContainerCache
from exporter.collector import ContainerCollector
from exporter.config import ExporterConfig, load_config
from exporter.docker_port import ClientFactory, DockerAdapter
from exporter.errors import ConfigError
from exporter.server import create_wsgi_app, make_http_server
from exporter.stats import StatsSampler
from exporter.watcher import DockerWatcher
from fleet.docker_env import docker_client

log = logging.getLogger("exporter")


class Exporter:
    """The running exporter: start() returns once the HTTP server listens."""

    def __init__(
        self,
        config: ExporterConfig,
        environ: Mapping[str, str],
        *,
        api_factory: ClientFactory | None = None,
    ) -> None:
        self.config = config
        self.cache = ContainerCache()
        # prometheus_client's rendering of the families (exporter/families.py), for
        # in-process readers; /metrics renders the same bytes incrementally
        # (exporter/exposition.py), and tests compare the two.
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ContainerCollector(self.cache))

        api = api_factory or (
            lambda: docker_client(environ, max_pool_size=config.stats_concurrency + 4).api
        )

        self.watcher = DockerWatcher(
            DockerAdapter(api),
            self.cache,
            config.selector,
            config.critical_services,
            resync_seconds=config.resync_seconds,
        )
        self.sampler = (
            StatsSampler(
                DockerAdapter(api),
                self.cache,
                interval=config.stats_seconds,
                concurrency=config.stats_concurrency,
            )
            if config.stats_seconds > 0
            else None
        )
        settings = f"Managed label: {config.selector}."
        app = create_wsgi_app(self.cache, alive=self.watcher.alive, settings_text=settings)
        self.server = make_http_server(config.host, config.port, app)
        self._serve_thread = threading.Thread(
            target=self.server.serve_forever, name="exporter-http", daemon=True
        )

    def start(self) -> None:
        self.watcher.start()
        if self.sampler:
            self.sampler.start()
        self._serve_thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.watcher.stop()
        if self.sampler:
            self.sampler.stop()
        self.server.server_close()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    try:
        config = load_config(argv, env)
    except ConfigError as exc:
        print(f"exporter: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        exporter = Exporter(config, env)
    except OSError as exc:
        print(f"exporter: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exporter.start()
    log.info(
        "serving on http://%s:%d/metrics (managed label %s)",
        config.host,
        config.port,
        config.selector,
    )
    stopping.wait()
    log.info("stopping")
    exporter.stop()
    return 0
