"""The webhook intake: who may call it, what it accepts, and that it never 5xxs on bad input.

Hostile input has its own modules: test_hostile_input.py (each crash once found)
and test_fuzz.py (property-based fuzzing of the webhook, the API and the pages).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from testbed.alerts import firing, payload
from tests.healer.conftest import Healer, HealerFactory


@pytest.fixture
def healer(make_healer: HealerFactory) -> Healer:
    # Intake only: no workers, so accepted incidents stay queued where the test can see them.
    return make_healer(start_workers=False)


def test_a_request_without_a_bearer_token_is_refused_with_401(healer: Healer) -> None:
    response = healer.post(payload(firing("x")), token=None)
    assert response.status_code == 401
    assert "bearer" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_bearer_token_is_refused_with_403(healer: Healer) -> None:
    response = healer.post(payload(firing("x")), token="not-the-token-at-all")
    assert response.status_code == 403
    assert response.get_json() == {"error": "invalid bearer token"}
    assert healer.runtime.store.count_incidents() == 0


def test_basic_auth_is_not_a_bearer_token(healer: Healer) -> None:
    response = healer.client.post(
        "/webhook/alertmanager",
        data=json.dumps(payload(firing("x"))),
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    )
    assert response.status_code == 401


def test_a_valid_alert_is_accepted_queued_and_answered_with_its_incident(healer: Healer) -> None:
    response = healer.post(payload(firing("prod-web-01")))
    assert response.status_code == 200
    body = response.get_json()
    assert body["accepted"] == 1
    (incident_id,) = body["created"]
    incident = healer.incident(incident_id)
    assert incident.container == "prod-web-01"
    assert incident.stage == "queued"
    assert incident.alertname == "ContainerDown"


def test_unknown_fields_from_newer_alertmanagers_are_ignored(healer: Healer) -> None:
    alert = firing("prod-web-01") | {"silencedBy": [], "someFutureField": {"a": 1}}
    response = healer.post(payload(alert) | {"extra": True, "version": "4"})
    assert response.status_code == 200


def test_a_redelivered_alert_is_a_duplicate_that_changes_nothing(healer: Healer) -> None:
    alert = firing("prod-web-01")
    first = healer.post(payload(alert)).get_json()
    again = healer.post(payload(alert)).get_json()
    assert first["accepted"] == 1
    assert again == {"accepted": 0, "duplicates": 1, "created": [], "attached": [], "resolved": []}
    assert healer.runtime.store.count_incidents() == 1


def test_a_second_alert_for_a_container_in_an_incident_joins_that_incident(healer: Healer) -> None:
    (first,) = healer.post(payload(firing("prod-web-01"))).get_json()["created"]
    body = healer.post(payload(firing("prod-web-01", alertname="ContainerUnhealthy"))).get_json()
    assert body["attached"] == [first]
    assert healer.incident(first).related_alerts == ("ContainerUnhealthy",)


MALFORMED: list[tuple[str, bytes, str]] = [
    ("not JSON", b"{nope", "not JSON"),
    ("not UTF-8", b"\xff\xfe\x00", "not JSON"),
    ("a JSON array", b"[]", "JSON object"),
    ("a JSON string", b'"hello"', "JSON object"),
    ("no version", json.dumps({"status": "firing", "alerts": []}).encode(), "version"),
    ("version 3", json.dumps(payload() | {"version": "3"}).encode(), "version"),
    ("alerts not a list", json.dumps(payload() | {"alerts": {}}).encode(), "alerts"),
    ("bad group status", json.dumps(payload() | {"status": "weird"}).encode(), "status"),
]


def _alert_case(name: str, mutate: Any, reason: str) -> tuple[str, bytes, str]:
    alert = firing("x")
    mutate(alert)
    return (name, json.dumps(payload(alert)).encode(), reason)


MALFORMED += [
    _alert_case("alert without fingerprint", lambda a: a.pop("fingerprint"), "fingerprint"),
    _alert_case("empty fingerprint", lambda a: a.update(fingerprint=""), "fingerprint"),
    _alert_case("alert status pending", lambda a: a.update(status="pending"), "status"),
    _alert_case("startsAt not a time", lambda a: a.update(startsAt="yesterday"), "startsAt"),
    _alert_case("label value a number", lambda a: a["labels"].update(x=3), "labels"),
    _alert_case("labels a list", lambda a: a.update(labels=["a"]), "labels"),
    _alert_case("no alertname", lambda a: a["labels"].pop("alertname"), "alertname"),
    _alert_case("no startsAt", lambda a: a.pop("startsAt"), "startsAt"),
]


@pytest.mark.parametrize(("case", "body", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_each_malformed_payload_gets_a_400_with_a_json_reason(
    healer: Healer, case: str, body: bytes, reason: str
) -> None:
    response = healer.post(None, raw=body)
    assert response.status_code == 400, case
    assert reason in response.get_json()["error"]
    assert healer.runtime.store.count_incidents() == 0


def test_too_many_alerts_in_one_payload_is_refused(healer: Healer) -> None:
    alerts = [firing(f"c{i}", fingerprint=f"f{i}") for i in range(1001)]
    response = healer.post(payload(*alerts))
    assert response.status_code in (400, 413)


def test_an_oversized_body_gets_413_with_a_json_reason(make_healer: HealerFactory) -> None:
    healer = make_healer(start_workers=False, HEALER_MAX_BODY_BYTES="2048")
    big = payload(firing("x") | {"annotations": {"description": "y" * 5000}})
    response = healer.post(big)
    assert response.status_code == 413
    assert "HEALER_MAX_BODY_BYTES" in response.get_json()["error"]


def test_other_paths_and_methods_answer_json_errors(healer: Healer) -> None:
    assert healer.client.get("/webhook/alertmanager").status_code == 405
    missing = healer.client.get("/api/incidents/999999")
    assert missing.status_code == 404
    assert "error" in missing.get_json()


def test_an_alert_in_heal_mode_is_not_absorbed_by_an_incident_check_mode_left_open(
    healer: Healer,
) -> None:
    from healer.model import IncidentStatus, Mode

    store = healer.runtime.store
    (first,) = store.ingest([alert_of(firing("prod-web-01"))], Mode.CHECK, 1.0).created
    store.conclude(first, IncidentStatus.OPEN, 2.0)
    store.finish(first, 2.0)
    same_mode = store.ingest([alert_of(firing("prod-web-01", alertname="X"))], Mode.CHECK, 3.0)
    assert same_mode.attached == (first,)
    switched = store.ingest([alert_of(firing("prod-web-01", alertname="Y"))], Mode.HEAL, 4.0)
    assert switched.created
    assert switched.attached == ()


def alert_of(raw: dict[str, Any]) -> Any:
    from healer.payload import parse_payload

    return parse_payload(json.dumps(payload(raw)).encode())[0]
