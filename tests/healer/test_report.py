"""`python -m healer report INCIDENT_ID`: a real incident's post-mortem, every section.

The incident is real: a stopped container on the real Docker Engine, held in check
mode, restarted after a person's approval from its email's link, verified; an
earlier incident of the same container was marked resolved. The report runs as the
real CLI process on the healer's data directory.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from healer.model import IncidentStatus
from healer.report import code, paragraph, text
from testbed.alerts import firing, payload
from testbed.containers import ContainerFactory, wait_for_state
from testbed.processes import wait_until
from tests.healer.approval_links import approval_links, emails_in, html_part
from tests.healer.conftest import Healer, HealerFactory, run_cli

SECTIONS = (
    "## What broke",
    "## Evidence",
    "## Diagnosis",
    "## Decisions",
    "## Actions",
    "## Verification",
    "## Approvals",
    "## Notifications",
    "## Timeline",
    "## Related incidents",
)
HOSTILE = "```` <script>alert(1)</script> [docs](http://evil.example)"


def approve(healer: Healer, incident_id: int, action: str, emails_before: int) -> None:
    wait_until(
        lambda: len(emails_in(healer.config.outbox_dir)) > emails_before,
        timeout=20,
        what=f"incident {incident_id}'s email",
    )
    message = emails_in(healer.config.outbox_dir)[emails_before]
    assert message["X-Healer-Incident"] == str(incident_id)
    url = approval_links(html_part(message))[action]
    answer = healer.client.post(
        urlsplit(url).path, data={"action": action}, environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert answer.status_code == 303


def test_report_prints_every_section_of_a_real_healed_incident(
    make_healer: HealerFactory, container_factory: ContainerFactory, tmp_path: Path
) -> None:
    healer = make_healer(HEALER_MODE="check", NOTIFY_GROUP_WAIT_SECONDS="0.1")
    c = container_factory.run(
        ["sh", "-c", f"echo 'cache warmer starting'; echo '{HOSTILE}'; exec sleep 100000"]
    )
    c.stop(timeout=0)
    wait_for_state(c, lambda a: a["State"]["Status"] == "exited")
    # An earlier episode, marked resolved by a person.
    first = healer.post(payload(firing(c.name, fingerprint="fp-1"))).get_json()["created"][0]
    healer.wait_done(first)
    approve(healer, first, "resolve", emails_before=0)
    # This one: held in check mode, restarted on approval, verified.
    alert = firing(c.name, fingerprint="fp-2", container_id=c.id[:12])
    second = healer.post(payload(alert)).get_json()["created"][0]
    healer.wait_done(second)
    approve(healer, second, "restart", emails_before=2)
    wait_until(lambda: healer.incident(second).status is IncidentStatus.HEALED, what="the heal")
    healer.wait_done(second)

    done = run_cli(tmp_path, "report", str(second), HEALER_DATA_DIR=str(healer.config.data_dir))

    assert done.returncode == 0, done.stderr
    report = done.stdout
    assert report.startswith(f"# Post-mortem: incident #{second}, {c.name.replace('-', '-')}")
    positions = [report.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert "| Status | healed |" in report
    assert "cache warmer starting" in report  # the evidence's log lines
    assert "check mode (HEALER\\_MODE=check)" in report  # the first decision, escaped
    assert "approved restart" in report
    assert "| 1 | restart |" in report and "| ok |" in report
    assert "**passed**" in report
    assert "| restart |" in report and "| 192.0.2.7 |" in report  # who approved
    assert f"- #{first} ContainerDown, resolved" in report  # the related incident
    assert "marked resolved by a person" in report
    # A hostile log line stays inert: fenced longer than its own backticks.
    assert "`````text" in report and HOSTILE in report
    assert "[docs](http://evil.example)" not in report.replace(HOSTILE, "")


def test_report_of_an_unknown_incident_exits_1_with_one_line(
    make_healer: HealerFactory, tmp_path: Path
) -> None:
    healer = make_healer(start_workers=False)
    (incident_id,) = healer.post(payload(firing("prod-web-01"))).get_json()["created"]
    data = str(healer.config.data_dir)

    for unknown in (str(incident_id + 1), "abc", "-1", "9" * 40):
        done = run_cli(tmp_path, "report", unknown, HEALER_DATA_DIR=data)
        assert done.returncode == 1, unknown
        assert done.stdout == ""
        assert done.stderr.strip() == f"healer: no incident {unknown!r}"
        assert len(done.stderr.splitlines()) == 1

    empty = tmp_path / "nothing-here"
    done = run_cli(tmp_path, "report", "1", HEALER_DATA_DIR=str(empty))
    assert done.returncode == 1 and not empty.exists()


def test_outside_text_in_a_report_cannot_become_markup() -> None:
    assert text("[x](javascript:alert(1)) <img src=x> *b* `c` |d|") == (
        "\\[x\\](javascript:alert(1)) \\<img src=x\\> \\*b\\* \\`c\\` \\|d\\|"
    )
    for line, safe in (
        ("# Heading", "\\# Heading"),
        ("- item", "\\- item"),
        ("12. item", "12\\. item"),
        ("192.0.2.7 said hello", "192.0.2.7 said hello"),
    ):
        assert paragraph(line) == safe
    assert code(["``` a", "b"]) == ["````text", "``` a", "b", "````"]
