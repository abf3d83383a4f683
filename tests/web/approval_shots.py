"""Make the approval pictures in docs/ from a real run.

    .venv/bin/python -m tests.web.approval_shots [--out docs]

Runs the approval scenario (tests/web/approval_scenario.py) with the sample stack's
name prod-web-01: the healer holds it in check mode and mails a real SMTP server;
headless Chromium shows the HTML part of the email that arrived, and the
confirmation page its *Restart now* link opens (nothing is confirmed). The container
is removed afterwards. Refuses to run when a container named prod-web-01 exists.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import docker.errors

from fleet.docker_env import docker_client
from testbed.containers import ContainerFactory
from testbed.processes import REPO
from tests.grafana.scenario import cleanup
from tests.healer.approval_links import approval_links
from tests.web.approval_scenario import run_approval_scenario
from tests.web.cdp import chromium

NAME = "prod-web-01"
EMAIL_SIZE = (720, 900)
PAGE_SIZE = (900, 440)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args(argv)

    client = docker_client(os.environ)
    try:
        client.containers.get(NAME)
    except docker.errors.NotFound:
        pass
    else:
        print(f"a container named {NAME} exists; remove it or run elsewhere", file=sys.stderr)
        return 1
    factory = ContainerFactory(client)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="itops-approval-shots-") as work,
            run_approval_scenario(
                # The shipped label, as in the other pictures; the healer runs in check
                # mode and only on the alert the scenario posts, so it touches nothing else.
                Path(work),
                factory,
                name=NAME,
                managed_label="environment=production",
            ) as run,
        ):
            (email,) = run.emails(1)
            html = Path(work) / "email.html"
            html.write_text(email.part("html"))
            with chromium(EMAIL_SIZE) as tab:
                tab.open(html.as_uri())
                print(_shown(tab.screenshot(args.out / "email-approval.png")))
            with chromium(PAGE_SIZE) as tab:
                tab.open(approval_links(email.part("html"))["restart"])
                print(_shown(tab.screenshot(args.out / "approval-page.png")))
    finally:
        cleanup(factory)
    return 0


def _shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


if __name__ == "__main__":
    sys.exit(main())
