"""What is secret here, defined once, and the two ways text is cleaned of it.

A `Redactor` holds this installation's own secret values (`HealerConfig.redactor`
builds it from `HealerConfig.secrets()`) and applies them together with the
pattern rules of `healer.redact`:

- `clean`, `clean_lines`, `clean_data`: at every door outside text comes in by
  (Docker's logs, health output and error messages, alert annotations, the
  model's answer, delivery errors): the installation's values, then the
  patterns (`DB_PASSWORD=...`, `--db-password=...`, bearer tokens, URL
  passwords, ...). What the store keeps has been through one of these.
- `scrub`, `scrub_data`: the backstop at each way out (API, pages, email,
  Slack, `alerts.log`, the prompt): only the installation's values, as typed
  and as HTML, JSON or a URL would encode them; a few substring tests per text.

Values are scrubbed before the patterns run, so a pattern that redacts half of
a known value cannot leave the other half behind.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from markupsafe import escape

from healer.redact import REDACTED, redact, redact_lines

# Shorter values would turn ordinary words into [REDACTED]; real secrets (tokens
# of 16+ characters, Gmail's 16-letter app passwords, URLs) are never this short.
MIN_SECRET_CHARS = 6


def encoded_forms(value: str) -> set[str]:
    """`value` as typed and as each sink may have encoded it on the way out."""
    return {
        value,
        html.escape(value),  # &quot; &#x27;
        str(escape(value)),  # Jinja's autoescape: &#34; &#39;
        json.dumps(value)[1:-1],  # \" \\ \uXXXX
        json.dumps(value, ensure_ascii=False)[1:-1],
        value.replace("/", "\\/"),  # JSON from encoders that escape slashes (PHP)
        quote(value, safe=""),
        quote_plus(value, safe=""),
    }


@dataclass(frozen=True)
class Redactor:
    """This installation's secrets and the pattern rules, applied the same way everywhere."""

    forms: tuple[str, ...] = ()  # every spelling of every value, longest first

    @classmethod
    def of(cls, values: Iterable[str]) -> Redactor:
        forms: set[str] = set()
        for value in values:
            if value and len(value) >= MIN_SECRET_CHARS:
                forms |= {f for f in encoded_forms(value) if len(f) >= MIN_SECRET_CHARS}
        return cls(tuple(sorted(forms, key=lambda f: (-len(f), f))))

    # -- the backstop: this installation's values only ---------------------------

    def scrub(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def scrub_data(self, data: Any) -> Any:
        """A copy of JSON-like `data` with every string scrubbed (keys included)."""
        return _walk(data, self.scrub)

    # -- at the door: values and patterns ----------------------------------------

    def clean(self, text: str) -> str:
        return redact(self.scrub(text))

    def clean_lines(self, lines: Iterable[str]) -> tuple[str, ...]:
        """Line for line; a PEM private key spread over lines is redacted too."""
        return redact_lines([self.scrub(line) for line in lines])

    def clean_data(self, data: Any) -> Any:
        return _walk(data, self.clean)


def _walk(data: Any, fix: Callable[[str], str]) -> Any:
    if isinstance(data, str):
        return fix(data)
    if isinstance(data, dict):
        return {fix(str(k)): _walk(v, fix) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_walk(v, fix) for v in data]
    return data


NO_SECRETS = Redactor()  # the pattern rules alone, for callers without a config
