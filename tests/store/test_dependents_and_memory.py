"""The rooms behind dependency-aware healing and incident memory, on SQLite and on
PostgreSQL: the same SQL, the same answers (fixtures from tests/store/test_engines.py)."""

from __future__ import annotations

from healer.model import IncidentStatus, Mode
from healer.store.members import CLOSED
from tests.store.test_engines import Open, alert, open_store  # noqa: F401 - the fixture


def test_a_dependents_alert_joins_its_providers_incident_until_it_has_handled_them(
    open_store: Open,  # noqa: F811 - the fixture
) -> None:
    store = open_store()
    (lead,) = store.ingest([alert("db", "fp-db")], Mode.HEAL, 1.0).created
    store.add_members(lead, "", ["app1", "app2"], "graph", 1.5)
    joined = store.ingest([alert("app1", "fp-app1")], Mode.HEAL, 2.0)
    assert joined.created == () and joined.attached == (lead,)
    pending = store.pending_members(lead)
    assert [(m.container, m.via) for m, _ in pending] == [("app1", "graph"), ("app2", "graph")]
    assert pending[0][1] is not None and pending[0][1].fingerprint == "fp-app1"
    assert not store.close_membership(lead, CLOSED)  # two still pending
    store.settle_member(lead, "app1", "healed", "restarted, verified", 3.0)
    store.settle_member(lead, "app2", "recovered", "recovered by itself", 3.0)
    assert store.close_membership(lead, CLOSED)
    store.conclude(lead, IncidentStatus.HEALED, 3.5)
    store.finish(lead, 3.5)
    late = store.ingest([alert("app2", "fp-app2")], Mode.HEAL, 4.0)
    assert len(late.created) == 1  # a closed incident takes no more dependents
    assert store.handled_in("", "app2", 0.0) == lead
    shown = store.get(lead)
    assert shown is not None
    assert [(d.container, d.outcome, d.alertname) for d in shown.dependents] == [
        ("app1", "healed", "ContainerDown"),
        ("app2", "recovered", ""),
    ]


def test_a_dependents_incident_folds_into_its_providers_with_its_own_dependents(
    open_store: Open,  # noqa: F811 - the fixture
) -> None:
    store = open_store()
    lead, app = store.ingest([alert("db", "fp-db"), alert("app", "fp-app")], Mode.HEAL, 1.0).created
    store.add_members(app, "", ["worker"], "graph", 1.1)
    found = store.find_lead("", ["db"], Mode.HEAL.value, 0.0, 2.0)
    assert found is not None and found.id == lead
    assert store.find_lead("", ["db"], Mode.CHECK.value, 0.0, 2.0) is None
    app_incident = store.get(app)
    assert app_incident is not None
    assert store.fold_into(lead, app, app_incident.alert, 2.0)
    folded, shown = store.get(app), store.get(lead)
    assert folded is not None and folded.grouped_into == lead and folded.dependents == ()
    assert shown is not None
    assert {(d.container, d.merged_incident) for d in shown.dependents} == {
        ("app", app),
        ("worker", None),
    }


def test_a_dependents_restarts_count_for_its_crash_loop_breaker(
    open_store: Open,  # noqa: F811 - the fixture
) -> None:
    store = open_store()
    (lead,) = store.ingest([alert("db", "fp-db")], Mode.HEAL, 1.0).created
    (own,) = store.ingest([alert("app", "fp-app")], Mode.HEAL, 1.0).created
    store.begin_action(own, "app", 1, "restart", 5.0)
    store.begin_member_action(lead, "app", "app", 1, 6.0)
    store.finish_member_action(lead, "app", 1, "ok", "", 6.5)
    assert store.restarts_since("app", 0.0) == [5.0, 6.0]
    assert [a.result for a in store.member_actions(lead, "app")] == ["ok"]


def test_incidents_with_one_failure_signature_are_recalled_oldest_first(
    open_store: Open,  # noqa: F811 - the fixture
) -> None:
    store = open_store()
    ids = []
    for n, at in enumerate((10.0, 20.0, 30.0)):
        (incident_id,) = store.ingest([alert("web", f"fp-{n}", at)], Mode.HEAL, at).created
        ids.append(incident_id)
        if n == 0:
            store.begin_action(incident_id, "web", 1, "restart", 11.0)
            store.finish_action(incident_id, 1, "ok", "", 11.5)
        store.conclude(incident_id, IncidentStatus.HEALED, at + 2)
        store.finish(incident_id, at + 2)
    store.remember(ids[0], "sig", {"seen": 0}, 12.0)
    store.remember(ids[1], "other", {"seen": 0}, 21.0)
    store.remember(ids[2], "sig", {"seen": 1}, 31.0)
    (first,) = store.occurrences("sig", ids[2], 0.0)
    assert (first.incident_id, first.status, first.restarts) == (ids[0], "healed", 1)
    assert first.closed_at == 12.0 and first.next_opened_at == 20.0
    assert store.occurrences("sig", ids[2], 15.0) == []  # outside the window
    shown = store.get(ids[2])
    assert shown is not None and shown.memory == {"seen": 1}
