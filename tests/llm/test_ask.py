"""`ask` answers the common questions from a live snapshot, with or without a model."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest
from docker.models.containers import Container

from fleet.facts import ContainerFacts
from healer.ask import answer, answer_from_snapshot
from healer.diagnosis.ollama_backend import OllamaBackend
from healer.model import Source
from testbed.containers import WEB_CMD, ContainerFactory, health, wait_for_state
from testbed.llm_faults import Fault
from testbed.processes import Service
from tests.llm.conftest import FaultFactory, facts


def snapshot(containers: Iterable[Container]) -> list[ContainerFacts]:
    out = []
    for container in containers:
        container.reload()
        out.append(ContainerFacts.from_inspect(container.attrs))
    return out


def name(container: Container) -> str:
    return str(container.name)


@pytest.fixture
def fleet(container_factory: ContainerFactory) -> dict[str, Container]:
    """A healthy web server, a crashed worker and a running-but-unhealthy api."""
    web = container_factory.run(
        WEB_CMD, hint="web", healthcheck=health(["CMD", "wget", "-q", "-O-", "http://127.0.0.1/"])
    )
    crashed = container_factory.run(["sh", "-c", "echo 'FATAL: no config'; exit 3"], hint="worker")
    sick = container_factory.run(WEB_CMD, hint="api", healthcheck=health(["CMD", "false"]))
    wait_for_state(web, lambda a: a["State"]["Health"]["Status"] == "healthy")
    wait_for_state(crashed, lambda a: a["State"]["Status"] == "exited")
    wait_for_state(sick, lambda a: a["State"]["Health"]["Status"] == "unhealthy")
    return {"web": web, "crashed": crashed, "sick": sick}


def test_ask_says_which_containers_need_attention_and_why(fleet: dict[str, Container]) -> None:
    text = answer_from_snapshot("Which containers need attention?", snapshot(fleet.values()))

    assert text.startswith("2 of 3 managed containers need attention:")
    assert f"{name(fleet['crashed'])} is EXITED with exit code 3" in text
    assert f"{name(fleet['sick'])} is running but UNHEALTHY" in text
    assert name(fleet["web"]) not in text


def test_ask_answers_no_to_are_all_containers_healthy_when_one_is_down(
    fleet: dict[str, Container],
) -> None:
    text = answer_from_snapshot("Are all containers healthy?", snapshot(fleet.values()))
    assert text.startswith("No: 2 of 3 managed containers need attention")


def test_ask_answers_yes_when_every_container_is_healthy(fleet: dict[str, Container]) -> None:
    text = answer_from_snapshot("Are all containers healthy?", snapshot([fleet["web"]]))
    assert text.startswith("Yes: all 1 managed containers are running")


def test_ask_reports_the_status_of_a_named_container(fleet: dict[str, Container]) -> None:
    web = name(fleet["web"])
    text = answer_from_snapshot(f"What is the status of {web}?", snapshot(fleet.values()))
    assert text.startswith(f"{web} is running and healthy (up ")
    assert "0 restarts" in text
    assert name(fleet["crashed"]) not in text


def test_ask_finds_a_name_at_the_end_of_a_sentence_and_ignores_dates() -> None:
    snap = [facts("prod-web-01", state="running"), facts("prod-db-01", state="exited")]
    text = answer_from_snapshot("Since 2026-01-12, how is prod-web-01.", snap)
    assert text.startswith("prod-web-01 is running (no health check)")
    assert "2026-01-12" not in text


def test_ask_says_so_when_the_named_container_is_not_managed() -> None:
    text = answer_from_snapshot("What is the status of prod-zzz-09?", [facts("prod-web-01")])
    assert text == "No managed container is named prod-zzz-09."


def test_ask_without_a_model_answers_from_the_snapshot_and_says_the_llm_is_off() -> None:
    result = answer("Are all containers healthy?", [facts(state="running")], backend=None)
    assert result.source is Source.RULES
    assert result.text.startswith("Yes")
    assert result.note == "LLM disabled"


def test_ask_falls_back_to_the_snapshot_when_the_model_fails(faults: FaultFactory) -> None:
    injector = faults(Fault.HANG)
    started = time.monotonic()
    # The client's own socket timeout is longer than the deadline, so the deadline is what fires
    # (with both at 1 s either could, and the note would say "no answer" instead).
    result = answer(
        "Which containers need attention?",
        [facts("prod-db-01", state="exited", exit_code=1)],
        backend=OllamaBackend(injector.url, "llama3.2", timeout=10.0),
        timeout=1.0,
    )
    assert time.monotonic() - started < 5.0
    assert result.source is Source.RULES
    assert "prod-db-01 is EXITED" in result.text
    assert "timed out" in result.note


@pytest.mark.llm
def test_ask_gets_an_answer_from_the_real_model(ollama_server: Service) -> None:
    fleet_snapshot = [
        facts("prod-web-01", state="running", health_status="healthy"),
        facts("prod-db-01", state="exited", exit_code=1),
    ]
    result = answer(
        "Which containers need attention?",
        fleet_snapshot,
        backend=OllamaBackend(ollama_server.url, "gemma3:270m", timeout=200),
        timeout=200,
    )
    assert result.source is Source.LLM
    assert result.text.strip()
