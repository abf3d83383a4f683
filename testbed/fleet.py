"""A fleet on one machine: several Docker hosts, one highly available brain.

Real parts throughout, as deploy/fleet/ wires them, on loopback:

- one extra Docker Engine per host (testbed/dockerhosts.py), each with its own
  exporter (`python -m exporter`, DOCKER_HOST at that daemon);
- Prometheus with deploy/fleet/prometheus.yml and the shipped rules, one exporter
  target per host with the host's name as its `host` target label, sending to
- three Alertmanagers in one gossip cluster (deploy/fleet/alertmanager.yml), each
  notification to both healer replicas;
- two `python -m healer serve` replicas on one PostgreSQL store, with
  HEALER_DOCKER_HOSTS naming the daemons' sockets (by default every host but the
  last: a host Prometheus watches and the healer does not know).

    with running_fleet(tmp_path, postgres=pg) as fleet:
        fleet.hosts["docker-b"].client.containers.run(...)
        fleet.incidents(container="web")

Everything is stopped and removed on exit, also when start-up fails half-way.
`startup_seconds` says how long the whole thing took to be ready.

Why one file over 200 lines: the fleet's parts only make sense started together
and in this order; tests and the bench use it whole.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from testbed.dockerhosts import SimulatedHost, simulated_hosts
from testbed.healer_proc import TOKEN, healer_env, start_healer
from testbed.postgres import PgServer, pg_server
from testbed.processes import REPO, Service, free_port, python_module, start_service, wait_until
from testbed.promstack import (
    FAST,
    Gossip,
    Profile,
    PromStack,
    ScrapeTarget,
    render_alertmanager,
    render_prometheus,
    start_alertmanager,
    start_prometheus,
)
from testbed.scrape import scrape

FLEET_DIR = REPO / "deploy" / "fleet"
HOSTS = ("docker-a", "docker-b", "docker-c")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Each member waits this long per position in the cluster before it sends what the
# members before it should have sent (Alertmanager's default is 15s): short, so the
# cluster's own hand-over happens within a test.
PEER_TIMEOUT = "2s"
# A command that stops at once on SIGTERM (a shell as PID 1 ignores it otherwise and
# `docker stop` waits for its timeout), so restarts take milliseconds.
SERVICE_CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait"]


@dataclass
class Fleet:
    hosts: dict[str, SimulatedHost]
    exporters: dict[str, Service]
    stack: PromStack
    healers: list[Service]
    database_url: str
    workdir: Path
    known_hosts: tuple[str, ...]
    startup_seconds: float

    # -- what the healers did ---------------------------------------------------------
    def incidents(self, *, since: float = 0.0, **match: str) -> list[dict[str, Any]]:
        """Every incident of the shared store (asked of a live replica) whose fields
        equal `match` (e.g. container=..., host=...), opened at `since` (epoch) or later."""
        for healer in self.healers:
            if not healer.alive():
                continue
            answer = requests.get(
                f"{healer.url}/api/incidents", params={"limit": "500"}, timeout=5
            ).json()
            return [
                i
                for i in answer["incidents"]
                if all((i.get(k) or "") == v for k, v in match.items())
                and datetime.fromisoformat(i["opened_at"]).timestamp() >= since
            ]
        raise RuntimeError("no healer replica is running")

    def wait_for_incident(
        self, *, timeout: float = 60.0, stage: str = "done", since: float = 0.0, **match: str
    ) -> dict[str, Any]:
        """The one incident matching `match` (opened at `since` or later), once it has
        reached `stage`."""

        def found() -> dict[str, Any] | None:
            hits = self.incidents(since=since, **match)
            return hits[0] if len(hits) == 1 and hits[0]["stage"] == stage else None

        incident = wait_until(
            found, timeout=timeout, interval=0.2, what=f"an incident {match} at {stage}"
        )
        assert isinstance(incident, dict)
        return incident

    def emails(self, mentioning: str = "") -> list[Path]:
        """The .eml files in every replica's outbox (whichever replica sent it)."""
        return [
            path
            for path in sorted(self.workdir.glob("replica-*/outbox/*.eml"))
            if mentioning in path.read_text(errors="replace")
        ]

    def webhook_alerts(self, result: str) -> float:
        """healer_webhook_alerts_total{result} summed over the live replicas."""
        return sum(
            value
            for healer in self.healers
            if healer.alive()
            for (name, labels), value in scrape(f"{healer.url}/metrics").items()
            if name == "healer_webhook_alerts_total" and dict(labels).get("result") == result
        )

    # -- what Prometheus sees ----------------------------------------------------------
    def wait_until_seen(
        self, container: str, state: str, hosts: Sequence[str], timeout: float = 30.0
    ) -> None:
        """Until Prometheus has `container` in `state` on every one of `hosts`."""
        query = f'docker_container_state{{container="{container}",state="{state}"}} == 1'
        wait_until(
            lambda: {r["metric"]["host"] for r in self.stack.query(query)} >= set(hosts),
            timeout=timeout,
            interval=0.2,
            what=f"Prometheus to see {container} {state} on {list(hosts)}",
        )

    def firing(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        """Prometheus' firing alerts of that name whose labels include `labels`."""
        return [
            a
            for a in self.stack.alerts()
            if a["state"] == "firing"
            and a["labels"].get("alertname") == alertname
            and all(a["labels"].get(k) == v for k, v in labels.items())
        ]

    def logs(self) -> str:
        parts = [self.stack.logs()]
        parts += [f"--- {h.name} ---\n{h.log()[-3000:]}" for h in self.healers]
        parts += [f"--- exporter {n} ---\n{e.log()[-1500:]}" for n, e in self.exporters.items()]
        return "\n".join(parts)


def _start_exporter(host: SimulatedHost, workdir: Path) -> Service:
    port = free_port()
    return start_service(
        f"exporter-{host.name}",
        python_module(
            "exporter",
            "--listen",
            f"127.0.0.1:{port}",
            "--managed-label",
            "environment=production",
            # CPU and memory samples are not what a fleet test looks at; off, they cost
            # nothing on a 2-core machine that runs three daemons.
            "--stats-interval",
            "0",
        ),
        port=port,
        log_dir=workdir,
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env={"DOCKER_HOST": host.docker_host},
    )


def _start_alertmanagers(config: Path, workdir: Path, count: int) -> list[Service]:
    web = [free_port() for _ in range(count)]
    gossip = [free_port() for _ in range(count)]

    def start(n: int) -> Service:
        member = Gossip(gossip[n], [p for p in gossip if p != gossip[n]], PEER_TIMEOUT)
        return start_alertmanager(
            config, workdir, port=web[n], gossip=member, name=f"alertmanager-{n + 1}"
        )

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(start, n) for n in range(count)]
    failures = [e for f in futures if (e := f.exception()) is not None]
    started = [f.result() for f in futures if f.exception() is None]
    if failures:
        for service in started:
            service.stop()
        raise failures[0]
    return started


