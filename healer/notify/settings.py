"""How the outbox paces delivery: storm grouping, retries and their backoff."""

from __future__ import annotations

from dataclasses import dataclass

from healer.notify.grouping import GroupingSettings

GIVE_UP_SECONDS = 24 * 3600.0
RETRY_CAP_FACTOR = 30  # backoff stops growing at 30x the first delay (30 s -> 15 min)


@dataclass(frozen=True)
class OutboxSettings:
    group_wait_seconds: float
    digest_threshold: int
    retry_seconds: float
    retry_max_seconds: float
    max_hold_seconds: float
    give_up_seconds: float = GIVE_UP_SECONDS

    @classmethod
    def of(
        cls, *, group_wait_seconds: float, digest_threshold: int, retry_seconds: float
    ) -> OutboxSettings:
        return cls(
            group_wait_seconds=group_wait_seconds,
            digest_threshold=digest_threshold,
            retry_seconds=retry_seconds,
            retry_max_seconds=retry_seconds * RETRY_CAP_FACTOR,
            # Long enough for a storm's restarts to be verified, short enough that
            # the first word of a storm is never more than a minute late.
            max_hold_seconds=max(60.0, 15 * group_wait_seconds),
        )

    def backoff(self, attempts: int) -> float:
        return float(min(self.retry_seconds * 2 ** max(attempts - 1, 0), self.retry_max_seconds))

    @property
    def grouping(self) -> GroupingSettings:
        return GroupingSettings(
            group_wait=self.group_wait_seconds,
            threshold=self.digest_threshold,
            max_hold=self.max_hold_seconds,
        )
