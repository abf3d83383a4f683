"""Reading a Prometheus exposition the way Prometheus does, for assertions."""

from __future__ import annotations

from collections.abc import Mapping

import requests
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape(url: str) -> Samples:
    response = requests.get(url, timeout=5)
    response.raise_for_status()
    return parse_samples(response.text)


def value(samples: Samples, name: str, labels: Mapping[str, str] | None = None) -> float | None:
    return samples.get((name, frozenset((labels or {}).items())))


def series_for(
    samples: Samples, name: str, **labels: str
) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return {lbls: v for (n, lbls), v in samples.items() if n == name and want <= set(lbls)}
