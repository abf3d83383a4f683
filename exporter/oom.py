"""Whether a container's run ended in an OOM kill, whatever order Docker reports it in.

Docker tells it two ways: the `oom` event and inspect's `State.OOMKilled`. They
disagree under load: the kernel's OOM notice and the process exit reach the
daemon on separate paths, and when the exit wins the daemon emits `die` first
and `oom` up to a second later (seen for kills in the first instants of a run,
before containerd watches the memory cgroup; such a kill can also go unreported).
Engine 20.10 then never sets `State.OOMKilled` for that run (an inspect 20 s
later still says false); newer engines set it only after the inspect that
followed `die` has been answered. Inspect alone therefore misses the kill, for
good on 20.10.

So an `oom` event marks the run it happened in, identified by the run's
`StartedAt`. The mark outlives any inspect of the same run and dies with the
next start.

A live run reads 0 whatever Docker says: it has no exit to describe yet, and
Engine 20.10 keeps `OOMKilled` true through later starts, so a container
OOM-killed once and started again would otherwise read 1 for good.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fleet.facts import ContainerFacts

# The states of a run whose process is alive; every other state follows an exit
# (or no start at all).
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
    """The facts to publish and the mark to keep, given fresh facts and an earlier mark.

    `oom_killed` comes out true only for an ended run that Docker's facts or an
    `oom` event of that same run call OOM-killed; a mark from an earlier run is dropped.
    """
    if mark is not None and mark.started_at != facts.started_at:
        mark = None
    # An OOM-killed child of a live run shows once the run ends, as Docker counts it.
    killed = facts.state not in _LIVE_STATES and (facts.oom_killed or mark is not None)
    if killed == facts.oom_killed:
        return facts, mark
    return replace(facts, oom_killed=killed), mark
