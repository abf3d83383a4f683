"""Building a Docker client from an environment mapping (DOCKER_HOST et al.)."""

from __future__ import annotations

from collections.abc import Mapping

import docker


def docker_client(
    environ: Mapping[str, str], *, timeout: float = 30.0, max_pool_size: int = 10
) -> docker.DockerClient:
    """A client for the daemon the environment names.

    `version="auto"` negotiates down to the daemon's API: Debian's Engine 20.10
    speaks 1.41, older than the library's default. `max_pool_size` must cover the
    requests a caller keeps in flight at once (the stats sampler's concurrency).
    """
    client = docker.DockerClient.from_env(
        version="auto",
        timeout=int(timeout),
        environment=dict(environ),
        max_pool_size=max_pool_size,
    )
    # The daemon is never reached through an HTTP proxy; without this, requests scans
    # the process environment for proxy settings on every call (a third of a small call).
    client.api.trust_env = False
    return client
