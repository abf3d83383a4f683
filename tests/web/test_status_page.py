"""The healer's status page in a real browser, during a real scenario.

The healer runs under waitress against the real Docker Engine and heals real
containers (tests/web/scenario.py); Debian's headless Chromium opens `/` and
`/incidents/<id>` and the assertions read the DOM it rendered: what a person
would see. Screenshots are taken into the test's temp folder;
`python -m tests.web.screenshots` makes the ones committed under docs/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from testbed.containers import ContainerFactory
from tests.grafana.scenario import cleanup
from tests.web.browser import DESKTOP, PHONE, dump_dom, png_size, screenshot
from tests.web.dom import Page, read
from tests.web.scenario import PageScenario, run_page_scenario


@pytest.fixture(scope="module")
def fleet(
    docker_api: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PageScenario]:
    factory = ContainerFactory(docker_api)
    try:
        with run_page_scenario(
            tmp_path_factory.mktemp("status-page"),
            factory,
            name=lambda role: factory.prefix + role,
            managed_label=f"itops.test.run={factory.run_id}",
        ) as scenario:
            yield scenario
    finally:
        cleanup(factory)


@pytest.fixture(scope="module")
def status_dom(fleet: PageScenario) -> str:
    return dump_dom(fleet.url + "/")


@pytest.fixture(scope="module")
def status(status_dom: str) -> Page:
    return read(status_dom)


@pytest.fixture(scope="module")
def incident_doms(fleet: PageScenario) -> dict[str, str]:
    return {role: dump_dom(f"{fleet.url}/incidents/{i}") for role, i in fleet.incidents.items()}


def test_status_page_shows_the_stopped_containers_incident_healed_with_its_diagnosis(
    fleet: PageScenario, status: Page
) -> None:
    web = fleet.names["web"]
    incident = fleet.incident("web")
    assert incident["status"] == "healed"
    row = status.row_for("recent", web)
    assert f"/incidents/{incident['id']}" in row.links
    assert "ContainerDown" in row.text
    assert "healed" in row.text
    assert incident["diagnosis"]["category"] in row.text
    assert incident["diagnosis"]["root_cause"] in row.text
    assert "1 restart, verified" in row.text


def test_status_page_lists_every_managed_container_with_the_one_needing_attention_first(
    fleet: PageScenario, status: Page
) -> None:
    rows = [row for row in status.rows("containers") if row.cells and row.cells[0] != "container"]
    assert rows[0].cells[0] == fleet.names["app"]
    assert {row.cells[0] for row in rows} == set(fleet.names.values())
    app = status.row_for("containers", fleet.names["app"])
    assert "exited" in app.cells[1]
    assert f"/incidents/{fleet.incidents['app']}" in app.links
    assert "running · healthy" in status.row_for("containers", fleet.names["web"]).cells[1]
    assert "OOM" in status.row_for("containers", fleet.names["cache"]).text


def test_open_incidents_show_the_configuration_error_held_for_a_human(
    fleet: PageScenario, status: Page
) -> None:
    row = status.row_for("open", fleet.names["app"])
    assert "open" in row.text
    assert "configuration" in row.text
    assert "needs a human" in row.text
    assert "1 open incidents" in status.text("summary")


def test_incident_page_shows_the_diagnosis_the_restart_and_its_verification(
    fleet: PageScenario, incident_doms: dict[str, str]
) -> None:
    page = read(incident_doms["web"])
    incident = fleet.incident("web")
    assert f"Incident #{incident['id']}: ContainerDown on {fleet.names['web']}" in page.text(
        "incident"
    )
    assert incident["decision"]["reason"] in page.text("incident")
    assert incident["diagnosis"]["root_cause"] in page.text("diagnosis")
    assert "source: rules" in page.text("diagnosis")
    (attempt,) = [r for r in page.rows("actions") if r.cells and r.cells[0] == "1"]
    assert attempt.cells[1] == "restart"
    assert attempt.cells[4] == "ok"
    assert "Verification: verified" in page.text("actions")
    assert incident["verification"]["summary"] in page.text("actions")


def test_oom_incident_page_names_the_memory_limit_as_the_cause(
    fleet: PageScenario, incident_doms: dict[str, str]
) -> None:
    page = read(incident_doms["cache"])
    assert "resource" in page.text("diagnosis")
    assert "OOMKilled" in page.text("diagnosis")
    assert "OOM-killed" in page.text("evidence")
    assert "cache warming" in page.text("evidence")


def test_log_lines_with_html_are_shown_as_text_and_never_become_markup(
    fleet: PageScenario, incident_doms: dict[str, str]
) -> None:
    dom = incident_doms["app"]
    page = read(dom)
    assert "<script>alert(1)</script>" in page.text("evidence")
    assert "<b>DATABASE_URL</b>" in page.text("evidence")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert not page.tags("script")
    assert not [e for e in page.tags("b") if e.section == "evidence"]


@pytest.mark.parametrize("which", ["status", "incident"])
def test_pages_load_nothing_from_anywhere_else(
    fleet: PageScenario, status_dom: str, incident_doms: dict[str, str], which: str
) -> None:
    page = read(status_dom if which == "status" else incident_doms["app"])
    assert not page.tags("script", "link", "img", "iframe", "object", "embed")
    styles = "".join(e.attrs.get("style", "") for e in page.elements)
    assert "url(" not in styles


def test_status_page_refreshes_itself_and_a_concluded_incident_page_does_not(
    status: Page, incident_doms: dict[str, str]
) -> None:
    (refresh,) = [m for m in status.tags("meta") if m.attrs.get("http-equiv") == "refresh"]
    assert refresh.attrs["content"] == "15"
    web = read(incident_doms["web"])
    assert not [m for m in web.tags("meta") if m.attrs.get("http-equiv") == "refresh"]


def test_pages_declare_a_phone_viewport(status: Page) -> None:
    (viewport,) = [m for m in status.tags("meta") if m.attrs.get("name") == "viewport"]
    assert "width=device-width" in viewport.attrs["content"]


def test_an_unknown_incident_is_a_readable_404_page(fleet: PageScenario) -> None:
    response = requests.get(f"{fleet.url}/incidents/999999", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "There is no incident #999999." in read(response.text).text("")


def test_status_and_incident_pages_render_as_screenshots_at_desktop_and_phone_width(
    fleet: PageScenario, tmp_path: Path
) -> None:
    shots = {
        "status-desktop": screenshot(fleet.url + "/", tmp_path / "status.png", size=DESKTOP),
        "status-phone": screenshot(fleet.url + "/", tmp_path / "status-phone.png", size=PHONE),
        "incident-desktop": screenshot(
            f"{fleet.url}/incidents/{fleet.incidents['web']}", tmp_path / "incident.png"
        ),
    }
    assert png_size(shots["status-desktop"]) == DESKTOP
    assert png_size(shots["status-phone"]) == PHONE
    assert png_size(shots["incident-desktop"]) == DESKTOP
    # A blank page compresses to almost nothing; a rendered one does not.
    assert all(path.stat().st_size > 20_000 for path in shots.values())
