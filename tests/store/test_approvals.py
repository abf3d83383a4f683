"""The approvals room on both engines: one shared secret, and each link applied once —
also when two replicas (two Store objects, two connections) race for it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from healer.model import Alert, Decision, IncidentStatus, Mode
from healer.store import SqliteStore, Store
from healer.store.approvals import Applied, ApprovalRequest
from healer.store.postgres import PostgresStore
from testbed.postgres import PgServer

Open = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, postgres: PgServer) -> Iterator[Open]:
    url = postgres.create_database() if request.param == "postgresql" else ""
    opened: list[Store] = []

    def make() -> Store:
        store: Store = PostgresStore(url) if url else SqliteStore(tmp_path / "healer.db")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def held_incident(store: Store, container: str = "web", status: str = "open") -> int:
    """An incident the pipeline concluded and finished, waiting for a human."""
    alert = Alert(
        fingerprint=f"fp-{container}",
        status="firing",
        labels={"alertname": "ContainerDown", "container": container, "action": "restart"},
        annotations={},
        starts_at=100.0,
    )
    (incident_id,) = store.ingest([alert], Mode.CHECK, 1.0).created
    assert store.claim_next(2.0, lease_seconds=20) is not None
    store.conclude(incident_id, IncidentStatus(status), 3.0)
    store.finish(incident_id, 3.0)
    return incident_id


def request(incident_id: int, action: str = "restart", nonce: str = "N" * 16) -> ApprovalRequest:
    decision = None
    if action == "resolve":
        decision = Decision(restart=False, status=IncidentStatus.RESOLVED, reason="by a person")
    return ApprovalRequest(nonce, incident_id, action, by="192.0.2.7", at=10.0, decision=decision)


def test_the_link_secret_is_made_once_and_every_replica_signs_with_it(engine: Open) -> None:
    first, second = engine(), engine()
    made = first.approval_secret("candidate-one", 1.0)
    assert made == "candidate-one"
    assert second.approval_secret("candidate-two", 2.0) == "candidate-one"
    assert first.approval_secret("candidate-three", 3.0) == "candidate-one"


def test_a_restart_approval_queues_one_approved_round(engine: Open) -> None:
    store = engine()
    incident_id = held_incident(store)

    assert store.apply_approval(request(incident_id)) is Applied.APPLIED

    incident = store.get(incident_id)
    assert incident is not None
    assert incident.stage == "queued" and not incident.concluded and incident.rounds == 2
    assert incident.restart_approved
    (approval,) = incident.approvals
    assert (approval.action, approval.by, approval.round) == ("restart", "192.0.2.7", 2)
    assert incident.steps[-1].step == "approval"
    claimed = store.claim_next(11.0, lease_seconds=20)
    assert claimed is not None and claimed.id == incident_id and claimed.restart_approved


def test_a_link_is_applied_once_when_two_replicas_race_for_it(engine: Open) -> None:
    stores = [engine() for _ in range(4)]
    incident_id = held_incident(stores[0])
    start = threading.Barrier(len(stores))
    results: list[Applied] = []

    def click(store: Store) -> None:
        start.wait()
        results.append(store.apply_approval(request(incident_id)))

    threads = [threading.Thread(target=click, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == sorted([Applied.APPLIED] + [Applied.USED] * 3)
    incident = stores[1].get(incident_id)
    assert incident is not None and incident.rounds == 2 and len(incident.approvals) == 1


def test_an_approval_applies_only_while_the_incident_waits_for_a_human(engine: Open) -> None:
    store = engine()
    healed = held_incident(store, "db", status="healed")
    waiting = held_incident(store, "web")
    assert store.apply_approval(request(waiting, nonce="A" * 16)) is Applied.APPLIED

    # Healed, missing, and queued again by the first approval: nothing to apply.
    assert store.apply_approval(request(healed, nonce="B" * 16)) is Applied.NOT_HELD
    assert store.apply_approval(request(999, nonce="C" * 16)) is Applied.MISSING
    assert store.apply_approval(request(waiting, "resolve", nonce="D" * 16)) is Applied.NOT_HELD
    assert store.approval_by_nonce("B" * 16) is None


def test_resolve_and_quarantine_close_the_incident_in_a_round_of_their_own(engine: Open) -> None:
    store = engine()
    resolved = held_incident(store, "web")
    quarantined = held_incident(store, "cache", status="failed")

    assert store.apply_approval(request(resolved, "resolve", nonce="R" * 16)) is Applied.APPLIED
    assert store.apply_approval(request(quarantined, "quarantine", "Q" * 16)) is Applied.APPLIED

    done = store.get(resolved)
    assert done is not None and done.status is IncidentStatus.RESOLVED and done.rounds == 2
    assert done.decision is not None and done.decision.reason == "by a person"
    assert done.stage == "done" and not done.restart_approved
    held = store.get(quarantined)
    assert held is not None and held.status is IncidentStatus.QUARANTINED
    assert store.is_quarantined("cache")
