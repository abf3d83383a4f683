"""The signature table: `signatures.yaml` beside this module, read into validated values.

A signature is one known way a container fails (see the comment at the top
of the YAML for every field). This module only reads and checks the table —
unknown fields, bad regexes, template fields a match cannot fill, keywords
that fold to nothing are refused with the entry's name — so a mistake in the
table fails at start-up (and in the tests), never in the middle of an
incident. `classifier.py` does the matching.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from typing import Any

import yaml

from fleet.facts import ContainerFacts
from healer.diagnosis.exits import EXITS_BY_CATEGORY, EXPLAINABLE, Exit
from healer.model import Category

SOURCES = ("logs", "health", "docker")
STANDARD_FIELDS = frozenset(
    {"container", "exit_code", "signal", "state", "restart_count", "health_status", "line"}
)
_SIGNATURE_KEYS = frozenset(
    {
        "id",
        "category",
        "restart_safe",
        "priority",
        "root_cause",
        "recommendation",
        "patterns",
        "keywords",
        "substrings",
        "sources",
        "when",
        "exits",
        "defaults",
        "examples",
    }
)
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Folding for the keyword search: digits deleted (so lines that differ only in
# numbers fold to the same shape), ASCII letters to lowercase, `_`, newlines and
# non-ASCII bytes kept, everything else (punctuation, blanks) to a space.
_KEEP = frozenset(b"abcdefghijklmnopqrstuvwxyz_\n")
FOLD_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if c in _KEEP or c >= 128 else 32 for c in range(256)
)
FOLD_DELETE = b"0123456789"


class SignatureError(ValueError):
    """The signature table is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class Conditions:
    """Facts a signature requires; None means "any". All given ones must hold."""

    exists: bool | None = None
    oom_killed: bool | None = None
    exit_codes: frozenset[int] | None = None
    exit_nonzero: bool | None = None
    states: frozenset[str] | None = None
    health: frozenset[str] | None = None
    min_restart_count: int | None = None

    @property
    def empty(self) -> bool:
        return self == Conditions()

    def hold(self, facts: ContainerFacts | None) -> bool:
        if facts is None:
            # Without facts only "the container is gone" (or no condition at all) can hold.
            return self.exists is not True and replace(self, exists=None).empty
        return (
            self.exists is not False
            and (self.oom_killed is None or facts.oom_killed == self.oom_killed)
            and (self.exit_codes is None or facts.exit_code in self.exit_codes)
            and (self.exit_nonzero is None or (facts.exit_code != 0) == self.exit_nonzero)
            and (self.states is None or facts.state in self.states)
            and (self.health is None or facts.health_status in self.health)
            and (self.min_restart_count is None or facts.restart_count >= self.min_restart_count)
        )


@dataclass(frozen=True)
class Signature:
    """One known way a container fails (an entry of signatures.yaml)."""

    id: str
    category: Category
    restart_safe: bool
    priority: int
    root_cause: str
    recommendation: str
    patterns: tuple[re.Pattern[str], ...] = ()
    keywords: tuple[str, ...] = ()
    substrings: tuple[str, ...] = ()
    sources: frozenset[str] = frozenset(SOURCES)
    when: Conditions = field(default_factory=Conditions)
    exits: frozenset[Exit] = frozenset()
    defaults: Mapping[str, str] = field(default_factory=dict)
    examples: tuple[str, ...] = ()

    @property
    def catch_all(self) -> bool:
        return not self.patterns and self.when.empty


def fold(text: str) -> bytes:
    """A keyword or a text as the keyword search sees it (see signatures.yaml)."""
    return text.encode("utf-8", "replace").translate(FOLD_TABLE, FOLD_DELETE).strip()


