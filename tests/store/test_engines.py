"""The store's rooms behave the same on SQLite and on PostgreSQL (the same SQL, two engines).

Each test runs on both: a SQLite file and a fresh database on a real PostgreSQL
server. The concurrency tests use two Store objects (two connections), as two
healer replicas would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from healer.model import Alert, IncidentStatus, Mode
from healer.store import SqliteStore, Store
from healer.store.postgres import PostgresStore
from testbed.postgres import PgServer

Open = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PgServer
) -> Iterator[Open]:
    url = postgres.create_database() if request.param == "postgresql" else ""
    opened: list[Store] = []

    def make() -> Store:
        store: Store = PostgresStore(url) if url else SqliteStore(tmp_path / "healer.db")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def alert(
    container: str, fingerprint: str = "fp", starts_at: float = 100.0, **labels: str
) -> Alert:
    return Alert(
        fingerprint=fingerprint,
        status="firing",
        labels={
            "alertname": "ContainerDown",
            "container": container,
            "action": "restart",
            **labels,
        },
        annotations={"summary": "down"},
        starts_at=starts_at,
    )


def test_a_duplicate_delivery_changes_nothing_on_either_engine(open_store: Open) -> None:
    store = open_store()
    first = store.ingest([alert("web")], Mode.HEAL, 1.0)
    again = store.ingest([alert("web")], Mode.HEAL, 2.0)
    assert len(first.created) == 1 and again.duplicates == 1 and again.created == ()
    assert [i.container for i in store.list_incidents()] == ["web"]


def test_an_incident_round_trips_with_its_steps_actions_and_verdict(open_store: Open) -> None:
    store = open_store()
    (incident_id,) = store.ingest([alert("web")], Mode.HEAL, 1.0).created
    claimed = store.claim_next(2.0, lease_seconds=20)
    assert claimed is not None and claimed.id == incident_id
    store.begin_action(incident_id, "web", 1, "restart", 3.0)
    store.finish_action(incident_id, 1, "ok", "", 3.5)
    store.conclude(incident_id, IncidentStatus.HEALED, 4.0)
    store.finish(incident_id, 4.0)
    done = store.get(incident_id)
    assert done is not None
    assert done.status is IncidentStatus.HEALED and done.stage == "done"
    assert [a.result for a in done.actions] == ["ok"]
    assert [s.step for s in done.steps] == ["intake"]
    assert store.restarts_since("web", 0.0) == [3.0]
    assert store.queue_depth() == 0


def test_two_replicas_claiming_at_once_never_take_the_same_incident(open_store: Open) -> None:
    first, second = open_store(), open_store()
    created = first.ingest(
        [alert(f"c{n}", fingerprint=f"fp{n}") for n in range(30)], Mode.HEAL, 1.0
    ).created
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    def drain(name: str, store: Store) -> None:
        while (incident := store.claim_next(2.0, lease_seconds=60)) is not None:
            claimed[name].append(incident.id)

    threads = [
        threading.Thread(target=drain, args=("a", first)),
        threading.Thread(target=drain, args=("b", second)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed["a"] + claimed["b"]) == sorted(created)
    assert not set(claimed["a"]) & set(claimed["b"])


def test_an_incident_whose_holder_died_is_adopted_once_its_lease_runs_out(
    open_store: Open,
) -> None:
    dead, alive = open_store(), open_store()
    (incident_id,) = dead.ingest([alert("web")], Mode.HEAL, 1.0).created
    assert dead.claim_next(2.0, lease_seconds=20) is not None
    assert alive.claim_next(10.0, lease_seconds=20) is None  # still held
    adopted = alive.claim_next(23.0, lease_seconds=20)
    assert adopted is not None and adopted.id == incident_id


def test_an_outbox_item_is_sent_by_one_sender_at_a_time(open_store: Open) -> None:
    one, other = open_store(), open_store()
    (incident_id,) = one.ingest([alert("web")], Mode.HEAL, 1.0).created
    item = one.outbox_add(
        incident_id=incident_id,
        kind="incident",
        channel="email",
        dedupe_key="k",
        payload={},
        now=1.0,
    )
    assert item is not None
    assert (
        other.outbox_add(
            incident_id=incident_id,
            kind="incident",
            channel="email",
            dedupe_key="k",
            payload={},
            now=1.0,
        )
        is None
    )
    assert one.outbox_claim(item, "a", until=100.0, now=2.0)
    assert not other.outbox_claim(item, "b", until=100.0, now=3.0)
    assert other.outbox_claim(item, "b", until=300.0, now=101.0)  # a died mid-send


def test_quarantine_is_recorded_once_and_cleared(open_store: Open) -> None:
    store = open_store()
    assert store.quarantine("web", "loop", None, 1.0)
    assert not store.quarantine("web", "loop", None, 2.0)
    assert [q.container for q in store.quarantined()] == ["web"]
    assert store.clear_quarantine("web") and store.quarantined() == []


def test_both_engines_answer_the_health_probe(open_store: Open) -> None:
    open_store().check_writable(1.0)
