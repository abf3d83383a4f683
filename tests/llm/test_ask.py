"""`ask` answers the common questions from a live snapshot, with or without a model, and never
trades the facts for a model's answer that the snapshot does not bear out."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest
from docker.models.containers import Container

from fleet.facts import ContainerFacts
from healer.ask import answer, answer_from_snapshot
from healer.diagnosis.ollama_backend import OllamaBackend
from healer.diagnosis.openai_backend import OpenAIBackend
from healer.diagnosis.snapshot_grounding import check_answer
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


# -- the model's answer, checked against the snapshot -------------------------------------

CRASHED_API = [facts("prod-api-01", state="exited", exit_code=1)]
FLEET = [
    facts("prod-web-01", state="running", health_status="healthy"),
    facts("prod-api-01", state="exited", exit_code=1),
]


def test_ask_shows_the_facts_and_discards_a_model_answer_that_names_nothing_it_was_shown(
    faults: FaultFactory,
) -> None:
    # What the small local model answered in the review: an IP-like string, nothing else.
    injector = faults(Fault.NONE, answer="10.2.3.4.5")

    result = answer(
        "Which containers need attention and why?",
        CRASHED_API,
        backend=OpenAIBackend(f"{injector.url}/v1", "gemma3:270m", timeout=5),
        timeout=5,
    )

    assert result.text.startswith("1 of 1 managed containers need attention:")
    assert "prod-api-01 is EXITED with exit code 1" in result.text
    assert "10.2.3.4.5" not in result.text
    assert result.source is Source.RULES
    assert "answer discarded: it names no container of the snapshot" in result.note
    assert '"10.2.3.4.5"' in result.note


def test_ask_adds_a_grounded_model_answer_below_the_facts(faults: FaultFactory) -> None:
    said = "prod-api-01 exited with code 1, so it is down; prod-web-01 is running and healthy."
    injector = faults(Fault.NONE, answer=said)

    result = answer(
        "Which containers need attention?",
        FLEET,
        backend=OllamaBackend(injector.url, "llama3.2", timeout=5),
        timeout=5,
    )

    facts_part, model_part = result.text.split("\n\n", 1)
    assert facts_part.startswith("1 of 2 managed containers need attention:")
    assert model_part == f"ollama:llama3.2, checked against the snapshot:\n{said}"
    assert result.source is Source.LLM
    assert result.model_answer == said


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        ("prod-db-07 is down and needs a restart.", "names containers that do not exist"),
        ("prod-api-01 is running fine.", "says prod-api-01 is running"),
        ("prod-web-01 is not running.", "says prod-web-01 is not running"),
        ("prod-web-01 is unhealthy.", "says prod-web-01 is unhealthy"),
        ("prod-api-01 crashed with exit code 137.", "gives prod-api-01 exit code 137"),
        ("3 containers need attention.", "counts 3 containers"),
        ("All containers are healthy.", "says all is well; 1 of 2 need attention"),
        ("Nothing is wrong.", "says all is well"),
    ],
)
def test_a_model_answer_the_snapshot_contradicts_is_discarded_with_the_reason(
    said: str, reason: str
) -> None:
    assert reason in (check_answer(said, FLEET) or "")


@pytest.mark.parametrize(
    "said",
    [
        "prod-api-01 exited with exit code 1; prod-web-01 is running and healthy.",
        "prod-web-01 is up, prod-api-01 is down.",
        "1 of 2 containers needs attention: prod-api-01 is not running.",
        "prod-api-01 needs attention because it exited with code 1.",
    ],
)
def test_a_model_answer_the_snapshot_bears_out_is_kept(said: str) -> None:
    assert check_answer(said, FLEET) is None


def test_a_fleet_wide_answer_is_kept_only_when_it_holds() -> None:
    healthy = [FLEET[0]]

    assert check_answer("All containers are running and healthy.", healthy) is None
    assert check_answer("No container needs attention.", healthy) is None
    assert check_answer("Every container is down.", healthy) is not None
    assert check_answer("No container needs attention.", FLEET) is not None


@pytest.mark.llm
def test_ask_with_the_real_model_shows_the_facts_and_its_answer_only_if_grounded(
    openai_server: Service,
) -> None:
    result = answer(
        "Which containers need attention and why?",
        FLEET,
        backend=OpenAIBackend(f"{openai_server.url}/v1", "gemma3:270m", timeout=200),
        timeout=200,
    )

    assert result.text.startswith("1 of 2 managed containers need attention:")
    assert "prod-api-01 is EXITED with exit code 1" in result.text
    if result.source is Source.LLM:
        assert result.model_answer is not None
        assert check_answer(result.model_answer, FLEET) is None
    else:
        assert "answer discarded:" in result.note or "not valid" in result.note
