"""Building the real dependencies from a validated config (the composition root)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import docker
from prometheus_client import CollectorRegistry

from fleet.docker_env import docker_client
from healer.clock import Clock, SystemClock
from healer.config import HealerConfig
from healer.diagnosis.service import DiagnosisService, LLMSettings
from healer.docker_port import DockerAdapter
from healer.metrics import HealerMetrics
from healer.notify.outbox import OutboxNotifier
from healer.runtime import Runtime
from healer.store import Store


def llm_settings(config: HealerConfig) -> LLMSettings:
    return LLMSettings(
        backend=config.llm_backend,  # type: ignore[arg-type]  # validated in config
        ollama_host=config.ollama_host,
        ollama_model=config.ollama_model,
        openai_base_url=config.openai_base_url,
        openai_model=config.openai_model,
        openai_api_key=config.openai_api_key,
        timeout_seconds=config.llm_timeout_seconds,
        max_calls_per_hour=config.llm_max_calls_per_hour,
        cache_ttl_seconds=config.llm_cache_seconds,
    )


@dataclass
class Dependencies:
    config: HealerConfig
    docker: DockerAdapter
    store: Store
    diagnoser: DiagnosisService
    notifier: OutboxNotifier
    clock: Clock
    metrics: HealerMetrics

    def runtime(self) -> Runtime:
        return Runtime(
            config=self.config,
            docker=self.docker,
            store=self.store,
            diagnoser=self.diagnoser,
            notifier=self.notifier,
            clock=self.clock,
            metrics=self.metrics,
        )

    def close(self) -> None:
        self.notifier.stop()  # the sender thread uses the store closed below
        self.diagnoser.close()
        self.store.close()


def build(config: HealerConfig, environ: Mapping[str, str] | None = None) -> Dependencies:
    env = dict(os.environ if environ is None else environ)
    clock = SystemClock()
    metrics = HealerMetrics(CollectorRegistry())

    def api() -> docker.APIClient:
        return docker_client(env).api

    store = Store(config.database)
    return Dependencies(
        config=config,
        docker=DockerAdapter(api, config.redactor),
        store=store,
        diagnoser=DiagnosisService.from_settings(
            llm_settings(config), metrics=metrics, redactor=config.redactor
        ),
        notifier=OutboxNotifier.from_config(config, store=store, clock=clock, metrics=metrics),
        clock=clock,
        metrics=metrics,
    )
