"""The whole chain on real parts: Docker → exporter → Prometheus → Alertmanager → healer → SMTP.

Prometheus and Alertmanager load the project's own rules and routing (targets,
webhook URL and token file rewritten to loopback, timings from the FAST
profile). The exporter and the healer run as real processes (the healer under
gunicorn); email goes to a real SMTP server on loopback.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.healer.conftest import TOKEN, healer_env
from tests.support.containers import ContainerFactory
from tests.support.healer_proc import start_healer
from tests.support.processes import Service, free_port, python_module, start_service, wait_until
from tests.support.promstack import FAST, Profile, PromStack, prom_stack
from tests.support.smtp import SmtpServer

MAIL_USER, MAIL_PASSWORD = "alerts@example.com", "app-password-16ch"
MAIL_TO = "oncall@example.com"


@dataclass
class Chain:
    factory: ContainerFactory
    label: str  # the managed label this chain's exporter and healer use
    exporter: Service
    healer: Service
    stack: PromStack
    smtp: SmtpServer

    def managed(self, command: list[str] | None = None, **kwargs: Any) -> Any:
        labels = {self.label.split("=")[0]: self.label.split("=")[1], **kwargs.pop("labels", {})}
        return self.factory.run(command or ["sleep", "100000"], labels=labels, **kwargs)

    def incidents(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.healer.url}/api/incidents", timeout=5)
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()["incidents"]
        return result

    def incident_for(self, container: str) -> dict[str, Any] | None:
        found = [i for i in self.incidents() if i["container"] == container]
        return found[0] if found else None

    def wait_incident(
        self, container: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            incident = self.incident_for(container)
            return incident if incident and done(incident) else None

        result = wait_until(
            ready, timeout=timeout, interval=0.2, what=f"incident for {container}\n{self.logs()}"
        )
        assert isinstance(result, dict)
        return result

    def wait_scraped(self, container: str) -> None:
        self.stack.wait_for_targets(["exporter", "healer"])
        wait_until(
            lambda: self.stack.query(f'docker_container_state{{container="{container}"}}'),
            timeout=20,
            what=f"Prometheus to scrape {container}",
        )

    def logs(self) -> str:
        return (
            f"--- healer ---\n{self.healer.log()[-3000:]}\n"
            f"--- exporter ---\n{self.exporter.log()[-1500:]}\n{self.stack.logs()}"
        )


ChainFactory = Callable[..., Chain]


@pytest.fixture
def chain(tmp_path: Path, container_factory: ContainerFactory) -> Iterator[ChainFactory]:
    with contextlib.ExitStack() as stack:

        def start(mode: str = "heal", profile: Profile = FAST, **healer_overrides: str) -> Chain:
            label = f"itops.e2e={container_factory.run_id}"
            smtp = SmtpServer(users={MAIL_USER: MAIL_PASSWORD}).start()
            stack.callback(smtp.stop)
            exporter_port = free_port()
            exporter = start_service(
                "exporter",
                python_module(
                    "exporter",
                    "--listen",
                    f"127.0.0.1:{exporter_port}",
                    "--managed-label",
                    label,
                    "--stats-interval",
                    "1",
                ),
                port=exporter_port,
                log_dir=tmp_path,
                ready_url=f"http://127.0.0.1:{exporter_port}/healthz",
            )
            stack.callback(exporter.stop)
            env = healer_env(
                tmp_path / "data",
                HEALER_MODE=mode,
                MANAGED_LABEL=label,
                HEALER_VERIFY_WINDOW_SECONDS="2",
                EMAIL_FROM=MAIL_USER,
                EMAIL_TO=MAIL_TO,
                EMAIL_APP_PASSWORD=MAIL_PASSWORD,
                SMTP_HOST=smtp.host,
                SMTP_PORT=str(smtp.port),
                SMTP_SECURITY="none",
                NOTIFY_GROUP_WAIT_SECONDS="0.5",
                **healer_overrides,
            )
            healer = start_healer(env, tmp_path)
            stack.callback(healer.stop)
            token_file = tmp_path / "webhook_token"
            token_file.write_text(TOKEN)
            prom = stack.enter_context(
                prom_stack(
                    tmp_path / "prom",
                    targets={
                        "exporter": f"127.0.0.1:{exporter_port}",
                        "healer": f"127.0.0.1:{healer.port}",
                    },
                    webhook_url=f"{healer.url}/webhook/alertmanager",
                    token_file=token_file,
                    profile=profile,
                )
            )
            return Chain(container_factory, label, exporter, healer, prom, smtp)

        (tmp_path / "prom").mkdir()
        yield start


def settle(seconds: float) -> None:
    """Wait so that anything extra (a second email, a second restart) would have happened."""
    time.sleep(seconds)
