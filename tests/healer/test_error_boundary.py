"""A bug anywhere behind the HTTP port answers a JSON 500 whose error id is in the log.

Never the server's HTML 500, never a traceback to the caller. The faults are
real where a real part can produce them on demand (a corrupt row in the real
SQLite file); otherwise they are injected and named as such.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from typing import Any

import pytest
from werkzeug.routing import BaseConverter

from testbed.alerts import firing, payload
from tests.healer.conftest import Healer, HealerFactory
from tests.healer.wsgi import Answer, call, post_webhook


@pytest.fixture
def healer(make_healer: HealerFactory) -> Healer:
    return make_healer(start_workers=False)


def assert_logged_with_traceback(answer: Answer, caplog: pytest.LogCaptureFixture) -> str:
    assert answer.status == 500
    assert answer.is_json
    body = answer.json()
    assert set(body) == {"error", "id"}
    assert body["error"] == "internal error"
    error_id = str(body["id"])
    assert len(error_id) >= 12
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert logged[0].levelno == logging.ERROR
    assert logged[0].exc_info is not None
    return error_id


def corrupt_the_alert_of(healer: Healer, incident_id: int) -> None:
    """What a bad disk or a hand edit leaves behind: a row the store cannot read."""
    with sqlite3.connect(healer.config.database) as db:
        db.execute("UPDATE incidents SET alert = '{not json' WHERE id = ?", (incident_id,))


def one_incident(healer: Healer) -> int:
    answer = post_webhook(healer.app, json.dumps(payload(firing("prod-web-01"))).encode())
    (incident_id,) = answer.json()["created"]
    return int(incident_id)


class _InputThatBreaks(io.RawIOBase):
    """Injected fault: a request body stream that fails while the intake reads it."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def read(self, size: int = -1) -> bytes:
        raise self._error


def test_a_bug_in_the_webhook_answers_json_500_with_an_id_that_is_in_the_log(
    healer: Healer, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _InputThatBreaks(RuntimeError("injected fault"))
    answer = post_webhook(healer.app, b"{}", environ={"wsgi.input": broken})  # type: ignore[dict-item]
    assert_logged_with_traceback(answer, caplog)
    assert b"injected fault" not in answer.body


def test_a_body_that_breaks_off_is_refused_with_400(healer: Healer) -> None:
    # Injected fault: what a server's input stream raises when the client goes away.
    broken = _InputThatBreaks(ConnectionResetError("client went away"))
    answer = post_webhook(healer.app, b"{}", environ={"wsgi.input": broken})  # type: ignore[dict-item]
    assert answer.status == 400
    assert "could not be read" in answer.error()


@pytest.mark.parametrize("path", ["/api/incidents/{id}", "/api/incidents", "/incidents/{id}"])
def test_a_bug_in_a_flask_route_answers_json_500_with_an_id_that_is_in_the_log(
    healer: Healer, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    incident_id = one_incident(healer)
    corrupt_the_alert_of(healer, incident_id)
    answer = call(healer.app, "GET", path.format(id=incident_id))
    assert_logged_with_traceback(answer, caplog)
    assert b"Traceback" not in answer.body
    assert b"JSONDecodeError" not in answer.body


class _ConverterThatBreaks(BaseConverter):
    """Injected fault: a URL converter that fails while Werkzeug matches the route."""

    def to_python(self, value: str) -> Any:
        raise RuntimeError("injected fault")


def test_an_error_while_routing_answers_json_500_with_an_id(
    healer: Healer, caplog: pytest.LogCaptureFixture
) -> None:
    # Flask hands such an error to the HTTPException handler as a 500 wrapping it.
    healer.app.url_map.converters["breaks"] = _ConverterThatBreaks
    healer.app.add_url_rule("/fault/<breaks:x>", "fault", lambda x: "unreachable")
    answer = call(healer.app, "GET", "/fault/1")
    assert_logged_with_traceback(answer, caplog)


def test_an_exception_that_escapes_flask_still_answers_json_500_with_an_id(
    healer: Healer, caplog: pytest.LogCaptureFixture
) -> None:
    # PROPAGATE_EXCEPTIONS (set by testing or debug mode) lets Flask re-raise past its
    # handlers: the WSGI boundary in front of it still answers.
    incident_id = one_incident(healer)
    corrupt_the_alert_of(healer, incident_id)
    healer.app.config["PROPAGATE_EXCEPTIONS"] = True
    answer = call(healer.app, "GET", f"/api/incidents/{incident_id}")
    assert_logged_with_traceback(answer, caplog)