def parse_signatures(text: str) -> tuple[Signature, ...]:
    """Signatures from YAML text (`signatures:` list), validated; SignatureError names the entry."""
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader, C if available
    except yaml.YAMLError as exc:
        raise SignatureError(f"signatures are not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("signatures"), list):
        raise SignatureError("expected a mapping with a `signatures` list")
    return tuple(_signature(entry, n) for n, entry in enumerate(data["signatures"], 1))


def load_signatures() -> tuple[Signature, ...]:
    """The signature table shipped next to this module (package data)."""
    text = resources.files(__package__).joinpath("signatures.yaml").read_text(encoding="utf-8")
    return parse_signatures(text)


def _signature(raw: Any, n: int) -> Signature:
    where = f"signature #{n}"
    if not isinstance(raw, Mapping):
        raise SignatureError(f"{where}: expected a mapping")
    if isinstance(raw.get("id"), str):
        where = f"signature {raw['id']!r}"
    unknown = set(raw) - _SIGNATURE_KEYS
    if unknown:
        raise SignatureError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    sig_id = raw.get("id")
    if not isinstance(sig_id, str) or not _ID.match(sig_id):
        raise SignatureError(f"{where}: `id` must be lowercase words joined by dashes")
    try:
        category = Category(str(raw.get("category")))
    except ValueError:
        choices = [c.value for c in Category]
        raise SignatureError(f"{where}: `category` must be one of {choices}") from None
    restart_safe = raw.get("restart_safe")
    if not isinstance(restart_safe, bool):
        raise SignatureError(f"{where}: `restart_safe` must be true or false")
    priority = raw.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 1000:
        raise SignatureError(f"{where}: `priority` must be an integer from 0 to 1000")
    texts = {key: raw.get(key) for key in ("root_cause", "recommendation")}
    for key, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise SignatureError(f"{where}: `{key}` must be a non-empty string")
    patterns = tuple(_compile(p, where) for p in _strings(raw, "patterns", where))
    keywords = _strings(raw, "keywords", where)
    substrings = _strings(raw, "substrings", where)
    for word in (*keywords, *substrings):
        if word != word.lower() or not fold(word):
            raise SignatureError(f"{where}: keyword {word!r} must be lowercase and hold a letter")
    sources = frozenset(_strings(raw, "sources", where)) or frozenset(SOURCES)
    if not sources <= set(SOURCES):
        raise SignatureError(f"{where}: `sources` must be among {list(SOURCES)}")
    if patterns and "logs" in sources and not (keywords or substrings):
        raise SignatureError(f"{where}: patterns over logs need keywords (or every line is tried)")
    if (keywords or substrings) and not patterns:
        raise SignatureError(f"{where}: keywords without patterns")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in defaults.items()
    ):
        raise SignatureError(f"{where}: `defaults` must map names to strings")
    when = _conditions(raw.get("when"), where)
    exits = EXITS_BY_CATEGORY[category]
    if "exits" in raw:
        names = _strings(raw, "exits", where)
        allowed = sorted(e.value for e in EXPLAINABLE)
        if not set(names) <= set(allowed):
            raise SignatureError(f"{where}: `exits` must be among {allowed}")
        exits = frozenset(Exit(n) for n in names)
    _check_fields(texts, patterns, defaults, where)
    return Signature(
        id=sig_id,
        category=category,
        restart_safe=restart_safe,
        priority=priority,
        root_cause=" ".join(str(texts["root_cause"]).split()),
        recommendation=" ".join(str(texts["recommendation"]).split()),
        patterns=patterns,
        keywords=keywords,
        substrings=substrings,
        sources=sources,
        when=when,
        exits=exits,
        defaults=dict(defaults),
        examples=_strings(raw, "examples", where),
    )


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SignatureError(f"{where}: `{key}` must be a list of strings")
    return tuple(value)


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise SignatureError(f"{where}: bad pattern {pattern!r}: {exc}") from exc


def _conditions(raw: Any, where: str) -> Conditions:
    if raw is None:
        return Conditions()
    if not isinstance(raw, Mapping):
        raise SignatureError(f"{where}: `when` must be a mapping")
    known = {f.name for f in fields(Conditions)}
    unknown = set(raw) - known
    if unknown:
        raise SignatureError(
            f"{where}: unknown condition(s) {', '.join(sorted(map(str, unknown)))}"
        )
    values: dict[str, Any] = {}
    for key in ("exists", "oom_killed", "exit_nonzero"):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise SignatureError(f"{where}: condition `{key}` must be true or false")
            values[key] = raw[key]
    if "min_restart_count" in raw:
        if not isinstance(raw["min_restart_count"], int) or isinstance(
            raw["min_restart_count"], bool
        ):
            raise SignatureError(f"{where}: condition `min_restart_count` must be an integer")
        values["min_restart_count"] = raw["min_restart_count"]
    if "exit_codes" in raw:
        codes = raw["exit_codes"]
        if not isinstance(codes, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in codes
        ):
            raise SignatureError(f"{where}: condition `exit_codes` must be a list of integers")
        values["exit_codes"] = frozenset(codes)
    for key in ("states", "health"):
        if key in raw:
            names = raw[key]
            if not isinstance(names, list) or not all(isinstance(s, str) for s in names):
                raise SignatureError(f"{where}: condition `{key}` must be a list of names")
            values[key] = frozenset(names)
    return Conditions(**values)


def _check_fields(
    texts: Mapping[str, Any],
    patterns: Sequence[re.Pattern[str]],
    defaults: Mapping[str, str],
    where: str,
) -> None:
    group_sets = [set(p.groupindex) for p in patterns]
    reserved = set().union(*group_sets) & STANDARD_FIELDS if group_sets else set()
    if reserved:
        raise SignatureError(f"{where}: group name(s) {sorted(reserved)} are reserved fields")
    always = set.intersection(*group_sets) if group_sets else set()
    allowed = (STANDARD_FIELDS - ({"line"} if not patterns else set())) | always | set(defaults)
    for key, template in texts.items():
        try:
            parsed = list(string.Formatter().parse(str(template)))
        except ValueError as exc:
            raise SignatureError(f"{where}: `{key}` is not a valid template: {exc}") from exc
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if spec or conversion or not name.isidentifier():
                raise SignatureError(f"{where}: `{key}` field {{{name}}} must be a plain name")
            if name not in allowed:
                raise SignatureError(
                    f"{where}: `{key}` uses {{{name}}}, which not every match provides "
                    "(add it to `defaults` or to every pattern)"
                )
