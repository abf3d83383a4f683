"""The storm rules as a pure function: what becomes a digest, what waits, what goes alone."""

from __future__ import annotations

from collections.abc import Sequence

from healer.notify.grouping import Candidate, GroupingSettings, bursts, plan

SETTINGS = GroupingSettings(group_wait=2.0, threshold=5, max_hold=60.0)


def queued(
    n: int, *, opened: float = 100.0, spacing: float = 0.0, due: float = 110.0
) -> list[Candidate]:
    return [
        Candidate(item_id=i + 1, incident_id=i + 1, opened_at=opened + i * spacing, due_at=due)
        for i in range(n)
    ]


def nothing_in_flight(_t0: float, _t1: float) -> Sequence[int]:
    return []


def test_a_lone_due_notification_is_neither_held_nor_digested() -> None:
    decided = plan(queued(1), nothing_in_flight, now=110.0, settings=SETTINGS)
    assert decided.digests == () and decided.held == frozenset()


def test_threshold_notifications_opened_together_become_one_digest_once_all_are_due() -> None:
    decided = plan(queued(5), nothing_in_flight, now=110.0, settings=SETTINGS)
    assert decided.digests == ((1, 2, 3, 4, 5),)


def test_nothing_is_decided_before_the_first_notification_is_due() -> None:
    decided = plan(queued(5), nothing_in_flight, now=109.0, settings=SETTINGS)
    assert decided.digests == () and decided.held == frozenset()


def test_a_storm_is_held_while_its_incidents_are_still_being_healed() -> None:
    def two_busy(t0: float, t1: float) -> Sequence[int]:
        assert (t0, t1) == (98.0, 102.0)  # the burst's opening times +- group_wait
        return [90, 91]

    decided = plan(queued(3), two_busy, now=111.0, settings=SETTINGS)
    assert decided.held == frozenset({1, 2, 3}) and decided.digests == ()


def test_the_hold_ends_at_max_hold_with_a_digest_of_what_is_ready() -> None:
    def busy(_t0: float, _t1: float) -> Sequence[int]:
        return [90]

    decided = plan(queued(6), busy, now=110.0 + 60.0, settings=SETTINGS)
    assert decided.digests == ((1, 2, 3, 4, 5, 6),) and decided.held == frozenset()


def test_a_storm_that_fizzles_below_the_threshold_sends_each_alone() -> None:
    # Three queued; the other incidents finished without notifying (e.g. opted out).
    decided = plan(queued(3), nothing_in_flight, now=110.0, settings=SETTINGS)
    assert decided.digests == () and decided.held == frozenset()


def test_incidents_opened_within_group_wait_of_each_other_chain_into_one_burst() -> None:
    chained = queued(6, spacing=1.5)  # 100, 101.5, ... 107.5: each within 2 s of the last
    assert len(bursts(chained, 2.0)) == 1
    apart = queued(6, spacing=2.5)
    assert len(bursts(apart, 2.0)) == 6
    assert plan(apart, nothing_in_flight, now=110.0, settings=SETTINGS).digests == ()


def test_the_newest_member_gets_its_group_wait_before_the_digest_leaves() -> None:
    candidates = [*queued(4), Candidate(item_id=5, incident_id=5, opened_at=100.0, due_at=111.0)]
    early = plan(candidates, nothing_in_flight, now=110.0, settings=SETTINGS)
    assert early.held == frozenset({1, 2, 3, 4, 5})
    later = plan(candidates, nothing_in_flight, now=111.0, settings=SETTINGS)
    assert later.digests == ((1, 2, 3, 4, 5),)
