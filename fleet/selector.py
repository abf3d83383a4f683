"""Which containers are managed, and which are critical.

A container is *managed* when it carries the managed label (`environment`), or,
in `key=value` form, when that label has exactly that value. Everything the
healer may ever touch is decided here, from the container's live labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A container is managed when it carries this label (the exporter's and healer's default).
DEFAULT_MANAGED_LABEL = "environment"


class SelectorError(ValueError):
    """A managed-label expression that cannot be parsed."""


@dataclass(frozen=True)
class LabelSelector:
    key: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse `key` or `key=value`; whitespace around either part is ignored."""
        key, sep, value = text.partition("=")
        key = key.strip()
        if not key:
            raise SelectorError(f"managed label {text!r} has an empty key")
        if any(ch.isspace() for ch in key):
            raise SelectorError(f"managed label key {key!r} contains whitespace")
        if sep:
            value = value.strip()
            if not value:
                raise SelectorError(f"managed label {text!r} has '=' but no value")
            return cls(key, value)
        return cls(key)

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if not labels or self.key not in labels:
            return False
        return self.value is None or labels[self.key] == self.value

    def docker_filter(self) -> str:
        """The same selection as a Docker API `label` filter."""
        return self.key if self.value is None else f"{self.key}={self.value}"

    def __str__(self) -> str:
        return self.docker_filter()


CRITICAL_LABEL = "critical"


def parse_name_list(text: str | None) -> frozenset[str]:
    """A comma-separated list of container names, as CRITICAL_SERVICES is written."""
    if not text:
        return frozenset()
    return frozenset(part.strip().lstrip("/") for part in text.split(",") if part.strip())


def is_critical(
    name: str, labels: Mapping[str, str] | None, critical_services: Iterable[str]
) -> bool:
    """Critical when named in CRITICAL_SERVICES or labelled `critical=true`."""
    if name in critical_services:
        return True
    if not labels:
        return False
    return str(labels.get(CRITICAL_LABEL, "")).lower() == "true"
