"""`docker compose` (v2) on this repository's stack, with the test bed's override.

A user runs `cp .env.example .env`, edits it and `docker compose up -d`. The test bed does
the same with a copy of .env.example in a temporary folder (`env_file_from_example`), passed
with `--env-file` so a developer's own .env is never read or written, and with
testbed/compose.override.yml (local images, no fixed names or host ports, see that file).
Every command runs with a clean environment: a variable exported in the caller's shell
would otherwise win over the .env file, as it does for users.

    project = ComposeProject("itops-e2e-1234abcd", env_file)
    project.run("up", "-d", "--wait")
    requests.get(project.url("healer", 9418) + "/healthz")
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from testbed.processes import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
TESTBED_OVERRIDE = REPO / "testbed" / "compose.override.yml"
PROJECT_LABEL = "com.docker.compose.project"
# The images testbed/compose.override.yml tags per project (the agent's own code): the
# shared itops-testbed/*:bookworm stand-ins stay, as the build cache of the next run.
PROJECT_IMAGES = ("socketproxy", "exporter", "healer")
AGENT_SERVICES = ("socket-proxy", "exporter", "healer")
STANDIN_SERVICES = (
    "prod-web-01",
    "prod-app-01",
    "prod-db-01",
    "prod-cache-01",
    "prometheus",
    "alertmanager",
)
# Compose labels every image it builds with the project's name, so the same stand-in built
# under each run's own project would be a new image each time and leave the last one
# dangling. Built under one fixed project, a cached rebuild is the very same image.
STANDIN_PROJECT = "itops-testbed"


def compose_env() -> dict[str, str]:
    """PATH and HOME (where the CLI finds its plugins) and how to reach the daemon."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        **{k: v for k, v in os.environ.items() if k.startswith("DOCKER_")},
    }


def compose_available() -> bool:
    try:
        result = subprocess.run(
            ["docker", "compose", "version"],
            env=compose_env(),
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def edit_env_file(path: Path, settings: Mapping[str, str]) -> None:
    """Set KEY=value lines as a user edits .env: in place where the key is, else appended."""
    lines = path.read_text().splitlines()
    pending = dict(settings)
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if not line.lstrip().startswith("#") and "=" in line and key in pending:
            lines[i] = f"{key}={pending.pop(key)}"
    lines.extend(f"{key}={value}" for key, value in pending.items())
    path.write_text("\n".join(lines) + "\n")


def env_file_from_example(folder: Path, settings: Mapping[str, str] | None = None) -> Path:
    """`cp .env.example .env` into `folder`, then the given edits."""
    path = folder / ".env"
    path.write_text(ENV_EXAMPLE.read_text())
    if settings:
        edit_env_file(path, settings)
    return path


@dataclass
class ComposeProject:
    """One Compose project: its name scopes containers, networks, volumes and image tags."""

    name: str
    env_file: Path
    files: Sequence[Path] = field(default=(COMPOSE_FILE, TESTBED_OVERRIDE))

    def argv(self, *args: str) -> list[str]:
        files = [arg for path in self.files for arg in ("-f", str(path))]
        return [
            "docker",
            "compose",
            "-p",
            self.name,
            "--env-file",
            str(self.env_file),
            *files,
            *args,
        ]

    def run(
        self, *args: str, timeout: float = 600, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.argv(*args),
            cwd=REPO,
            env=compose_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def build(self) -> None:
        """The stand-ins (shared by every run, see STANDIN_PROJECT), then the agent's images."""
        standins = ComposeProject(STANDIN_PROJECT, self.env_file, self.files)
        standins.run("build", *STANDIN_SERVICES, timeout=1800)
        self.run("build", *AGENT_SERVICES, timeout=1800)

    def address(self, service: str, port: int) -> str:
        """HOST:PORT where the service's container port is published."""
        published = self.run("port", service, str(port)).stdout.strip()
        if not published:
            raise AssertionError(f"{service}:{port} is not published")
        return published.splitlines()[0]

    def url(self, service: str, port: int) -> str:
        return f"http://{self.address(service, port)}"

    def containers(self) -> list[dict[str, Any]]:
        """`docker compose ps -a` as records (Name, Service, State, Health, ExitCode, ...)."""
        out = self.run("ps", "-a", "--format", "json").stdout
        # One JSON object per line (v2.21 and later); older releases printed one array.
        text = out.strip()
        if text.startswith("["):
            records: list[dict[str, Any]] = json.loads(text)
            return records
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def container_name(self, service: str) -> str:
        for record in self.containers():
            if record["Service"] == service:
                return str(record["Name"])
        raise AssertionError(f"no container for service {service}")

    def logs(self, *services: str, tail: int = 40) -> str:
        result = self.run("logs", "--no-color", "--tail", str(tail), *services, check=False)
        return result.stdout + result.stderr

    def leftovers(self, client: docker.DockerClient) -> dict[str, list[str]]:
        """Containers, networks and volumes of this project that still exist."""
        label: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={self.name}"}
        return {
            "containers": [str(c.name) for c in client.containers.list(all=True, filters=label)],
            "networks": [str(n.name) for n in client.networks.list(filters=label)],
            "volumes": [str(v.name) for v in client.volumes.list(filters=label)],
        }

    def remove_project_images(self, client: docker.DockerClient) -> None:
        for name in PROJECT_IMAGES:
            # Not found: never built. In use: a container `down` could not remove, which
            # leftovers() reports. noprune: the layers stay, the build cache of the next run.
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(f"itops-testbed/{name}:{self.name}", noprune=True)


__all__ = [
    "AGENT_SERVICES",
    "COMPOSE_FILE",
    "ENV_EXAMPLE",
    "STANDIN_SERVICES",
    "TESTBED_OVERRIDE",
    "ComposeProject",
    "compose_available",
    "compose_env",
    "edit_env_file",
    "env_file_from_example",
]
