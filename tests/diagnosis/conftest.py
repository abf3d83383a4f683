"""Fixtures for the diagnosis tests: the labelled corpus, loaded once."""

from __future__ import annotations

import pytest

from testbed.corpus import Case, load_corpus


@pytest.fixture(scope="session")
def corpus() -> list[Case]:
    return load_corpus()


@pytest.fixture(scope="session")
def cases_by_name(corpus: list[Case]) -> dict[str, Case]:
    return {case.name: case for case in corpus}
