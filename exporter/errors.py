"""The exporter's one base exception, and the few kinds callers tell apart."""

from __future__ import annotations


class ExporterError(Exception):
    """Base of every error the exporter raises on purpose."""


class ConfigError(ExporterError):
    """A setting that cannot be used; the message names the key."""


class DockerUnavailableError(ExporterError):
    """The Docker daemon did not answer, or the events stream broke off
    (translated from docker/requests/urllib3 errors in exporter/docker_port.py)."""


class DockerCallError(ExporterError):
    """The Docker daemon answered a call with an error."""
