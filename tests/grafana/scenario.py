"""The scenario the dashboards are proven on: real containers fail, the real stack heals them.

Real parts only: the exporter (`python -m exporter`) and the healer (`python -m
healer serve`, waitress) as processes, Prometheus and Alertmanager from the
shipped configs (fast profile), containers on the real Docker Engine. The LLM is
a real failure, not a fake: OLLAMA_HOST points at a loopback port where nothing
listens, so every diagnosis request fails, is timed and counted, and the rules'
diagnosis stands (the fallback the healer dashboard shows).

What happens, all at once, so the whole run stays well under a minute:
- web: an httpd with a health check and a 64 MiB limit is stopped
  → ContainerDown → the healer restarts it and verifies it (healed);
- sick: its health check starts failing (a file on its tmpfs, which a restart
  empties) → ContainerUnhealthy → restarted, healthy again (healed);
- oom: a 16 MiB container allocates until the kernel OOM-kills it once (a marker
  file in its writable layer makes the next start just sleep)
  → ContainerOOMKilled → restarted and verified (healed);
- crash: exits with a FATAL line every time it starts
  → ContainerDown → two restarts that do not stay up (failed, HealerHealFailed);
- loop: crashes under Docker's `always` restart policy
  → ContainerCrashLooping → the healer quarantines it.

Every container carries the factory's run label, and the exporter and healer
manage only that label, so containers of other tests never enter the data.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from testbed.chain import running_chain
from testbed.containers import WEB_CMD, ContainerFactory, health
from testbed.processes import Service, free_port, wait_until
from testbed.promstack import PromStack

OOM_ONCE = (
    "if [ ! -e /oom-once ]; then touch /oom-once; "
    'x=$(head -c 200000000 /dev/zero | tr "\\0" a); fi; exec sleep 100000'
)
CRASH = "echo 'FATAL: worker pool crashed, exiting'; exit 1"
LOOP = "echo 'FATAL: cannot bind queue consumer'; exit 2"

SETTLE_SECONDS = 4.0

# The outcome each role's incident must reach before the scenario is over.
EXPECTED = {
    "web": "healed",
    "sick": "healed",
    "oom": "healed",
    "crash": "failed",
    "loop": "quarantined",
}
WEB_HEALTH = health(["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"])
SICK_HEALTH = health(
    ["CMD", "sh", "-c", "test ! -e /run/sick || { echo 'queue consumer stalled'; exit 1; }"]
)


@dataclass
class Scenario:
    stack: PromStack
    exporter: Service
    healer: Service
    names: dict[str, str]  # role -> container name
    started: float  # unix time just before the first container was made
    finished: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)  # moments worth an instant query
    incidents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def prometheus_url(self) -> str:
        return self.stack.prometheus.url

    def api_incidents(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.healer.url}/api/incidents?limit=100", timeout=5)
        response.raise_for_status()
        return list(response.json()["incidents"])

    def outcome(self, role: str) -> set[str]:
        name = self.names[role]
        return {i["status"] for i in self.incidents if i["container"] == name}

    def logs(self) -> str:
        return (
            f"{self.stack.logs()}\n--- exporter ---\n{self.exporter.log()[-3000:]}"
            f"\n--- healer ---\n{self.healer.log()[-6000:]}"
        )


def cleanup(factory: ContainerFactory, timeout: float = 60.0) -> None:
    """Remove the scenario's containers, waiting out a daemon restart (another test's)."""

    def removed() -> bool:
        factory.cleanup()
        return True

    wait_until(
        removed,
        timeout=timeout,
        interval=1.0,
        what="the Docker daemon to answer for the clean-up",
    )


def _all_expected_reached(scenario: Scenario) -> bool:
    scenario.incidents = scenario.api_incidents()
    return all(want in scenario.outcome(role) for role, want in EXPECTED.items())


def _prometheus_has(stack: PromStack, promql: str) -> bool:
    return bool(stack.query(promql))


def _wait_seen(stack: PromStack, container: str, family: str, status: str) -> None:
    label = "status" if family == "health_status" else "state"
    wait_until(
        lambda: _prometheus_has(
            stack, f'docker_container_{family}{{container="{container}",{label}="{status}"}} == 1'
        ),
        timeout=20,
        interval=0.2,
        what=f"Prometheus to see {container} {status}",
    )


@contextlib.contextmanager
def run_scenario(
    workdir: Path, factory: ContainerFactory, *, timeout: float = 60.0
) -> Iterator[Scenario]:
    """Start the stack, break the containers, wait until the healer concluded every
    incident and Prometheus scraped the healer's final counts; stop it all on exit."""
    managed = f"itops.test.run={factory.run_id}"
    with contextlib.ExitStack() as stop:
        chain = stop.enter_context(
            running_chain(
                workdir,
                managed_label=managed,
                exporter_args=("--stats-interval", "0.5"),
                healer_settings={
                    "LLM_BACKEND": "ollama",
                    # Nothing listens here: a real "Ollama is down".
                    "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",
                    "LLM_TIMEOUT_SECONDS": "2",
                    "MAX_RESTART_ATTEMPTS": "2",
                    "HEALER_WORKERS": "4",
                },
            )
        )
        exporter, healer, stack = chain.exporter, chain.healer, chain.stack

        started = time.time()
        web = factory.run(WEB_CMD, hint="web", healthcheck=WEB_HEALTH, mem_limit="64m")
        # /run is a tmpfs: a restart empties it, so the restart is what cures "sick".
        sick = factory.run(hint="sick", healthcheck=SICK_HEALTH, tmpfs={"/run": ""})
        names = {"web": web.name, "sick": sick.name}
        scenario = Scenario(stack, exporter, healer, names, started)
        try:
            for container in (web, sick):
                _wait_seen(stack, container.name, "health_status", "healthy")
            web.stop(timeout=0)
            names["oom"] = factory.run(
                ["sh", "-c", OOM_ONCE], hint="oom", mem_limit="16m", memswap_limit="16m"
            ).name
            names["crash"] = factory.run(["sh", "-c", CRASH], hint="crash").name
            names["loop"] = factory.run(
                ["sh", "-c", LOOP], hint="loop", restart_policy={"Name": "always"}
            ).name
            sick.exec_run(["touch", "/run/sick"])
            _wait_seen(stack, sick.name, "health_status", "unhealthy")
            scenario.marks["sick unhealthy"] = time.time()
            wait_until(
                lambda: _all_expected_reached(scenario),
                timeout=timeout,
                interval=0.5,
                what=f"incidents {EXPECTED} for {names}",
            )
            # The healer's last counts must be in Prometheus before anyone queries it.
            wait_until(
                lambda: _prometheus_has(
                    stack,
                    'healer_incidents_total{outcome="healed"} >= 3 '
                    'and on () healer_incidents_total{outcome="failed"} >= 1 '
                    "and on () healer_quarantined_containers >= 1",
                ),
                timeout=15,
                interval=0.5,
                what="Prometheus to scrape the healer's final counts",
            )
        except Exception as exc:
            raise AssertionError(f"{exc}\n{scenario.incidents}\n{scenario.logs()}") from exc
        # A few more scrapes, so the last events sit inside a 1s-step range query
        # (its last step may fall up to one step before its end) with their "after".
        time.sleep(SETTLE_SECONDS)
        scenario.finished = time.time()
        yield scenario
