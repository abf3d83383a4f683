"""Approve from the email, as a person does: a real email, a real browser, a real restart.

The healer runs as `healer serve` in check mode against the real Docker Engine and
mails a real SMTP server on loopback (tests/web/approval_scenario.py). The links are
taken from the HTML part of the email that arrived; headless Chromium opens them and
clicks the confirmation button (tests/web/cdp.py). Restarts are counted from the
daemon's events, recorded live while the browser acts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from testbed.containers import ContainerFactory
from testbed.events import EventRecorder, recording
from testbed.processes import wait_until
from tests.grafana.scenario import cleanup
from tests.healer.approval_links import approval_links
from tests.web.approval_scenario import ApprovalScenario, run_approval_scenario
from tests.web.browser import png_size
from tests.web.cdp import chromium
from tests.web.dom import read

EMAIL_WIDTH = (720, 900)


@pytest.fixture
def held(
    docker_api: docker.DockerClient, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ApprovalScenario]:
    settings = getattr(request, "param", {})
    factory = ContainerFactory(docker_api)
    try:
        with run_approval_scenario(
            tmp_path,
            factory,
            name=factory.prefix + "web",
            managed_label=f"itops.test.run={factory.run_id}",
            **settings,
        ) as scenario:
            yield scenario
    finally:
        cleanup(factory)


def restarts(events: EventRecorder, container_id: str | None) -> int:
    return events.count("restart", container_id or "-")


def test_a_restart_link_from_a_received_email_restarts_once_after_its_confirmation_in_chromium(
    held: ApprovalScenario, docker_api: docker.DockerClient, tmp_path: Path
) -> None:
    (first,) = held.emails(1)
    html = first.part("html")
    links = approval_links(html)
    assert set(links) == {"restart", "quarantine", "resolve"}
    assert links["restart"].startswith(f"{held.url}/approve/")
    email_file = tmp_path / "email.html"
    email_file.write_text(html)
    c = held.container

    with recording(docker_api) as events:
        with chromium(EMAIL_WIDTH) as mail:
            # The email as a person sees it, buttons and all.
            shown = read(mail.open(email_file.as_uri()))
            assert "Your decision" in shown.text("")
            shot = mail.screenshot(tmp_path / "email-approval.png")
        with chromium() as person, chromium() as other_tab:
            confirmation = read(person.open(links["restart"]))
            stale = read(other_tab.open(links["restart"]))  # the same link, open twice
            time.sleep(1.5)
            assert restarts(events, c.id) == 0, "opening the link alone restarted it"
            assert "Restart now" in confirmation.text("approval")
            assert stale.tags("form") and confirmation.tags("form")
            assert c.name in confirmation.text("approval")

            approved = read(person.click("#confirm-button"))
            assert "This link was used" in approved.text("approval")
            wait_until(lambda: held.incident()["status"] == "healed", timeout=60, what="the heal")
            again = read(other_tab.click("#confirm-button"))
            used = read(person.open(links["restart"]))
            time.sleep(1.5)

    assert restarts(events, c.id) == 1
    assert "nothing was done again" in again.text("approval")
    assert "healed" in used.text("approval") and not used.tags("form")
    assert png_size(shot)[0] == EMAIL_WIDTH[0]
    # Recorded: the API's approvals, the timeline, the threaded follow-up, alerts.log.
    incident = held.incident()
    (approval,) = incident["approvals"]
    assert approval["action"] == "restart" and approval["by"] == "127.0.0.1"
    assert any(s["step"] == "approval" for s in incident["steps"])
    _, follow_up = held.emails(2)
    assert follow_up.message["In-Reply-To"] == first.message["Message-ID"]
    assert "Approved by a person:" in follow_up.part("html")
    assert "127.0.0.1" in follow_up.part("plain")
    assert follow_up.subject.startswith("Re: ")  # threaded: the first email's subject
    assert "healed after 1 restart" in follow_up.part("plain")
    wait_until(lambda: len(held.alerts_log()) >= 2, what="the follow-up's alerts.log line")
    assert held.alerts_log()[-1]["approvals"] == [approval]


@pytest.mark.parametrize("held", [{"HEALER_APPROVAL_TTL_SECONDS": "4"}], indirect=True)
def test_a_tampered_or_expired_link_in_chromium_offers_nothing_and_restarts_nothing(
    held: ApprovalScenario, docker_api: docker.DockerClient
) -> None:
    (email,) = held.emails(1)
    link = approval_links(email.part("html"))["restart"]
    head, mac = link.rsplit(".", 1)
    tampered = f"{head}.{'B' if mac[0] == 'A' else 'A'}{mac[1:]}"
    c = held.container

    with recording(docker_api) as events, chromium() as person:
        forged = read(person.open(tampered))
        expires_at = int(link.rsplit("/", 1)[1].split(".")[3])
        time.sleep(max(expires_at - time.time(), 0) + 0.3)
        expired = read(person.open(link))
        # Past the page: the POST itself, as a script would send it.
        posted = requests.post(link, data={"action": "restart"}, timeout=5)
        time.sleep(1.5)

    assert "Not a valid approval link" in forged.text("approval") and not forged.tags("form")
    assert "expired" in expired.text("approval") and not expired.tags("form")
    assert posted.status_code == 410
    assert restarts(events, c.id) == 0
    assert held.incident()["approvals"] == []


def test_an_approval_for_a_container_that_lost_its_managed_label_says_why_on_its_page(
    held: ApprovalScenario, docker_api: docker.DockerClient
) -> None:
    (email,) = held.emails(1)
    link = approval_links(email.part("html"))["restart"]
    # Redeployed under the same name without the label the healer manages by.
    c = held.container
    c.remove(force=True)
    redeployed = docker_api.containers.create(
        "itops-test/busybox:1", ["sleep", "100000"], name=c.name, labels={}
    )
    try:
        with recording(docker_api) as events, chromium() as person:
            person.open(link)
            person.click("#confirm-button")
            wait_until(
                lambda: held.incident()["stage"] == "done" and held.incident()["rounds"] == 2,
                timeout=30,
                what="the approved round",
            )
            outcome = read(person.open(link))
            time.sleep(1)
        assert restarts(events, redeployed.id) == 0
        assert "does not carry the managed label" in outcome.text("approval")
        assert "an approval does not lift this" in outcome.text("approval")
        _, follow_up = held.emails(2)
        assert "does not carry the managed label" in follow_up.part("plain")
    finally:
        redeployed.remove(force=True)
