"""The read side: with HEALER_READ_TOKEN the API and pages need a credential; probes don't.

Reproduces the review's finding that `/api/incidents` and the pages, which show log
lines and Docker's error text, answered anyone. The healer here is real (Docker,
SQLite, Flask); one test runs it under the production server to prove a browser's
HTTP basic login and a Bearer token both work over a real socket.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests

from healer.errors import ConfigError
from testbed.alerts import firing, payload
from testbed.healer_proc import TOKEN, healer_env, start_healer
from tests.healer.conftest import Healer, HealerFactory

READ_TOKEN = "read-token-fedcba9876543210"

GUARDED = ["/api/incidents", "/api/incidents/1", "/api/quarantine", "/", "/incidents/1"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def guarded(make_healer: HealerFactory) -> Healer:
    healer = make_healer(start_workers=False, HEALER_READ_TOKEN=READ_TOKEN)
    response = healer.post(payload(firing("nobody-here")))
    assert response.status_code == 200
    return healer


@pytest.mark.parametrize("path", GUARDED)
def test_without_a_credential_the_api_and_pages_answer_401_with_both_challenges(
    guarded: Healer, path: str
) -> None:
    response = guarded.client.get(path)
    assert response.status_code == 401
    assert "HEALER_READ_TOKEN" in response.get_json()["error"]
    challenges = response.headers.getlist("WWW-Authenticate")
    assert any(c.startswith("Bearer") for c in challenges)
    assert any(c.startswith("Basic") for c in challenges)
    assert "nobody-here" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", GUARDED)
def test_the_read_token_as_bearer_or_basic_password_opens_the_api_and_pages(
    guarded: Healer, path: str
) -> None:
    for headers in (
        bearer(READ_TOKEN),
        {"Authorization": basic("anyone", READ_TOKEN)},
        bearer(TOKEN),  # whoever may write may read
    ):
        assert guarded.client.get(path, headers=headers).status_code == 200, headers


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {READ_TOKEN}x",
        f"Bearer {READ_TOKEN[:-1]}",
        "Bearer ",
        f"Token {READ_TOKEN}",
        "Basic bm90LWJhc2U2NA",  # not valid base64 of user:password
        f"Basic {READ_TOKEN}",
    ],
)
def test_a_wrong_or_malformed_credential_is_refused_with_401(guarded: Healer, header: str) -> None:
    response = guarded.client.get("/api/incidents", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.is_json


def test_an_unknown_path_needs_the_credential_too_so_a_404_reveals_nothing(guarded: Healer) -> None:
    assert guarded.client.get("/no/such/page").status_code == 401
    assert guarded.client.get("/no/such/page", headers=bearer(READ_TOKEN)).status_code == 404


def test_healthz_and_metrics_stay_open_for_probes_and_prometheus(guarded: Healer) -> None:
    assert guarded.client.get("/healthz").status_code in (200, 503)  # workers not started
    metrics = guarded.client.get("/metrics")
    assert metrics.status_code == 200 and b"healer_" in metrics.data


def test_the_read_token_cannot_post_alerts_or_clear_a_quarantine(guarded: Healer) -> None:
    assert guarded.post(payload(firing("x")), token=READ_TOKEN).status_code == 403
    cleared = guarded.client.post("/api/quarantine/x/clear", headers=bearer(READ_TOKEN))
    assert cleared.status_code == 403
    not_quarantined = guarded.client.post("/api/quarantine/x/clear", headers=bearer(TOKEN))
    assert not_quarantined.status_code == 404


def test_without_a_read_token_reading_stays_open_as_before(make_healer: HealerFactory) -> None:
    healer = make_healer(start_workers=False)
    assert healer.client.get("/api/incidents").status_code == 200
    assert healer.client.get("/").status_code == 200


def test_a_read_token_shorter_than_16_characters_stops_start_up(
    make_healer: HealerFactory,
) -> None:
    with pytest.raises(ConfigError, match="HEALER_READ_TOKEN: too short"):
        make_healer(HEALER_READ_TOKEN="short")


def test_the_production_server_takes_basic_for_browsers_and_bearer_for_tools(
    tmp_path: Path,
) -> None:
    service = start_healer(
        healer_env(tmp_path / "data", HEALER_READ_TOKEN=READ_TOKEN, HEALER_MODE="check"),
        tmp_path,
    )
    try:
        url = service.url
        assert requests.get(f"{url}/api/incidents", timeout=5).status_code == 401
        assert requests.get(f"{url}/", auth=("me", READ_TOKEN), timeout=5).status_code == 200
        ok = requests.get(f"{url}/api/incidents", headers=bearer(READ_TOKEN), timeout=5)
        assert ok.status_code == 200 and ok.json() == {"incidents": []}
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        service.stop()
