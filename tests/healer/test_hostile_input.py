"""Inputs that once crashed the healer with an HTML 500 (issue 12, finding 5).

Alertmanager retries every 5xx, so each of these was also a retry storm. Each
now answers a JSON 4xx naming what is wrong, or is accepted and stays usable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from healer.model import Alert, Mode
from testbed.alerts import firing, payload
from tests.healer.conftest import Healer, HealerFactory, build_healer, close_healer
from tests.healer.wsgi import call, post_webhook

MAX_SQLITE_INTEGER = 2**63 - 1


@pytest.fixture(scope="module")
def healer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Healer]:
    """One healer for the refusals (they change nothing); tests that list use `fresh`."""
    shared = build_healer(tmp_path_factory.mktemp("healer"), start_workers=False)
    yield shared
    close_healer(shared)


@pytest.fixture
def fresh(make_healer: HealerFactory) -> Healer:
    return make_healer(start_workers=False)


def body_of(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(payload(*alerts)).encode()


# -- JSON bombs --------------------------------------------------------------------


@pytest.mark.parametrize("where", ["whole body", "ignored field", "label value"])
def test_deeply_nested_json_is_refused_with_400(healer: Healer, where: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    valid = body_of(firing("x"))
    body = {
        "whole body": deep,
        "ignored field": valid[:-1] + b', "extra": ' + deep + b"}",
        "label value": valid.replace(b'"severity": "warning"', b'"severity": ' + deep),
    }[where]
    before = healer.runtime.store.count_incidents()
    answer = post_webhook(healer.app, body)
    assert answer.status == 400
    assert "nested" in answer.error() or "labels" in answer.error()
    assert healer.runtime.store.count_incidents() == before


def test_a_number_with_5000_digits_is_refused_with_400(healer: Healer) -> None:
    body = body_of(firing("x"))[:-1] + b', "truncatedAlerts": ' + b"7" * 5000 + b"}"
    answer = post_webhook(healer.app, body)
    assert answer.status == 400
    assert "digits" in answer.error()


def test_a_refusal_names_the_field_and_quotes_at_most_80_characters_of_it(
    healer: Healer,
) -> None:
    alert = firing("x")
    alert["labels"]["k" * 8000] = 7  # a huge label name with a value of the wrong type
    answer = post_webhook(healer.app, body_of(alert))
    assert answer.status == 400
    assert answer.error().startswith("alerts.0.labels.kkk")
    assert len(answer.error()) < 200
    dated = post_webhook(healer.app, body_of(firing("x", starts_at="2024-02-30" + "0" * 8000)))
    assert dated.error().startswith("alerts.0.startsAt: not an RFC 3339 time")
    assert len(dated.error()) < 200


# -- dates -------------------------------------------------------------------------

IMPOSSIBLE = [
    ("February 30", "2024-02-30T00:00:00Z"),
    ("month 13", "2024-13-01T00:00:00Z"),
    ("hour 24", "2024-01-01T24:00:00Z"),
    ("second 60", "2024-01-01T23:59:60Z"),
    ("year 0", "0000-01-01T00:00:00Z"),
    ("offset hour 24", "2024-01-01T00:00:00+24:00"),
    ("offset minute 60", "2024-01-01T00:00:00+01:60"),
    ("no time zone", "2024-01-01T00:00:00"),
    ("only a date", "2024-01-01"),
    ("ISO basic format", "20240101T000000Z"),
    ("a trailing newline", "2024-01-01T00:00:00Z\n"),
    ("non-ASCII digits", "２０２４-01-01T00:00:00Z"),
]


@pytest.mark.parametrize("field", ["startsAt", "endsAt"])
@pytest.mark.parametrize(("case", "when"), IMPOSSIBLE, ids=[c for c, _ in IMPOSSIBLE])
def test_an_impossible_date_is_refused_with_400_naming_the_field(
    healer: Healer, field: str, case: str, when: str
) -> None:
    before = healer.runtime.store.count_incidents()
    alert = firing("x") | {field: when}
    answer = post_webhook(healer.app, body_of(alert))
    assert answer.status == 400, case
    assert f"alerts.0.{field}" in answer.error()
    assert healer.runtime.store.count_incidents() == before


VALID = [
    ("nanoseconds, as Go writes them", "2024-01-01T00:00:00.123456789Z", 1704067200.123456789),
    ("one fraction digit", "2024-01-01T00:00:00.5Z", 1704067200.5),
    ("no fraction", "2024-01-01T00:00:00Z", 1704067200.0),
    ("a positive offset", "2024-01-01T01:30:00+01:30", 1704067200.0),
    ("a negative offset", "2023-12-31T19:00:00.25-05:00", 1704067200.25),
    ("lower-case t and z", "2024-01-01t00:00:00z", 1704067200.0),
    ("February 29 of a leap year", "2024-02-29T12:00:00Z", 1709208000.0),
]


@pytest.mark.parametrize(("case", "when", "epoch"), VALID, ids=[c for c, _, _ in VALID])
def test_rfc_3339_times_as_alertmanager_writes_them_are_accepted(
    healer: Healer, case: str, when: str, epoch: float
) -> None:
    answer = post_webhook(healer.app, body_of(firing(f"valid {case}", starts_at=when)))
    assert answer.status == 200, (case, answer.body)
    (incident_id,) = answer.json()["created"]
    assert healer.incident(incident_id).alert.starts_at == pytest.approx(epoch, abs=1e-6)


def test_alertmanagers_zero_end_time_means_the_alert_has_not_ended(healer: Healer) -> None:
    answer = post_webhook(healer.app, body_of(firing("zero end")))  # 0001-01-01T00:00:00Z
    (incident_id,) = answer.json()["created"]
    assert healer.incident(incident_id).alert.ends_at is None


def test_a_start_time_of_year_9999_is_clamped_and_the_history_still_lists(
    fresh: Healer,
) -> None:
    healer = fresh
    far = firing("x", starts_at="9999-12-31T23:59:59-23:59")
    early = firing("y", starts_at="1900-01-01T00:00:00Z")
    answer = post_webhook(healer.app, body_of(far, early))
    assert answer.status == 200
    listed = call(healer.app, "GET", "/api/incidents")
    assert listed.status == 200
    starts = sorted(i["alert"]["startsAt"] for i in listed.json()["incidents"])
    assert starts == ["1970-01-01T00:00:00.000Z", "2200-01-01T00:00:00.000Z"]
    assert call(healer.app, "GET", "/").status == 200


def test_an_extreme_time_already_in_the_store_no_longer_breaks_the_incident_list(
    fresh: Healer,
) -> None:
    healer = fresh
    # What an older healer stored for startsAt 9999-12-31T23:59:59-23:59: past datetime's range.
    stored = Alert(
        fingerprint="fp-old",
        status="firing",
        labels={"alertname": "ContainerDown", "container": "x"},
        annotations={},
        starts_at=253402387140.0,
        ends_at=float("inf"),
    )
    (incident_id,) = healer.runtime.store.ingest([stored], Mode.CHECK, 1.0).created
    listed = call(healer.app, "GET", "/api/incidents")
    assert listed.status == 200
    (shown,) = listed.json()["incidents"]
    assert shown["alert"]["startsAt"] == "9999-12-31T23:59:59.000Z"
    assert call(healer.app, "GET", f"/api/incidents/{incident_id}").status == 200
    assert call(healer.app, "GET", f"/incidents/{incident_id}").status == 200


# -- ids, limits, offsets ------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/api/incidents/", "/incidents/"])
@pytest.mark.parametrize(
    "incident_id",
    [str(MAX_SQLITE_INTEGER + 1), "9" * 20, "9" * 5000, "0" * 5000 + "1"],
    ids=["2**63", "20 digits", "5000 digits", "5000 leading zeros"],
)
def test_an_incident_id_beyond_sqlites_range_is_404(
    healer: Healer, prefix: str, incident_id: str
) -> None:
    answer = call(healer.app, "GET", prefix + incident_id)
    assert answer.status == 404


def test_the_largest_sqlite_id_is_a_plain_404(healer: Healer) -> None:
    answer = call(healer.app, "GET", f"/api/incidents/{MAX_SQLITE_INTEGER}")
    assert answer.status == 404
    assert "no incident" in answer.error()


@pytest.mark.parametrize("offset", [str(MAX_SQLITE_INTEGER + 1), "9" * 20, "9" * 5000])
def test_a_huge_offset_finds_nothing_rather_than_failing(healer: Healer, offset: str) -> None:
    post_webhook(healer.app, body_of(firing("listed")))
    answer = call(healer.app, "GET", "/api/incidents", environ={"QUERY_STRING": f"offset={offset}"})
    assert answer.status == 200
    assert answer.json() == {"incidents": []}


def test_a_huge_limit_is_clamped_to_500(fresh: Healer) -> None:
    alerts = [firing(f"c{i}") for i in range(501)]
    assert post_webhook(fresh.app, body_of(*alerts)).status == 200
    answer = call(fresh.app, "GET", "/api/incidents", environ={"QUERY_STRING": "limit=" + "9" * 40})
    assert answer.status == 200
    assert len(answer.json()["incidents"]) == 500


@pytest.mark.parametrize("value", ["-1", "+1", "1_0", " 1", "1.5", "", "%D9%A1", "%C2%B2", "x"])
@pytest.mark.parametrize("name", ["limit", "offset"])
def test_a_limit_or_offset_that_is_not_plain_digits_is_refused_with_400(
    healer: Healer, name: str, value: str
) -> None:
    answer = call(healer.app, "GET", "/api/incidents", environ={"QUERY_STRING": f"{name}={value}"})
    assert answer.status == 400
    assert "whole number" in answer.error()


@pytest.mark.parametrize("path", ["/api/incidents", "/", "/api/quarantine"])
def test_a_query_string_that_is_not_utf8_is_refused_with_400(healer: Healer, path: str) -> None:
    # Raw bytes, not percent-encoded: legal on the wire, passed on by the server as latin-1.
    answer = call(healer.app, "GET", path, environ={"QUERY_STRING": "container=\x80\xff"})
    assert answer.status == 400
    assert "UTF-8" in answer.error()


# -- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", ["\xb2", "\xb9", "1e3", "-1", " 12", "0x10"])
def test_a_content_length_that_is_not_plain_digits_is_refused_with_400(
    healer: Healer, length: str
) -> None:
    # "²" passes str.isdigit() but not int(): WSGI servers hand headers over as latin-1 text.
    answer = post_webhook(healer.app, body_of(firing("x")), environ={"CONTENT_LENGTH": length})
    assert answer.status == 400
    assert "Content-Length" in answer.error()


def test_a_content_length_of_a_thousand_digits_is_too_large(healer: Healer) -> None:
    answer = post_webhook(healer.app, body_of(firing("x")), environ={"CONTENT_LENGTH": "9" * 1000})
    assert answer.status == 413
    assert "HEALER_MAX_BODY_BYTES" in answer.error()
