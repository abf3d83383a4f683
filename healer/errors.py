"""The healer's one base exception, and the few kinds callers tell apart."""

from __future__ import annotations


class HealerError(Exception):
    """Base of every error the healer raises on purpose."""


class ConfigError(HealerError):
    """A setting that cannot be used. The message starts with the key's name."""


class DockerUnavailableError(HealerError):
    """The Docker daemon did not answer (translated from docker/requests errors)."""


class DockerActionError(HealerError):
    """Docker answered but refused or failed an action (restart, logs)."""


class PayloadError(HealerError):
    """A webhook body that is not a usable Alertmanager v4 payload."""


class StoreError(HealerError):
    """The store could not read or write (disk full, I/O error, locked too long).

    Transient by nature: intake answers 503 so Alertmanager retries, and an incident
    whose pipeline hit it is handed back to the queue, never concluded as failed.
    """
