"""`make demo` asks a model when one answers, and says how to enable one when none does."""

from __future__ import annotations

import pytest

from demo.model import HOW_TO_ENABLE, choose_model
from testbed.processes import Service, free_port


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_the_demo_runs_on_the_rules_and_names_what_it_tried_when_no_model_answers() -> None:
    host = nowhere()

    choice = choose_model({"OLLAMA_HOST": host})

    assert not choice.found
    assert choice.settings == {"LLM_BACKEND": "none"}
    assert choice.why_none == f"no model answered (Ollama at {host})"
    assert "ollama pull" in HOW_TO_ENABLE and "OPENAI_BASE_URL=" in HOW_TO_ENABLE


def test_llm_backend_none_keeps_the_model_off_even_when_one_would_answer() -> None:
    choice = choose_model({"LLM_BACKEND": "none", "OLLAMA_HOST": nowhere()})

    assert (choice.found, choice.why_none) == (False, "LLM_BACKEND=none")


@pytest.mark.llm
def test_the_demo_uses_an_ollama_server_that_lists_a_model(ollama_server: Service) -> None:
    choice = choose_model({"OLLAMA_HOST": ollama_server.url, "OLLAMA_MODEL": "llama3.2"})

    assert choice.found
    # The model asked for is not there, so the one the server lists is used.
    assert choice.settings["OLLAMA_MODEL"] == "gemma3:270m"
    assert choice.settings["LLM_BACKEND"] == "ollama"
    assert choice.describe == f"Ollama gemma3:270m at {ollama_server.url}"


@pytest.mark.llm
def test_the_demo_prefers_an_openai_compatible_server_when_its_url_is_set(
    openai_server: Service,
) -> None:
    base = f"{openai_server.url}/v1"

    choice = choose_model({"OPENAI_BASE_URL": base, "OLLAMA_HOST": nowhere()})

    assert choice.settings["LLM_BACKEND"] == "openai"
    assert choice.settings["OPENAI_BASE_URL"] == base
    assert choice.settings["OPENAI_MODEL"]