def _cluster_ready(alertmanagers: Sequence[Service]) -> bool:
    for am in alertmanagers:
        cluster = requests.get(f"{am.url}/api/v2/status", timeout=5).json()["cluster"]
        if cluster["status"] != "ready" or len(cluster.get("peers", [])) != len(alertmanagers):
            return False
    return True


@contextlib.contextmanager
def running_fleet(
    workdir: Path,
    *,
    hosts: Sequence[str] = HOSTS,
    known_hosts: Sequence[str] | None = None,
    replicas: int = 2,
    alertmanagers: int = 3,
    profile: Profile = FAST,
    postgres: PgServer | None = None,
    healer_settings: Mapping[str, str] | None = None,
) -> Iterator[Fleet]:
    """Start the fleet (see the module docstring) and stop all of it on exit.

    `known_hosts` are the hosts in the healers' HEALER_DOCKER_HOSTS (default: all but
    the last). Without `postgres`, a throwaway PostgreSQL server is started too.
    """
    started = time.monotonic()
    known = tuple(hosts[:-1] if known_hosts is None else known_hosts)
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stop:
        daemons = stop.enter_context(simulated_hosts(hosts))
        pg = postgres or stop.enter_context(pg_server())
        database_url = pg.create_database()

        with ThreadPoolExecutor(max_workers=len(daemons)) as pool:
            futures = {n: pool.submit(_start_exporter, h, workdir) for n, h in daemons.items()}
        exporters: dict[str, Service] = {}
        for name, future in futures.items():
            if future.exception() is None:
                exporters[name] = future.result()
                stop.callback(exporters[name].stop)
        for future in futures.values():
            future.result()  # raises the first start-up failure, after cleanup is arranged

        host_map = ",".join(f"{n}={daemons[n].docker_host}" for n in known)
        settings = [
            healer_env(
                workdir / f"replica-{n}",
                HEALER_DATABASE_URL=database_url,
                HEALER_DOCKER_HOSTS=host_map,
                **dict(healer_settings or {}),
            )
            for n in range(replicas)
        ]
        healers: list[Service] = []
        for n in range(replicas):
            healer = start_healer(settings[n], workdir, name=f"replica-{n}")
            healers.append(healer)
            stop.callback(healer.stop)

        token_file = workdir / "webhook_token"
        token_file.write_text(TOKEN + "\n")
        am_config = render_alertmanager(
            workdir / "am",
            webhook_url=[f"{h.url}/webhook/alertmanager" for h in healers],
            token_file=token_file,
            profile=profile,
            source=FLEET_DIR / "alertmanager.yml",
        )
        managers = _start_alertmanagers(am_config, workdir, alertmanagers)
        for am in managers:
            stop.callback(am.stop)

        prom_port = free_port()
        prom_config = render_prometheus(
            workdir / "prom",
            targets={
                "exporter": [
                    ScrapeTarget(exporters[n].url.removeprefix("http://"), {"host": n})
                    for n in hosts
                ],
                "healer": [ScrapeTarget(h.url.removeprefix("http://"), {}) for h in healers],
                "alertmanager": [
                    ScrapeTarget(am.url.removeprefix("http://"), {}) for am in managers
                ],
                "prometheus": f"127.0.0.1:{prom_port}",
            },
            alertmanager=[am.url.removeprefix("http://") for am in managers],
            profile=profile,
            source=FLEET_DIR / "prometheus.yml",
            rules_dir=REPO / "prometheus",
        )
        prometheus = start_prometheus(prom_config, workdir, port=prom_port, resend_delay="1s")
        stop.callback(prometheus.stop)
        stack = PromStack(prometheus, managers[0], workdir, peers=managers[1:])
        stack.wait_for_alertmanager()
        stack.wait_for_targets(["exporter", "healer"], timeout=60)
        wait_until(
            lambda: _cluster_ready(managers),
            timeout=60,
            interval=0.3,
            what="the Alertmanager cluster to settle",
        )
        yield Fleet(
            hosts=daemons,
            exporters=exporters,
            stack=stack,
            healers=healers,
            database_url=database_url,
            workdir=workdir,
            known_hosts=known,
            startup_seconds=time.monotonic() - started,
        )


__all__ = ["AUTH", "HOSTS", "SERVICE_CMD", "Fleet", "running_fleet"]
