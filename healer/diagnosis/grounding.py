"""A model's raw answer in, a validated answer and the quotes that really are in the logs out.

A model can return anything: prose, half a JSON object, a category that does
not exist, or evidence it made up. `parse_answer` accepts only the schema's
shape; `ground` keeps only the quotes that appear in the evidence, so what an
email or the status page quotes as "from the logs" was in the logs.
"""

from __future__ import annotations

import json

import pydantic

from healer.diagnosis.llm_schema import LLMAnswer, clean_text
from healer.model import Evidence

# A quote shorter than this ("error", "1") appears in almost any log and grounds nothing.
MIN_QUOTE_CHARS = 8


def parse_answer(raw: str) -> LLMAnswer:
    """The model's text as a validated answer; `ValueError` says what was wrong in a few words."""
    text = raw.strip()
    if text.startswith("```"):
        # Servers without schema support sometimes fence the JSON; the fence carries nothing.
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        return LLMAnswer.model_validate(data)
    except pydantic.ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "answer" for err in exc.errors()})
        raise ValueError(f"does not match the schema: {', '.join(fields)[:120]}") from None


def _fold(text: str) -> str:
    return clean_text(text, 1_000_000).replace("‹‹‹", "<<<").replace("›››", ">>>")


def ground(quotes: list[str], evidence: Evidence) -> tuple[list[str], int, bool]:
    """`(kept, dropped, checkable)`: the quotes that appear verbatim in the evidence lines.

    Whitespace is folded on both sides (the prompt shows lines folded); a quote
    must be a substring of one line. `checkable` is False when the evidence has
    no lines at all, so there is nothing a quote could be checked against.
    """
    sources = [*evidence.log_lines, *evidence.health_output]
    if evidence.facts is not None and evidence.facts.error:
        sources.append(evidence.facts.error)
    folded = [_fold(line) for line in sources if line.strip()]
    if not folded:
        return [], len(quotes), False
    unique = list(dict.fromkeys(_fold(quote) for quote in quotes))
    kept = [q for q in unique if len(q) >= MIN_QUOTE_CHARS and any(q in line for line in folded)]
    return kept, len(unique) - len(kept), True
