"""`HOST:PORT` listen addresses, read the same way by the exporter and the healer."""

from __future__ import annotations


class ListenError(ValueError):
    """A listen address that cannot be used; the message says what was expected."""


def parse_listen(text: str, *, example: str) -> tuple[str, int]:
    """(host, port) of `HOST:PORT`; an empty host means every interface, `[::1]` IPv6."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise ListenError(f"expected HOST:PORT, e.g. {example}")
    return host.strip("[]") or "0.0.0.0", int(port)
