"""Which containers depend on which, read from the labels they already carry.

Two sources, both plain container labels, so the graph needs no configuration:

- Compose v2 labels every container with `com.docker.compose.project`,
  `com.docker.compose.service` and `com.docker.compose.depends_on`
  (`svc:condition:restart,svc2:…`; older releases wrote `svc` or
  `svc:condition`). A service's providers are the containers of the named
  services in the same project.
- `healer.depends-on` (comma-separated container names) covers containers that
  Compose did not start.

Pure: built from (name, labels) pairs the caller listed, so it is tested without
Docker. Edges to containers outside the listing (unmanaged, another host) are
dropped: the healer neither waits for nor restarts what it does not manage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_DEPENDS_ON = "com.docker.compose.depends_on"
DEPENDS_ON_LABEL = "healer.depends-on"


@dataclass(frozen=True)
class DependencySettings:
    # HEALER_DEPENDENCY_WINDOW_SECONDS: a dependent that fails within this long of its
    # provider joins the provider's incident; 0 turns dependency-aware healing off.
    window_seconds: float = 60.0

    @property
    def enabled(self) -> bool:
        return self.window_seconds > 0


def compose_services(value: str) -> tuple[str, ...]:
    """The service names of a `com.docker.compose.depends_on` label value."""
    names = (part.strip().split(":", 1)[0].strip() for part in value.split(","))
    return tuple(dict.fromkeys(name for name in names if name))


def depends_on_names(value: str) -> tuple[str, ...]:
    """The container names of a `healer.depends-on` label value (a leading '/' is Docker's)."""
    names = (part.strip().lstrip("/") for part in value.split(","))
    return tuple(dict.fromkeys(name for name in names if name))


@dataclass(frozen=True)
class DependencyGraph:
    """`providers[name]`: the containers `name` depends on directly (all in the graph)."""

    providers: Mapping[str, frozenset[str]]

    @classmethod
    def of(cls, containers: Iterable[tuple[str, Mapping[str, str]]]) -> DependencyGraph:
        listed = {name: dict(labels) for name, labels in containers}
        by_service: dict[tuple[str, str], set[str]] = {}
        for name, labels in listed.items():
            project, service = labels.get(COMPOSE_PROJECT, ""), labels.get(COMPOSE_SERVICE, "")
            if project and service:
                by_service.setdefault((project, service), set()).add(name)
        providers: dict[str, frozenset[str]] = {}
        for name, labels in listed.items():
            found: set[str] = set()
            project = labels.get(COMPOSE_PROJECT, "")
            if project:
                for service in compose_services(labels.get(COMPOSE_DEPENDS_ON, "")):
                    found |= by_service.get((project, service), set())
            found.update(n for n in depends_on_names(labels.get(DEPENDS_ON_LABEL, "")))
            found = {n for n in found if n in listed and n != name}
            if found:
                providers[name] = frozenset(found)
        return cls(providers)

    @classmethod
    def empty(cls) -> DependencyGraph:
        return cls({})

    def direct_providers(self, name: str) -> tuple[str, ...]:
        return tuple(sorted(self.providers.get(name, ())))

    def ancestors(self, name: str) -> tuple[str, ...]:
        """Every container `name` depends on, directly or through others; nearest first."""
        seen: dict[str, None] = {}
        frontier = [name]
        while frontier:
            step: list[str] = []
            for node in frontier:
                for provider in sorted(self.providers.get(node, ())):
                    if provider != name and provider not in seen:
                        seen[provider] = None
                        step.append(provider)
            frontier = step
        return tuple(seen)

    def dependents(self, name: str) -> tuple[str, ...]:
        """Every container that depends on `name`, directly or through others, in the
        order to restart them: each after the providers it shares with this set (a
        cycle, which only hand-written labels can make, is broken by name)."""
        members = {n for n in self.providers if name in self.ancestors(n)}
        done: list[str] = []
        placed = {name}
        remaining = set(members)
        while remaining:
            ready = sorted(
                n for n in remaining if all(p in placed for p in self.providers[n] if p in members)
            )
            if not ready:
                ready = [min(remaining)]
            for n in ready:
                done.append(n)
                placed.add(n)
                remaining.discard(n)
        return tuple(done)
