"""Alert-storm grouping: which queued incident notifications go out as one digest.

A pure function of the queue and the clock, so the rules can be tested without
threads or servers:

- Every incident notification waits `group_wait` after it is queued.
- Notifications whose incidents were *opened* within `group_wait` of each other
  (chained) form a burst. Opening time, not conclusion time, is what groups
  them: 30 containers in one Alertmanager group open together but conclude
  one verification window after another.
- A burst that has, or is about to have, `threshold` members is held until
  every incident of it has concluded (their pipelines are still running) and
  the newest member has waited `group_wait`; then it leaves as ONE digest.
  `max_hold` bounds the wait, so a slow pipeline cannot hold mail for long.
- Anything else is delivered on its own as soon as it is due, so a lone
  incident's email leaves about `group_wait` after it concluded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Candidate:
    """A pending, never-attempted incident notification."""

    item_id: int
    incident_id: int
    opened_at: float
    due_at: float  # queued time + group_wait


@dataclass(frozen=True)
class GroupingSettings:
    group_wait: float
    threshold: int
    max_hold: float


@dataclass(frozen=True)
class Plan:
    digests: tuple[tuple[int, ...], ...] = ()  # item ids per digest
    held: frozenset[int] = field(default_factory=frozenset)  # item ids that must wait


def bursts(candidates: Sequence[Candidate], gap: float) -> list[list[Candidate]]:
    """Chain candidates whose incidents opened within `gap` seconds of the previous one."""
    ordered = sorted(candidates, key=lambda c: (c.opened_at, c.item_id))
    groups: list[list[Candidate]] = []
    for candidate in ordered:
        if groups and candidate.opened_at - groups[-1][-1].opened_at <= gap:
            groups[-1].append(candidate)
        else:
            groups.append([candidate])
    return groups


def plan(
    candidates: Sequence[Candidate],
    in_flight: Callable[[float, float], Sequence[int]],
    now: float,
    settings: GroupingSettings,
) -> Plan:
    """Decide digests and holds.

    `in_flight(t0, t1)` lists the unfinished incidents opened between t0 and t1.
    """
    digests: list[tuple[int, ...]] = []
    held: set[int] = set()
    wait = settings.group_wait
    for burst in bursts(candidates, wait):
        if not any(c.due_at <= now for c in burst):
            continue  # nothing due yet; decided when the first member is
        members = {c.incident_id for c in burst}
        pending = [
            i
            for i in in_flight(burst[0].opened_at - wait, burst[-1].opened_at + wait)
            if i not in members
        ]
        if len(burst) + len(pending) < settings.threshold:
            continue  # not a storm: each due member goes out on its own
        settled = not pending and now >= max(c.due_at for c in burst)
        held_for = now - min(c.due_at for c in burst)
        if not settled and held_for < settings.max_hold:
            held.update(c.item_id for c in burst)
            continue
        if len(burst) >= settings.threshold:
            digests.append(tuple(c.item_id for c in burst))
        # else: the storm fizzled (incidents that notify nobody); members go alone.
    return Plan(digests=tuple(digests), held=frozenset(held))
