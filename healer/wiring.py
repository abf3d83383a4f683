"""Building the real dependencies from a validated config (the composition root)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import docker
import docker.constants
import docker.tls
from prometheus_client import CollectorRegistry

from fleet.docker_env import docker_client
from healer.clock import SystemClock
from healer.config import HealerConfig
from healer.dependencies import Dependencies
from healer.diagnosis.service import DiagnosisService
from healer.docker_port import DockerAdapter
from healer.hosts import CircuitBreaker, DockerHosts, HostSpec
from healer.metrics import HealerMetrics
from healer.notify.channels import outbox_from_config
from healer.store import SqliteStore, Store

# A remote host answers a call within this, or counts as unreachable (its breaker opens
# after three in a row): one host down never makes the others wait.
HOST_TIMEOUT_SECONDS = 10


def host_client(host: HostSpec, config: HealerConfig) -> Callable[[], docker.APIClient]:
    """A client factory for one host of the map: unix://, tcp:// (mutual TLS when
    HEALER_DOCKER_TLS_DIR/<host>/ holds ca.pem, cert.pem and key.pem) or ssh://."""

    def make() -> docker.APIClient:
        tls: docker.tls.TLSConfig | bool = False
        certs = config.docker_tls_dir / host.name if config.docker_tls_dir else None
        if host.endpoint.startswith("tcp://") and certs is not None and certs.is_dir():
            tls = docker.tls.TLSConfig(
                client_cert=(str(certs / "cert.pem"), str(certs / "key.pem")),
                ca_cert=str(certs / "ca.pem"),
                verify=True,
            )

        def client(version: str) -> docker.APIClient:
            api = docker.APIClient(
                base_url=host.endpoint.replace("tcp://", "https://" if tls else "http://", 1)
                if host.endpoint.startswith("tcp://")
                else host.endpoint,
                version=version,
                timeout=HOST_TIMEOUT_SECONDS,
                tls=tls,
                use_ssh_client=host.endpoint.startswith("ssh://"),
            )
            # Nothing from the process environment: no HTTP proxy (see
            # fleet/docker_env.py), and no REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, which
            # requests would otherwise put in place of this host's own CA.
            api.trust_env = False
            return api

        # The API version is asked here, not with version="auto": "auto" asks inside
        # the constructor, before trust_env can be turned off, so wherever a CA bundle
        # variable is set the TLS handshake failed and the host was never reached.
        probe = client(docker.constants.MINIMUM_DOCKER_API_VERSION)
        try:
            version = str(probe.version(api_version=False)["ApiVersion"])
        finally:
            probe.close()
        return client(version)

    return make


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

    if config.docker_hosts:
        hosts = DockerHosts(
            {
                h.name: CircuitBreaker(
                    h.name, DockerAdapter(host_client(h, config), config.redactor)
                )
                for h in config.docker_hosts
            },
            mapped=True,
        )
    else:
        hosts = DockerHosts.single(DockerAdapter(api, config.redactor))

    store = open_store(config)
    return Dependencies(
        config=config,
        hosts=hosts,
        store=store,
        diagnoser=DiagnosisService.from_settings(
            config.llm, metrics=metrics, redactor=config.redactor
        ),
        notifier=outbox_from_config(config, store=store, clock=clock, metrics=metrics),
        clock=clock,
        metrics=metrics,
    )
