"""What the incident memory says, from the store's history alone (pure)."""

from __future__ import annotations

from dataclasses import replace

from healer.memory import (
    DAY,
    Memory,
    MemorySettings,
    Occurrence,
    normalise,
    recall,
    span_text,
)

SETTINGS = MemorySettings(threshold=3, window_seconds=7 * DAY)


def healed(n: int, opened: float, closed: float, next_opened: float | None) -> Occurrence:
    return Occurrence(n, opened, closed, "healed", 1, next_opened)


def test_a_line_normalises_to_the_same_text_whatever_its_times_numbers_and_ids() -> None:
    a = "2024-05-01T10:00:01.123Z ERROR conn 3f2a9c0b1d to 10.0.0.5:5432 refused (pid 41)"
    b = "2024-06-11T23:59:59Z ERROR conn 77aa00bb11 to 10.0.0.9:5432 refused (pid 977)"
    assert normalise(a) == normalise(b)
    assert normalise(a) != normalise("ERROR disk full")


def test_the_last_heal_lasted_until_the_containers_next_incident() -> None:
    earlier = [healed(1, 0.0, 60.0, 3600.0), healed(2, 7200.0, 7260.0, 7260.0 + 11_520.0)]
    memory = recall("sig", earlier, SETTINGS, now=20_000.0)
    assert memory.summary == (
        "seen twice before in 7 days; last time a restart healed it and it stayed up 3 h 12 min"
    )
    assert memory.stayed_up_seconds == 11_520.0 and not memory.still_up
    assert not memory.recurring


def test_a_failure_seen_as_often_as_the_threshold_is_recurring() -> None:
    earlier = [healed(n, n * 100.0, n * 100.0 + 10, n * 100.0 + 100) for n in range(3)]
    memory = recall("sig", earlier, SETTINGS, now=1000.0)
    assert memory.recurring and memory.seen == 3
    assert Memory.from_dict(memory.to_dict()) == replace(memory, first_seen_at=None)
    assert memory.to_dict()["first_seen_at"] == "1970-01-01T00:00:00.000Z"


def test_a_last_occurrence_with_no_incident_since_is_still_up() -> None:
    memory = recall("sig", [healed(1, 0.0, 100.0, None)], SETTINGS, now=100.0 + 2 * DAY + 3600)
    assert memory.still_up
    assert memory.summary.endswith("it has stayed up 2 d 1 h so far")


def test_spans_read_as_people_say_them() -> None:
    assert [span_text(s) for s in (42, 720, 11_520, 3 * DAY)] == [
        "42 s",
        "12 min",
        "3 h 12 min",
        "3 d",
    ]
