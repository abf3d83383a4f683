"""The cache as prometheus_client metric families, fresh on every scrape.

No labelled gauges live between scrapes: a container that leaves the cache
simply is not yielded any more, so its series vanish with no cleanup step. The
families themselves are defined in exporter/families.py; this is the reference
rendering of them, which the fast text renderer (exporter/exposition.py) must
match byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.cache import ContainerCache
from exporter.families import container_families, self_families


class ContainerCollector(Collector):
    def __init__(self, cache: ContainerCache) -> None:
        self._cache = cache

    def describe(self) -> Iterator[Metric]:
        # Returning nothing keeps registration from calling collect() early.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        _, entries, state = self._cache.snapshot()
        yield from container_families(entries)
        yield from self_families(state, len(entries))
