"""What the healer is built from, as one value: made once (healer/wiring.py, or a test)
and handed whole to the app factory, the CLI scans and the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from healer.clock import Clock
from healer.config import HealerConfig
from healer.hosts import DockerHosts
from healer.metrics import HealerMetrics
from healer.ports import Diagnoser, Notifier
from healer.store import Store


@runtime_checkable
class BackgroundNotifier(Protocol):
    """A notifier with its own delivery thread (the outbox sender)."""

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    def flush(self, timeout: float) -> int:
        """Deliver what is queued now, in the calling thread (one-shot commands)."""
        ...


@runtime_checkable
class Closable(Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True)
class Dependencies:
    config: HealerConfig
    hosts: DockerHosts  # the Docker hosts by name (one, unnamed, without a host map)
    store: Store
    diagnoser: Diagnoser
    notifier: Notifier
    clock: Clock
    metrics: HealerMetrics

    def close(self) -> None:
        """Stop the notifier's thread (it uses the store), then close what holds resources."""
        if isinstance(self.notifier, BackgroundNotifier):
            self.notifier.stop()
        if isinstance(self.diagnoser, Closable):
            self.diagnoser.close()
        self.store.close()
