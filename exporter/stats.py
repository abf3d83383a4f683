"""Background CPU and memory sampling with bounded concurrency.

A plain `stats(stream=False)` waits for two daemon samples (~2 s per
container); `one_shot=True` answers in milliseconds. Samples are written to
the cache, so scrapes never wait on them and may lag by one interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from exporter.cache import ContainerCache, Usage
from exporter.docker_port import DockerPort
from exporter.errors import ExporterError

log = logging.getLogger(__name__)


def parse_usage(stats: Mapping[str, Any], now: float) -> Usage | None:
    """CPU seconds and working-set memory from one stats answer, like `docker stats` shows."""
    cpu = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
    memory = stats.get("memory_stats") or {}
    if "total_usage" not in cpu or "usage" not in memory:
        return None  # the container stopped between listing and sampling
    detail = memory.get("stats") or {}
    # Page cache that can be reclaimed is not pressure: subtract inactive file
    # pages (cgroup v1 reports total_inactive_file, v2 inactive_file).
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    usage = float(memory["usage"])
    if 0 < inactive < usage:
        usage -= float(inactive)
    return Usage(cpu_seconds=float(cpu["total_usage"]) / 1e9, memory_bytes=usage, sampled_at=now)


class StatsSampler:
    def __init__(
        self,
        docker: DockerPort,
        cache: ContainerCache,
        *,
        interval: float,
        concurrency: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._docker = docker
        self._cache = cache
        self._interval = interval
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="stats")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="exporter-stats", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def sample_once(self) -> int:
        """Sample every running container once; returns how many samples landed."""
        if not self._cache.snapshot()[2].docker_up:
            return 0
        results = list(self._pool.map(self._sample, self._cache.running_ids()))
        return sum(results)

    def _sample(self, container_id: str) -> bool:
        try:
            stats = self._docker.stats(container_id)
        except ExporterError as exc:
            log.debug("%s", exc)
            self._cache.count_error("stats")
            return False
        if stats is None:
            return False  # gone since the round started
        usage = parse_usage(stats, self._clock())
        if usage is None:
            return False
        self._cache.set_usage(container_id, usage)
        return True

    def _loop(self) -> None:
        # The first round waits for the first sync: before it there is nothing to sample.
        while not self._stop.is_set() and not self._cache.snapshot()[2].docker_up:
            self._stop.wait(0.2)
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception:  # outermost boundary of this thread: count and keep sampling
                if self._stop.is_set():
                    return  # stop() cancelled the round; nothing went wrong
                log.warning("stats sampling round failed", exc_info=True)
                self._cache.count_error("stats")
                self._docker.reset()
            self._stop.wait(self._interval)
