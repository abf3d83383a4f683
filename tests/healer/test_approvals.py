"""Approving from the email: signed, single-use links that only a confirmation POST acts on.

Real parts: the healer app on real Docker and a real SQLite store; the links are
taken from the real .eml emails the healer writes (no SMTP configured here; the
SMTP-and-browser version is tests/web/test_approval_email.py). Restarts are counted
from the daemon's events, recorded live.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from urllib.parse import urlsplit

import docker
import pytest
from werkzeug.test import TestResponse

from healer.config import load_config
from healer.errors import ConfigError
from healer.model import Incident, IncidentStatus
from testbed.alerts import firing, payload
from testbed.containers import ContainerFactory, MadeContainer, wait_for_state
from testbed.events import recording
from testbed.processes import wait_until
from tests.healer.approval_links import approval_links, emails_in, html_part
from tests.healer.conftest import Healer, HealerFactory

ELSEWHERE = {"REMOTE_ADDR": "192.0.2.7"}  # the address an approval is recorded from
FAST = {"NOTIFY_GROUP_WAIT_SECONDS": "0.1"}


def stopped(factory: ContainerFactory, **kwargs: object) -> MadeContainer:
    container = factory.run(**kwargs)  # type: ignore[arg-type]
    container.stop(timeout=0)
    wait_for_state(container, lambda a: a["State"]["Status"] == "exited")
    return container


def emails(healer: Healer, count: int) -> list[EmailMessage]:
    wait_until(
        lambda: len(emails_in(healer.config.outbox_dir)) >= count,
        timeout=20,
        what=f"{count} email(s) in the outbox folder",
    )
    return emails_in(healer.config.outbox_dir)


def held(healer: Healer, container: MadeContainer) -> tuple[Incident, dict[str, str]]:
    """Alert about `container`, wait until the healer holds the incident for a human,
    and return it with the approval links of its email (as paths on this healer)."""
    alert = firing(container.name, container_id=container.id[:12])
    (incident_id,) = healer.post(payload(alert)).get_json()["created"]
    incident = healer.wait_done(incident_id)
    assert incident.status is IncidentStatus.OPEN, incident.decision
    (first,) = emails(healer, 1)
    links = approval_links(html_part(first))
    return incident, {action: urlsplit(url).path for action, url in links.items()}


def confirm(healer: Healer, path: str, action: str) -> TestResponse:
    return healer.client.post(path, data={"action": action}, environ_base=ELSEWHERE)


def test_a_held_incidents_email_offers_restart_quarantine_and_resolve_as_signed_links(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer(HEALER_MODE="check", **FAST)
    _, links = held(healer, stopped(container_factory))

    assert set(links) == {"restart", "quarantine", "resolve"}
    assert all(path.startswith("/approve/a1.") for path in links.values())
    assert len(set(links.values())) == 3
    (message,) = emails(healer, 1)
    text = message.get_body(("plain",))
    assert text is not None and "Restart now: http://localhost:9418/approve/" in str(
        text.get_content()
    )


def test_opening_an_approval_link_only_shows_a_confirmation_and_restarts_nothing(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(HEALER_MODE="check", **FAST)
    c = stopped(container_factory)
    incident, links = held(healer, c)

    with recording(docker_api) as events:
        for _ in range(3):  # a mail scanner, a link preview, the person
            page = healer.client.get(links["restart"], environ_base=ELSEWHERE)
            assert page.status_code == 200
            assert 'method="post"' in page.get_data(as_text=True)
        time.sleep(2)

    assert events.count("start", c.id) == events.count("restart", c.id) == 0
    after = healer.incident(incident.id)
    assert after.approvals == () and after.rounds == incident.rounds
    assert after.status is IncidentStatus.OPEN and after.stage == "done"
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_a_confirmed_restart_approval_in_check_mode_restarts_once_and_is_recorded_everywhere(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(HEALER_MODE="check", **FAST)
    c = stopped(container_factory)
    incident, links = held(healer, c)

    with recording(docker_api) as events:
        done = confirm(healer, links["restart"], "restart")
        assert done.status_code == 303
        healed = healer.wait_done(incident.id)
        again = confirm(healer, links["restart"], "restart")
        time.sleep(1)

    assert events.count("restart", c.id) == 1
    assert healed.status is IncidentStatus.HEALED
    assert healed.decision is not None and "approved restart" in " ".join(
        s.detail for s in healed.steps
    )
    assert again.status_code == 409
    assert "nothing was done again" in again.get_data(as_text=True)
    # The API's contract: approvals with action, at, by.
    api = healer.client.get(f"/api/incidents/{incident.id}").get_json()
    (approval,) = api["approvals"]
    assert approval["action"] == "restart" and approval["by"] == "192.0.2.7"
    assert approval["at"].endswith("Z")
    assert api["mode"] == "check"  # handled in check mode, with a person's approval
    assert any(s["step"] == "approval" and "192.0.2.7" in s["detail"] for s in api["steps"])
    # The follow-up email, in the first one's thread, says who approved.
    first, follow_up = emails(healer, 2)
    assert follow_up["In-Reply-To"] == first["Message-ID"]
    assert follow_up["Subject"].startswith("Re: ")
    assert "Approved by a person:" in html_part(follow_up)
    assert "192.0.2.7" in html_part(follow_up)
    assert approval_links(html_part(follow_up)) == {}  # healed: nothing left to approve
    # alerts.log: the follow-up's line carries the approval.
    wait_until(lambda: len(healer.alerts_log()) >= 2, what="the follow-up's alerts.log line")
    line = healer.alerts_log()[-1]
    assert line["kind"] == "update" and line["status"] == "healed"
    assert line["approvals"] == [approval]
    # The used link's page says what happened, and offers nothing to press.
    page = healer.client.get(links["restart"]).get_data(as_text=True)
    assert "This link was used" in page and "192.0.2.7" in page
    assert 'method="post"' not in page


def test_a_tampered_an_expired_and_an_unconfirmed_link_restart_nothing(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(HEALER_MODE="check", HEALER_APPROVAL_TTL_SECONDS="3", **FAST)
    c = stopped(container_factory)
    incident, links = held(healer, c)
    path = links["restart"]
    head, mac = path.rsplit(".", 1)
    flipped = mac[:5] + ("A" if mac[5] != "A" else "B") + mac[6:]
    tampered = [
        f"{head}.{flipped}",  # the signature
        path.replace(f".{incident.id}.", f".{incident.id + 1}.", 1),  # another incident
        path.replace(".restart.", ".resolve.", 1),  # another action
        "/approve/a1.1.restart.99999999999.AAAAAAAAAAAAAAAA." + "A" * 43,  # forged
        "/approve/" + "x" * 500,
    ]

    with recording(docker_api) as events:
        for bad in tampered:
            answer = confirm(healer, bad, bad.split(".")[2] if bad.count(".") > 3 else "restart")
            assert answer.status_code == 403, bad
            assert "Not a valid approval link" in answer.get_data(as_text=True)
        missing = healer.client.post(path, data={}, environ_base=ELSEWHERE)  # no confirmation
        assert missing.status_code == 400
        expires_at = int(path.split(".")[3])
        time.sleep(max(expires_at - time.time(), 0) + 0.2)
        expired = confirm(healer, path, "restart")
        time.sleep(1)

    assert expired.status_code == 410
    assert "expired" in expired.get_data(as_text=True)
    assert events.count("start", c.id) == events.count("restart", c.id) == 0
    assert healer.incident(incident.id).approvals == ()


def test_an_approval_for_a_container_that_lost_its_managed_label_restarts_nothing_and_says_why(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(HEALER_MODE="check", **FAST)
    c = stopped(container_factory)
    incident, links = held(healer, c)
    # Redeployed without the label (Docker cannot change a container's labels in place).
    name = c.name
    c.remove(force=True)
    unlabelled = stopped(container_factory, name=name, managed=False)

    with recording(docker_api) as events:
        assert confirm(healer, links["restart"], "restart").status_code == 303
        after = healer.wait_done(incident.id)
        time.sleep(1)

    assert events.count("start", unlabelled.id) == events.count("restart", unlabelled.id) == 0
    assert after.status is IncidentStatus.SKIPPED
    assert after.decision is not None
    reason = after.decision.reason
    assert "does not carry the managed label" in reason and "approval does not lift" in reason
    _, follow_up = emails(healer, 2)
    assert "does not carry the managed label" in html_part(follow_up)


def test_an_approval_lifts_the_rules_hold_but_never_the_restart_budget(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(MAX_RESTART_ATTEMPTS="1", **FAST)  # heal mode
    config_error = "echo 'FATAL: environment variable DATABASE_URL is not set'; exit 3"
    c = container_factory.run(["sh", "-c", config_error])
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    incident, links = held(healer, c)
    assert incident.decision is not None and "will not fix" in incident.decision.reason

    with recording(docker_api) as events:
        assert confirm(healer, links["restart"], "restart").status_code == 303
        after = healer.wait_done(incident.id, timeout=60)
        time.sleep(1)

    # One approved restart (it fails again: a configuration error), then the budget holds.
    assert events.count("restart", c.id) == 1
    assert after.status is IncidentStatus.FAILED
    assert len(after.actions) == 1
    _, follow_up = emails(healer, 2)
    assert set(approval_links(html_part(follow_up))) == {"quarantine", "resolve"}


def test_an_approval_never_lifts_a_containers_own_check_label(
    make_healer: HealerFactory,
    container_factory: ContainerFactory,
    docker_api: docker.DockerClient,
) -> None:
    healer = make_healer(**FAST)  # heal mode; the container itself says check
    c = stopped(container_factory, labels={"healer.mode": "check"})
    incident, links = held(healer, c)

    with recording(docker_api) as events:
        confirm(healer, links["restart"], "restart")
        after = healer.wait_done(incident.id)
        time.sleep(1)

    assert events.count("restart", c.id) == 0
    assert after.status is IncidentStatus.OPEN
    assert after.decision is not None and "healer.mode=check" in after.decision.reason


def test_mark_resolved_closes_the_incident_and_tells_the_thread(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer(HEALER_MODE="check", **FAST)
    incident, links = held(healer, stopped(container_factory))

    assert confirm(healer, links["resolve"], "resolve").status_code == 303
    after = healer.incident(incident.id)

    assert after.status is IncidentStatus.RESOLVED and after.closed_at is not None
    assert after.decision is not None and "marked resolved by a person" in after.decision.reason
    first, follow_up = emails(healer, 2)
    assert follow_up["In-Reply-To"] == first["Message-ID"]
    assert "Approved by a person:" in html_part(follow_up)
    # The other links of the same email have nothing left to act on.
    late = confirm(healer, links["restart"], "restart")
    assert late.status_code == 409
    assert "nothing to restart" in late.get_data(as_text=True)


def test_quarantine_from_the_email_quarantines_the_container(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer(HEALER_MODE="check", **FAST)
    c = stopped(container_factory)
    incident, links = held(healer, c)

    assert confirm(healer, links["quarantine"], "quarantine").status_code == 303

    after = healer.incident(incident.id)
    assert after.status is IncidentStatus.QUARANTINED
    quarantined = healer.client.get("/api/quarantine").get_json()["quarantined"]
    assert [q["container"] for q in quarantined] == [c.name]
    assert "by a person" in quarantined[0]["reason"]


def test_approval_pages_need_no_read_token_but_the_incident_page_still_does(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    read_token = "read-token-0123456789abcdef"
    healer = make_healer(HEALER_MODE="check", HEALER_READ_TOKEN=read_token, **FAST)
    incident, links = held(healer, stopped(container_factory))

    assert healer.client.get(f"/incidents/{incident.id}").status_code == 401
    assert healer.client.get(links["resolve"]).status_code == 200
    assert confirm(healer, links["resolve"], "resolve").status_code == 303
    # With the read token, the incident page shows the approval.
    page = healer.client.get(
        f"/incidents/{incident.id}", headers={"Authorization": f"Bearer {read_token}"}
    ).get_data(as_text=True)
    assert "Approved by a person" in page and "192.0.2.7" in page


def test_the_incident_page_offers_the_same_actions_as_the_email(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    healer = make_healer(HEALER_MODE="check", **FAST)
    incident, _ = held(healer, stopped(container_factory))

    page = healer.client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    links = approval_links(page)

    assert set(links) == {"restart", "quarantine", "resolve"}
    assert all(url.startswith("/approve/a1.") for url in links.values())
    assert healer.client.get(links["quarantine"]).status_code == 200


def test_approvals_turned_off_put_no_links_in_emails_and_refuse_every_link(
    make_healer: HealerFactory, container_factory: ContainerFactory
) -> None:
    on = make_healer(HEALER_MODE="check", **FAST)
    _, links = held(on, stopped(container_factory))
    off = make_healer(HEALER_MODE="check", HEALER_APPROVAL_TTL_SECONDS="0", **FAST)
    incident = off.wait_done(
        off.post(payload(firing(stopped(container_factory).name))).get_json()["created"][0]
    )

    assert approval_links(html_part(emails(off, 1)[0])) == {}
    assert approval_links(off.client.get(f"/incidents/{incident.id}").get_data(as_text=True)) == {}
    assert off.client.get(links["restart"]).status_code == 404
    assert confirm(off, links["restart"], "restart").status_code == 404


def test_bad_approval_settings_stop_start_up_with_one_line_naming_the_key() -> None:
    for settings, key in (
        ({"HEALER_APPROVAL_TTL_SECONDS": "an hour"}, "HEALER_APPROVAL_TTL_SECONDS"),
        ({"HEALER_APPROVAL_SECRET": "tiny-s3cret"}, "HEALER_APPROVAL_SECRET"),
    ):
        with pytest.raises(ConfigError) as refused:
            load_config(settings, dotenv_file=None)
        assert str(refused.value).startswith(key) and "\n" not in str(refused.value)
        assert "tiny-s3cret" not in str(refused.value)  # a secret's value is never echoed
