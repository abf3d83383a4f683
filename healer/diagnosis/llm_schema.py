"""The contract between the healer and a language model: what is asked, what may come back.

`DIAGNOSIS_SCHEMA` is sent as Ollama's `format=` (and as the OpenAI-compatible
`response_format` schema) so a constrained decoder can only produce this shape;
`LLMAnswer` validates what actually came back, because not every server
enforces every keyword. Every string carries `maxLength`: small models
otherwise run on until `max_tokens` and the JSON never closes.

The backends (`ollama_backend`, `openai_backend`) share the `ChatBackend`
protocol and the error types below, so the service translates one family of
exceptions into metric outcomes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from healer.errors import HealerError
from healer.model import Category

ROOT_CAUSE_MAX = 200
RECOMMENDATION_MAX = 200
EVIDENCE_LINE_MAX = 160
EVIDENCE_MAX_ITEMS = 3
ANSWER_MAX = 600

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACE = re.compile(r"\s+")


def clean_text(value: object, limit: int, *, ellipsis: bool = True) -> str:
    """One line of display text: control characters gone, whitespace folded, length capped.

    Model text ends up in emails, HTML and a JSON-lines log; a stray escape
    sequence or a 10 kB paragraph must not survive into any of them. Quotes are
    cut without an ellipsis so that a shortened quote is still a substring of
    the line it came from.
    """
    if not isinstance(value, str):
        raise ValueError("expected a string")
    text = _SPACE.sub(" ", _CONTROL.sub(" ", value)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…" if ellipsis else text[:limit]
    return text


def _capped(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda value: clean_text(value, limit))


def _capped_list(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("expected a list of strings")
    return [
        clean_text(item, EVIDENCE_LINE_MAX, ellipsis=False) for item in value[:EVIDENCE_MAX_ITEMS]
    ]


CategoryName = Literal["configuration", "resource", "dependency", "crash", "unknown"]


class LLMAnswer(BaseModel):
    """A model's diagnosis after validation: strict types, enum category, capped text.

    Over-long strings are shortened rather than rejected (a server that ignores
    `maxLength` should not cost us an otherwise usable answer); a wrong type, a
    missing field or an unknown category is rejected. `restart_safe` is a
    `StrictBool` because it is the one value the policy may read, and "yes",
    1 or "true" are not answers to trust.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    category: CategoryName
    root_cause: Annotated[str, _capped(ROOT_CAUSE_MAX), Field(min_length=1)]
    restart_safe: StrictBool
    recommendation: Annotated[str, _capped(RECOMMENDATION_MAX), Field(min_length=1)]
    evidence: Annotated[list[str], BeforeValidator(_capped_list)] = Field(default_factory=list)

    @property
    def category_enum(self) -> Category:
        return Category(self.category)


# Written out by hand rather than generated from `LLMAnswer`: this is what the model's decoder
# compiles into a grammar, so it stays flat (no $ref), title-free and small. A test keeps the two
# in step.
DIAGNOSIS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": [c.value for c in Category]},
        "root_cause": {"type": "string", "minLength": 1, "maxLength": ROOT_CAUSE_MAX},
        "restart_safe": {"type": "boolean"},
        "recommendation": {"type": "string", "minLength": 1, "maxLength": RECOMMENDATION_MAX},
        "evidence": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": EVIDENCE_LINE_MAX},
            "minItems": 1,
            "maxItems": EVIDENCE_MAX_ITEMS,
        },
    },
    "required": ["category", "root_cause", "restart_safe", "recommendation", "evidence"],
    "additionalProperties": False,
}


class LLMTextAnswer(BaseModel):
    """The `ask` feature's answer: one capped paragraph of display text."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    answer: Annotated[str, _capped(ANSWER_MAX), Field(min_length=1)]


ANSWER_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": ANSWER_MAX}},
    "required": ["answer"],
    "additionalProperties": False,
}


ChatMessage = Mapping[str, str]
"""One chat message: `{"role": "system" | "user", "content": "..."}`."""


@dataclass(frozen=True)
class Usage:
    """Tokens one answer cost, as the server counted them (0 when it did not say)."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


UsageSink = Callable[[Usage], None]
"""Where a backend reports each answer's token count (the LLM evaluation measures cost)."""


class ChatBackend(Protocol):
    """A model server that answers chat messages with JSON constrained by a schema.

    Implementations return the model's raw message text (expected to be JSON)
    and raise only `LLMError` subclasses; validation is the caller's job, so
    every backend gets exactly the same checks.
    """

    @property
    def describe(self) -> str:
        """Backend and model for notes and logs, e.g. `ollama:llama3.2` (never a secret)."""
        ...

    def chat_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any]) -> str: ...


class LLMError(HealerError):
    """A model call failed before producing an answer (maps to outcome `error`)."""

    outcome: str = "error"


class LLMTimeoutError(LLMError):
    """The model did not answer within the configured timeout (outcome `timeout`)."""

    outcome = "timeout"


class LLMUnavailableError(LLMError):
    """The model server could not be reached at all (outcome `error`)."""
