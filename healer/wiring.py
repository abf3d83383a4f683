"""Building the real dependencies from a validated config (the composition root)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import docker
from prometheus_client import CollectorRegistry

from fleet.docker_env import docker_client
from healer.clock import SystemClock
from healer.config import HealerConfig
from healer.dependencies import Dependencies
from healer.diagnosis.service import DiagnosisService
from healer.docker_port import DockerAdapter
from healer.metrics import HealerMetrics
from healer.notify.channels import outbox_from_config
from healer.store import SqliteStore, Store


def open_store(config: HealerConfig) -> Store:
    """SQLite in HEALER_DATA_DIR, or the PostgreSQL store HEALER_DATABASE_URL names."""
    if config.database_url:
        from healer.store.postgres import PostgresStore  # psycopg only when it is used

        return PostgresStore(config.database_url)
    return SqliteStore(config.database)


def build(config: HealerConfig, environ: Mapping[str, str] | None = None) -> Dependencies:
    """The real dependencies: Docker from the environment, SQLite in HEALER_DATA_DIR,
    the configured LLM, the outbox with its channels."""
    env = dict(os.environ if environ is None else environ)
    clock = SystemClock()
    metrics = HealerMetrics(CollectorRegistry())

    def api() -> docker.APIClient:
        return docker_client(env).api

    store = open_store(config)
    return Dependencies(
        config=config,
        docker=DockerAdapter(api, config.redactor),
        store=store,
        diagnoser=DiagnosisService.from_settings(
            config.llm, metrics=metrics, redactor=config.redactor
        ),
        notifier=outbox_from_config(config, store=store, clock=clock, metrics=metrics),
        clock=clock,
        metrics=metrics,
    )
