"""`python -m bench.llm_eval` end to end: the real local model in CI, and its figures checked
against a fault injector whose answers are known (a real model cannot be made to answer
garbage or invent quotes on demand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.llm_eval import main
from testbed.llm_faults import Fault
from testbed.processes import Service
from tests.llm.conftest import FaultFactory


def run(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], str]:
    out = tmp_path / "figures.json"
    assert main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text()), capsys.readouterr().out


@pytest.mark.llm
@pytest.mark.timeout(900)
def test_the_evaluation_runs_real_faults_and_corpus_cases_through_the_local_model(
    openai_server: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures, printed = run(
        [
            *("--backend", "openai", "--model", "gemma3:270m"),
            *("--base-url", f"{openai_server.url}/v1", "--limit", "2", "--timeout", "240"),
        ],
        tmp_path,
        capsys,
    )

    assert "2 cases (1 real fault, 1 from the corpus)" in printed
    assert figures["cases"] == 2
    assert figures["rules_category_correct"] == 2
    assert figures["answered"] == 2, figures["outcomes"]
    # What a 270M base model says is not asserted, only that every figure was measured (the
    # constrained decoder gives the schema's shape; the validator can still refuse one, e.g. a
    # blank root cause).
    assert 0 <= figures["schema_valid"] <= 2
    assert figures["tokens_per_diagnosis"] > 100
    assert figures["latency_p50_s"] > 0
    for label in ("schema-valid rate", "grounded answers", "vetoes of a healing restart"):
        assert label in printed


def test_an_answer_that_is_not_json_counts_as_answered_but_schema_invalid(
    faults: FaultFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    injector = faults(Fault.GARBAGE)
    figures, printed = run(
        [
            *("--backend", "openai", "--model", "fake", "--base-url", f"{injector.url}/v1"),
            *("--faults", "none", "--limit", "3", "--timeout", "10"),
        ],
        tmp_path,
        capsys,
    )

    assert (figures["answered"], figures["schema_valid"]) == (3, 0)
    assert figures["llm_category_correct"] == 0
    assert figures["outcomes"] == {"invalid": 3}
    assert "none = no valid answer" in printed


def test_quotes_that_are_not_in_the_logs_count_against_grounding(
    faults: FaultFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    injector = faults(Fault.INVENTED_EVIDENCE)
    figures, _ = run(
        [
            *("--backend", "ollama", "--model", "fake", "--host", injector.url),
            *("--faults", "none", "--limit", "3", "--timeout", "10"),
        ],
        tmp_path,
        capsys,
    )

    assert figures["schema_valid"] == 3
    assert figures["answers_fully_grounded"] == 0
    assert figures["quotes_grounded"] == 0 < figures["quotes"]
