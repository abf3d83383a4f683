"""Building a Docker client from an environment mapping (DOCKER_HOST et al.)."""

from __future__ import annotations

from collections.abc import Mapping

import docker


def docker_client(environ: Mapping[str, str], *, timeout: float = 30.0) -> docker.DockerClient:
    """A client for the daemon the environment names.

    `version="auto"` negotiates down to the daemon's API: Debian's Engine 20.10
    speaks 1.41, older than the library's default.
    """
    return docker.DockerClient.from_env(
        version="auto", timeout=int(timeout), environment=dict(environ)
    )
