"""What each role may ask the Docker daemon, and nothing more.

The exporter only reads containers and events. The healer additionally reads
logs and restarts a container. Neither may create, exec, kill, stop, remove,
pull or touch images, volumes, networks or the daemon: `POST /containers/create`
alone is root on the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_VERSION = r"(?:/v[0-9]+\.[0-9]+)?"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"

READ_ONLY = (
    ("GET", r"/_ping"),
    ("HEAD", r"/_ping"),
    ("GET", r"/version"),
    ("GET", r"/containers/json"),
    (
        "GET",
        rf"/containers/{_NAME}/json",
    ),
    ("GET", rf"/containers/{_NAME}/stats"),
    ("GET", r"/events"),
)
HEALER = (
    *READ_ONLY,
    ("GET", rf"/containers/{_NAME}/logs"),
    ("POST", rf"/containers/{_NAME}/restart"),
)

ROLES: Mapping[str, tuple[tuple[str, str], ...]] = {"exporter": READ_ONLY, "healer": HEALER}


class Role:
    def __init__(self, name: str) -> None:
        if name not in ROLES:
            raise ValueError(f"unknown role {name!r}; known: {', '.join(sorted(ROLES))}")
        self.name = name
        self._rules = [(method, re.compile(f"^{_VERSION}{path}$")) for method, path in ROLES[name]]

    def allows(self, method: str, path: str) -> bool:
        return any(method == m and pattern.match(path) for m, pattern in self._rules)
