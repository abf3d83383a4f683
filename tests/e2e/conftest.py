"""The whole chain on real parts: Docker → exporter → Prometheus → Alertmanager → healer → SMTP.

Prometheus and Alertmanager load the project's own rules and routing (targets,
webhook URL and token file rewritten to loopback, timings from the FAST
profile). The exporter and the healer run as real processes (the healer under
waitress); email goes to a real SMTP server on loopback.
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

from testbed.chain import Chain, running_chain
from testbed.containers import ContainerFactory, MadeContainer
from testbed.processes import wait_until
from testbed.promstack import FAST, Profile
from testbed.smtp import SmtpServer

MAIL_USER, MAIL_PASSWORD = "alerts@example.com", "app-password-16ch"
MAIL_TO = "oncall@example.com"


@dataclass
class E2E:
    factory: ContainerFactory
    label: str  # the managed label this chain's exporter and healer use
    chain: Chain
    smtp: SmtpServer

    @property
    def healer(self) -> Any:
        return self.chain.healer

    @property
    def stack(self) -> Any:
        return self.chain.stack

    def managed(self, command: list[str] | None = None, **kwargs: Any) -> MadeContainer:
        key, value = self.label.split("=")
        labels = {key: value, **kwargs.pop("labels", {})}
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
        wait_until(
            lambda: self.stack.query(f'docker_container_state{{container="{container}"}}'),
            timeout=20,
            what=f"Prometheus to scrape {container}",
        )

    def logs(self) -> str:
        return self.chain.logs()


ChainFactory = Callable[..., E2E]


@pytest.fixture
def chain(tmp_path: Path, container_factory: ContainerFactory) -> Iterator[ChainFactory]:
    with contextlib.ExitStack() as stack:

        def start(mode: str = "heal", profile: Profile = FAST, **healer_overrides: str) -> E2E:
            label = f"itops.e2e={container_factory.run_id}"
            smtp = SmtpServer(users={MAIL_USER: MAIL_PASSWORD}).start()
            stack.callback(smtp.stop)
            settings = {
                "HEALER_MODE": mode,
                "HEALER_VERIFY_WINDOW_SECONDS": "2",
                "EMAIL_FROM": MAIL_USER,
                "EMAIL_TO": MAIL_TO,
                "EMAIL_APP_PASSWORD": MAIL_PASSWORD,
                "SMTP_HOST": smtp.host,
                "SMTP_PORT": str(smtp.port),
                "SMTP_SECURITY": "none",
                "SMTP_ALLOW_PLAINTEXT_AUTH": "true",  # the loopback test server
                "NOTIFY_GROUP_WAIT_SECONDS": "0.5",
                **healer_overrides,
            }
            running = stack.enter_context(
                running_chain(
                    tmp_path, managed_label=label, profile=profile, healer_settings=settings
                )
            )
            return E2E(container_factory, label, running, smtp)

        yield start


def settle(seconds: float) -> None:
    """Wait so that anything extra (a second email, a second restart) would have happened."""
    time.sleep(seconds)
