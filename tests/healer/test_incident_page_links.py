"""Links the incident page builds from an alert are plain http(s), as in the emails.

Reproduces the review's finding: `generatorURL` and `runbook_url` came from the alert
and were rendered as links unfiltered, so `javascript:` ran on a click.
"""

from __future__ import annotations

import pytest

from testbed.alerts import firing, payload
from tests.healer.conftest import HealerFactory
from tests.web.dom import read

HOSTILE = [
    "javascript:alert(document.cookie)",
    " JavaScript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/phish",
    "http:evil",
    "mailto:a@b.example",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_an_alert_url_that_is_not_plain_http_is_never_a_link(
    make_healer: HealerFactory, url: str
) -> None:
    healer = make_healer(start_workers=False)
    alert = firing("links-test")
    alert["generatorURL"] = url
    alert["annotations"]["runbook_url"] = url
    created = healer.post(payload(alert)).get_json()["created"]
    page = healer.client.get(f"/incidents/{created[0]}")
    assert page.status_code == 200
    hrefs = [e.attrs.get("href", "") for e in read(page.get_data(as_text=True)).tags("a")]
    assert all(h.startswith(("/", "http://", "https://")) for h in hrefs), hrefs
    assert not [h for h in hrefs if "evil" in h or "alert(" in h], hrefs


def test_plain_http_links_from_the_alert_are_kept(make_healer: HealerFactory) -> None:
    healer = make_healer(start_workers=False)
    alert = firing("links-test")
    alert["generatorURL"] = "http://prometheus:9090/graph?g0.expr=up"
    alert["annotations"]["runbook_url"] = "https://runbooks.example/ContainerDown"
    created = healer.post(payload(alert)).get_json()["created"]
    page = read(healer.client.get(f"/incidents/{created[0]}").get_data(as_text=True))
    hrefs = [e.attrs.get("href", "") for e in page.tags("a")]
    assert "http://prometheus:9090/graph?g0.expr=up" in hrefs
    assert "https://runbooks.example/ContainerDown" in hrefs
