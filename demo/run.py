"""The classic incident, step by step, on real parts and without compose.

Sample containers (stand-ins built from the local busybox image, since no
registry is reachable on the test bed), the exporter, the healer under
waitress, Prometheus and Alertmanager with the project's own configs rewritten
to loopback (fast timings), and an SMTP sink. Then: stop prod-web-01, show the
check-mode diagnosis, heal it, switch the webhook healer to heal mode and watch
it heal a second outage by itself, tail alerts.log, print the email, tear down.

Why one file over 300 lines: it is a script a newcomer reads as the story of one
incident, in the order it is told.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from demo.model import HOW_TO_ENABLE, ModelChoice, choose_model
from fleet.docker_env import docker_client
from testbed.chain import Chain, running_chain
from testbed.containers import ContainerFactory, health
from testbed.processes import REPO, Service
from testbed.processes import wait_until as _wait_until
from testbed.smtp import SmtpServer

BOLD, DIM, GREEN, RED, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = GREEN = RED = RESET = ""

STEPS = 8


def step(n: int, title: str) -> None:
    print(f"\n{BOLD}[{n}/{STEPS}] {title}{RESET}", flush=True)


def say(text: str) -> None:
    print(textwrap.indent(text, "      "), flush=True)


def wait_until(predicate: Any, what: str, timeout: float = 120.0) -> Any:
    return _wait_until(predicate, timeout=timeout, interval=0.2, what=what)


SAMPLE = {
    "prod-web-01": (
        ["sh", "-c", "echo 'nginx-like web server on :80'; exec httpd -f -v -p 80 -h /www"],
        health(["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"], interval=1),
        {"critical": "true"},
    ),
    "prod-app-01": (
        [
            "sh",
            "-c",
            'while :; do echo "$(date -Iseconds) INFO app: GET /health 200"; sleep 5; done',
        ],
        None,
        {},
    ),
    "prod-db-01": (
        [
            "sh",
            "-c",
            "echo 'LOG:  database system is ready to accept connections'; exec sleep 1000000",
        ],
        None,
        {"critical": "true"},
    ),
    "prod-cache-01": (
        ["sh", "-c", "echo '* Ready to accept connections tcp'; exec sleep 1000000"],
        None,
        {},
    ),
}


def names_free(client: docker.DockerClient, names: list[str]) -> bool:
    for name in names:
        try:
            client.containers.get(name)
        except docker.errors.NotFound:
            continue
        return False
    return True


def start_sample(factory: ContainerFactory, prefix: str, label: str) -> dict[str, Any]:
    key, value = label.split("=")
    made = {}
    for name, (command, check, extra) in SAMPLE.items():
        made[name] = factory.run(
            command, name=f"{prefix}{name}", healthcheck=check, labels={key: value, **extra}
        )
    return made


def docker_ps(client: docker.DockerClient, label: str) -> None:
    rows = [("NAME", "STATUS", "LABELS")]
    for c in sorted(
        client.containers.list(all=True, filters={"label": label}), key=lambda c: c.name or ""
    ):
        state = c.attrs["State"]
        status = state["Status"] + (
            f" ({state['Health']['Status']})" if state.get("Health") else ""
        )
        rows.append((str(c.name), status, "environment=production"))
    width = max(len(r[0]) for r in rows)
    for row in rows:
        say(f"{row[0].ljust(width)}  {row[1].ljust(22)}  {row[2]}")


def api(healer: Service, path: str) -> Any:
    answer = requests.get(f"{healer.url}{path}", timeout=5)
    answer.raise_for_status()
    return answer.json()


def show_incident(incident: dict[str, Any]) -> None:
    d = incident["diagnosis"] or {}
    lines = [
        f"incident #{incident['id']}: {incident['alertname']} on {incident['container']} "
        f"→ {BOLD}{incident['status']}{RESET} (mode {incident['mode']})",
        f"diagnosis ({d.get('source')}): {d.get('category')}: {d.get('root_cause')}",
        f"restart safe: {'yes' if d.get('restart_safe') else 'no'} · {d.get('recommendation')}",
    ]
    if d.get("note"):
        lines.append(f"note: {d['note']}")
    if incident.get("decision"):
        lines.append(f"decision: {incident['decision']['reason']}")
    for action in incident.get("actions", []):
        lines.append(
            f"{action['action']} #{action['attempt']}: {action['result']} "
            f"in {action['duration_seconds']}s"
        )
    if incident.get("verification"):
        v = incident["verification"]
        mark = f"{GREEN}verified{RESET}" if v["ok"] else f"{RED}NOT verified{RESET}"
        lines.append(f"{mark}: {v['summary']}")
    say("\n".join(lines))


ASK_QUESTION = "Which containers need attention and why?"


def healer_cli(chain: Chain, *args: str, **settings: str) -> str:
    """`python -m healer ARGS` with the demo healer's settings (and `settings`); its output."""
    result = subprocess.run(
        [sys.executable, "-m", "healer", *args],
        env={**os.environ, **chain.healer_settings, **settings, "PYTHONPATH": str(REPO)},
        cwd=chain.workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.stdout.strip() or result.stderr.strip()


def latest_for(healer: Service, container: str, after: int = 0) -> dict[str, Any] | None:
    found = api(healer, f"/api/incidents?container={container}")["incidents"]
    fresh = [i for i in found if i["id"] > after]
    return fresh[0] if fresh else None


def demo_chain(
    workdir: Path, label: str, smtp: SmtpServer, model: ModelChoice
) -> contextlib.AbstractContextManager[Chain]:
    return running_chain(
        workdir,
        managed_label=label,
        exporter_args=("--stats-interval", "2"),
        healer_settings={
            "HEALER_MODE": "check",
            "HEALER_VERIFY_WINDOW_SECONDS": "3",
            **model.settings,
            "EMAIL_FROM": "itops-demo@example.com",
            "EMAIL_TO": "oncall@example.com",
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_SECURITY": "none",
            "NOTIFY_GROUP_WAIT_SECONDS": "0.5",
        },
    )


def main() -> int:
    client = docker_client(os.environ)
    run_id = uuid.uuid4().hex[:6]
    label = f"itops.demo={run_id}"
    factory = ContainerFactory(client, run_id=run_id)
    prefix = "" if names_free(client, list(SAMPLE)) else "demo-"
    web = f"{prefix}prod-web-01"
    print(f"{BOLD}IT Operations Agent — the classic incident, on this host{RESET}")
    if prefix:
        print(
            f"{DIM}(containers named prod-* exist already; the demo's are named demo-prod-*){RESET}"
        )
    model = choose_model(os.environ)
    smtp = SmtpServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="itops-demo-") as tmp:
            workdir = Path(tmp)
            step(1, "Start the sample production stack (labelled environment=production)")
            start_sample(factory, prefix, label)
            say("stand-ins from the local busybox image: no registry is reachable on the test bed")
            step(
                2,
                "Start the agent: exporter, healer (check mode), Prometheus, Alertmanager, "
                "an SMTP sink",
            )
            with demo_chain(workdir, label, smtp, model) as chain:
                prom = chain.stack
                say(f"healer status page: {chain.healer.url}/   Prometheus: {prom.prometheus.url}")
                if model.found:
                    say(f"LLM (advice only): {model.describe}")
                else:
                    say(f"LLM: off, {model.why_none}; the rules diagnose alone.\n{HOW_TO_ENABLE}")
                say(
                    "Prometheus and Alertmanager load prometheus/ and alertmanager/ from this "
                    "repository, rewritten to loopback with 1 s intervals"
                )
                step(3, "docker ps")
                wait_until(
                    lambda: prom.query(
                        f'docker_container_health_status{{container="{web}",status="healthy"}} == 1'
                    ),
                    "prod-web-01 to be healthy",
                )
                docker_ps(client, label)

                step(4, f"Simulate the incident: docker stop {web}")
                t0 = time.time()
                client.containers.get(web).stop(timeout=2)
                say(
                    "stopped; Prometheus evaluates ContainerDown, "
                    "Alertmanager delivers it to the healer"
                )
                incident = wait_until(
                    lambda: (i := latest_for(chain.healer, web)) and i["stage"] == "done" and i,
                    "the check-mode incident",
                )
                step(5, f"Check mode: diagnosis only ({time.time() - t0:.1f}s after the stop)")
                show_incident(incident)
                running = client.containers.get(web).status
                say(f"{web} is still {running}: check mode never restarts")
                say(f"\n$ python -m healer ask {ASK_QUESTION!r}")
                say(healer_cli(chain, "ask", ASK_QUESTION))

                step(6, "Heal mode, one shot: python -m healer heal")
                # A one-shot heal is a heal-mode run: with the webhook healer's HEALER_MODE=check
                # it would decide in check mode (the stricter one wins) and restart nothing.
                say(healer_cli(chain, "heal", HEALER_MODE="heal"))

                step(
                    7,
                    "Autopilot: the webhook healer switched to heal mode; the outage happens again",
                )
                chain.restart_healer(HEALER_MODE="heal")
                wait_until(
                    lambda: prom.query(
                        f'docker_container_state{{container="{web}",state="running"}} == 1'
                    ),
                    "Prometheus to see prod-web-01 running again",
                )
                last = latest_for(chain.healer, web)
                after = int(last["id"]) if last else 0
                t0 = time.time()
                client.containers.get(web).stop(timeout=2)
                say(f"docker stop {web}")
                incident = wait_until(
                    lambda: (
                        (i := latest_for(chain.healer, web, after)) and i["stage"] == "done" and i
                    ),
                    "the automatic heal",
                )
                show_incident(incident)
                say(
                    f"{GREEN}stop → healed and verified: {time.time() - t0:.1f}s{RESET} "
                    "(1 s scrapes, for: 2 s, group_wait 1 s, 3 s verification window)"
                )

                step(8, "What people were told: alerts.log and the emails")
                log_lines = (workdir / "data" / "alerts.log").read_text().splitlines()
                for line in log_lines[-6:]:
                    record = json.loads(line)
                    say(
                        f"{record['at']} {record['kind']:<8} #{record['incident_id']} "
                        f"{record['container']} {record['status']}"
                    )
                mails = smtp.wait_for(3, timeout=30)
                say(f"\n{len(mails)} email(s) at the SMTP sink:")
                for mail in mails:
                    say(f"  • {mail.subject}")
                say("\nThe first one, as plain text:\n")
                say(mails[0].part("plain")[:3000])
    finally:
        print(f"\n{DIM}tearing down…{RESET}")
        smtp.stop()
        factory.cleanup()
    print(f"{BOLD}Done.{RESET} Everything the demo started is gone.")
    return 0
