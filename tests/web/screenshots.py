"""Make the status page screenshots in docs/ from a real run.

    .venv/bin/python -m tests.web.screenshots [--out docs]

Runs the status page scenario (tests/web/scenario.py) with the sample stack's
container names (prod-web-01, prod-app-01, prod-db-01, prod-cache-01) and the
shipped managed label `environment=production`, then photographs `/` and an
incident page with headless Chromium. The containers are removed afterwards.
It refuses to run when containers of those names exist, and refuses to keep
pictures that show other `environment=production` containers (run it on a
daemon where no other test is running).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import docker
import docker.errors

from fleet.docker_env import docker_client
from testbed.containers import ContainerFactory
from testbed.processes import REPO
from tests.grafana.scenario import cleanup
from tests.web.browser import PHONE, screenshot
from tests.web.scenario import ROLES, run_page_scenario

MANAGED = "environment=production"
SHOTS = {
    # file name: (what to open, window size)
    "status-page.png": ("/", (1280, 1180)),
    "status-page-phone.png": ("/", PHONE),
    "incident-page.png": ("/incidents/{cache}", (1280, 1720)),
}


def _others(client: docker.DockerClient, ours: set[str]) -> list[str]:
    # The low-level list: containers of other runs may vanish between a list and an inspect.
    managed = client.api.containers(all=True, filters={"label": MANAGED})
    names = {str(c["Names"][0]).lstrip("/") for c in managed}
    return sorted(names - ours)


def _exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.containers.get(name)
    except docker.errors.NotFound:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args(argv)

    client = docker_client(os.environ)
    taken = [n for n in ROLES.values() if _exists(client, n)]
    if taken:
        print(f"containers named {taken} exist; remove them or run elsewhere", file=sys.stderr)
        return 1
    factory = ContainerFactory(client)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="itops-shots-") as work,
            run_page_scenario(Path(work), factory, name=lambda n: n, managed_label=MANAGED) as run,
        ):
            others = _others(client, set(run.names.values()))
            if others:
                more = f" and {len(others) - 5} more" if len(others) > 5 else ""
                print(
                    f"other managed containers would be in the picture: {others[:5]}{more}",
                    file=sys.stderr,
                )
                return 1
            for file, (path, size) in SHOTS.items():
                url = run.url + path.format(**run.incidents)
                shot = screenshot(url, args.out / file, size=size)
                print(f"{shot.relative_to(REPO) if shot.is_relative_to(REPO) else shot}: {url}")
            others = _others(client, set(run.names.values()))
            if others:
                print(f"{others[:5]} appeared while the pictures were taken", file=sys.stderr)
                return 1
    finally:
        cleanup(factory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
