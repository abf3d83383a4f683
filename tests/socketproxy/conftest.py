"""The socket proxy under test: Debian's HAProxy running the shipped config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.socketproxy.haproxy import Proxy, running_proxy


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """The shipped config on free loopback ports, in front of the real Docker socket."""
    with running_proxy(tmp_path_factory.mktemp("haproxy")) as running:
        yield running
