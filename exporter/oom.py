"""Whether a container's run ended in an OOM kill, whatever order Docker reports it in.

Docker tells it two ways: the `oom` event and inspect's `State.OOMKilled`. They
disagree under load: the kernel's OOM notice and the process exit reach the
daemon on separate paths, and when the exit wins the daemon emits `die` first
and `oom` up to a second later. Engine 20.10 then never sets `State.OOMKilled`
for that run (an inspect 20 s later still says false); newer engines set it
only after the inspect that followed `die` has been answered. Inspect alone
therefore misses the kill, for good on 20.10.

So an `oom` event marks the run it happened in, identified by the run's
`StartedAt`. The mark outlives any inspect of the same run and dies with the
next start, which is also when Docker itself resets `OOMKilled`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fleet.facts import ContainerFacts

# While the process lives the run has no "last exit" to describe yet; an oom
# here (a child killed, the main process still alive) shows once the run ends.
_LIVE_STATES = frozenset({"running", "paused"})


@dataclass(frozen=True)
class OomMark:
    """An `oom` event was seen during the run that started at `started_at`."""

    started_at: float | None


def mark_run(facts: ContainerFacts) -> OomMark:
    """The mark for an `oom` event arriving while `facts` describe the container."""
    return OomMark(facts.started_at)


def apply_mark(
    facts: ContainerFacts, mark: OomMark | None
) -> tuple[ContainerFacts, OomMark | None]:
    """Facts to publish and the mark to keep, given fresh facts and an earlier mark.

    A mark from another run (a new start since) is dropped. For the same run, an
    ended run reads OOM-killed even when Docker's facts say it was not.
    """
    if mark is None or mark.started_at != facts.started_at:
        return facts, None
    if facts.oom_killed or facts.state in _LIVE_STATES:
        return facts, mark
    return replace(facts, oom_killed=True), mark
