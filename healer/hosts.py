"""Which Docker host an alert is about, and the door to that host.

Without HEALER_DOCKER_HOSTS the healer has one host, the daemon DOCKER_HOST names,
and an alert's `host` label is ignored. With it, every per-container alert must
carry a `host` label naming a host in the map; an alert for any other host is
refused with a reason and restarts nothing. Each host has its own Docker client
(its own timeout) behind a circuit breaker, so a host that is down answers "down"
at once instead of making every incident on it wait out a timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from fleet.facts import ContainerFacts
from fleet.selector import LabelSelector
from healer.docker_port import ContainerSummary, DockerPort
from healer.errors import DockerUnavailableError, HealerError
from healer.model import Alert

LOCAL = ""  # the one host's name when there is no host map

HOST_LABEL = "host"


@dataclass(frozen=True)
class HostSpec:
    name: str
    endpoint: str  # unix:///…, tcp://host:port, ssh://user@host


def parse_hosts(text: str) -> tuple[HostSpec, ...]:
    """`name=endpoint,name=endpoint`; raises ValueError saying what is wrong."""
    specs: list[HostSpec] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, endpoint = part.partition("=")
        name, endpoint = name.strip(), endpoint.strip()
        if not sep or not name or not endpoint:
            raise ValueError(f"{part!r}: expected name=endpoint")
        if not all(ch.isalnum() or ch in "-_." for ch in name):
            raise ValueError(f"{name!r}: a host name is letters, digits, '-', '_' and '.'")
        if not endpoint.startswith(("unix://", "tcp://", "ssh://")):
            raise ValueError(f"{endpoint!r}: expected unix://, tcp:// or ssh://")
        if name in {s.name for s in specs}:
            raise ValueError(f"{name!r} appears twice")
        specs.append(HostSpec(name, endpoint))
    return tuple(specs)


def quarantine_key(host: str, container: str) -> str:
    """Budgets and quarantines are per host and container; Docker names have no '/'."""
    return f"{host}/{container}" if host else container


class CircuitBreaker:
    """A DockerPort that stops calling a host after `failures` unreachable answers in a
    row, for `open_seconds`; calls meanwhile fail at once with the reason."""

    def __init__(
        self,
        name: str,
        port: DockerPort,
        *,
        failures: int = 3,
        open_seconds: float = 30.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._port = port
        self._failures = failures
        self._open_seconds = open_seconds
        self._now = now
        self._lock = threading.Lock()
        self._streak = 0
        self._open_until = 0.0

    def _call(self, what: Callable[[], object]) -> object:
        with self._lock:
            if self._now() < self._open_until:
                raise DockerUnavailableError(
                    f"host {self.name or 'local'}: unreachable {self._streak} times in a row; "
                    f"not asked again for {self._open_until - self._now():.0f}s"
                )
        try:
            result = what()
        except DockerUnavailableError:
            with self._lock:
                self._streak += 1
                if self._streak >= self._failures:
                    self._open_until = self._now() + self._open_seconds
            raise
        with self._lock:
            self._streak, self._open_until = 0, 0.0
        return result

    def inspect(self, container_id: str) -> ContainerFacts | None:
        return self._call(lambda: self._port.inspect(container_id))  # type: ignore[return-value]

    def find(self, name: str) -> ContainerFacts | None:
        return self._call(lambda: self._port.find(name))  # type: ignore[return-value]

    def logs(self, container_id: str, tail: int, *, timestamps: bool = False) -> list[str]:
        return self._call(  # type: ignore[return-value]
            lambda: self._port.logs(container_id, tail, timestamps=timestamps)
        )

    def list_managed(self, selector: LabelSelector) -> list[ContainerFacts]:
        return self._call(lambda: self._port.list_managed(selector))  # type: ignore[return-value]

    def summaries(self, selector: LabelSelector) -> list[ContainerSummary]:
        return self._call(lambda: self._port.summaries(selector))  # type: ignore[return-value]

    def restart(self, container_id: str, timeout: float) -> None:
        self._call(lambda: self._port.restart(container_id, timeout))

    def ping(self) -> bool:
        try:
            return bool(self._call(lambda: self._port.ping() or _unreachable(self.name)))
        except DockerUnavailableError:
            return False


def _unreachable(name: str) -> bool:
    raise DockerUnavailableError(f"host {name or 'local'}: no answer to ping")


class DockerHosts:
    """Each host's DockerPort by name. Unmapped: one host, LOCAL, whatever alerts say."""

    def __init__(self, ports: Mapping[str, DockerPort], *, mapped: bool) -> None:
        if not mapped and set(ports) != {LOCAL}:
            raise ValueError("without a host map there is exactly one host, LOCAL")
        self._ports = dict(ports)
        self.mapped = mapped

    @classmethod
    def single(cls, port: DockerPort) -> DockerHosts:
        return cls({LOCAL: port}, mapped=False)

    @property
    def names(self) -> list[str]:
        return sorted(self._ports)

    def host_of(self, alert: Alert) -> str:
        """The host an alert is about ("" without a host map, or when it names none)."""
        return alert.labels.get(HOST_LABEL, "").strip() if self.mapped else LOCAL

    def port(self, host: str) -> DockerPort | None:
        """The host's door, or None for a host the map does not know."""
        return self._ports.get(host if self.mapped else LOCAL)

    def refusal(self, host: str) -> str:
        known = ", ".join(self.names)
        if not host:
            return f"the alert names no host; HEALER_DOCKER_HOSTS knows {known}"
        return f"host {host!r} is not in HEALER_DOCKER_HOSTS ({known}); nothing is restarted"

    def items(self) -> Iterator[tuple[str, DockerPort]]:
        yield from sorted(self._ports.items())

    # -- a ContainerView over every host, for pages and status --------------------
    def list_managed(self, selector: LabelSelector) -> list[ContainerFacts]:
        return [facts for _host, facts in self.managed_by_host(selector)]

    def managed_by_host(self, selector: LabelSelector) -> list[tuple[str, ContainerFacts]]:
        """(host, facts) of every managed container a reachable host reports; a single
        host that fails raises (as before), several skip the host that is down."""
        found: list[tuple[str, ContainerFacts]] = []
        for host, port in self.items():
            try:
                found.extend((host, f) for f in port.list_managed(selector))
            except HealerError:
                if not self.mapped:
                    raise
        return found

    def ping(self) -> bool:
        return all(port.ping() for _host, port in self.items())

    def reachable(self) -> dict[str, bool]:
        return {host: port.ping() for host, port in self.items()}
