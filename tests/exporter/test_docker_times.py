"""Docker's timestamps as the exporter reads them (fleet.facts.parse_docker_time)."""

from __future__ import annotations

import pytest

from fleet.facts import ContainerFacts, parse_docker_time


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2024-05-01T09:59:00.123456789Z", 1714557540.123456789),  # what the daemon writes
        ("2024-05-01T09:59:00Z", 1714557540.0),
        ("2024-05-01T11:59:00.5+02:00", 1714557540.5),  # a daemon with a local zone
        ("2024-05-01T04:59:00-05:00", 1714557540.0),
    ],
)
def test_dockers_rfc_3339_times_read_as_epoch_seconds(text: str, epoch: float) -> None:
    assert parse_docker_time(text) == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize("text", [None, "", "0001-01-01T00:00:00Z"])
def test_the_zero_time_means_never(text: str | None) -> None:
    assert parse_docker_time(text) is None


@pytest.mark.parametrize(
    "text", ["2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "soon"]
)
def test_a_time_that_cannot_be_read_is_unknown_rather_than_an_error(text: str) -> None:
    # One odd field must not fail the inspect it is in (and with it a whole scrape).
    facts = ContainerFacts.from_inspect({"Id": "abc", "State": {"StartedAt": text}})
    assert facts.started_at is None
