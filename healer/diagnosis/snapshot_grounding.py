"""Whether a model's answer about the fleet is grounded in the snapshot it was given.

`ask` shows the deterministic facts first and adds the model's paragraph only
when it passes this check, so a small model's "10.2.3.4.5" is never presented
as an answer. The check is about what can be verified from the snapshot — the
containers an answer names and what it says about their state — not about
style:

- every container-like name it uses (a name with a hyphen and a digit, as
  prod-api-01) must be a container of the snapshot;
- what a sentence says about the containers it names must hold for each of
  them: running, up, healthy, unhealthy, exited, stopped, down, dead,
  crashed, restarting, OOM-killed, "exit code N";
- a count of containers it gives ("2 containers") must be a count the
  snapshot has (all, running, needing attention, or the rest);
- it must name at least one container, or make a fleet-wide claim ("all
  containers are healthy", "none needs attention") that holds.

`check_answer` returns None for a grounded answer, else the reason to show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from fleet.facts import ContainerFacts

# Container-like names: a hyphen and a digit, e.g. prod-web-01 (also how `ask` reads questions).
NAME_LIKE = re.compile(r"[a-z0-9][a-z0-9_.-]*-[a-z0-9_.-]*\d[a-z0-9_.-]*", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")
_EXIT_CODE = re.compile(r"\b(?:exit(?:ed)?(?: with)?(?: status| code)?|code)\s+(\d{1,3})\b", re.I)
_COUNT = re.compile(r"\b(\d{1,4})\s+(?:of\s+\d{1,4}\s+)?(?:managed\s+)?containers?\b", re.I)
_FLEET_WIDE = re.compile(
    r"\b(?:all|every|none|no containers?|nothing|no problems?|no issues?)\b", re.I
)
_TROUBLE = re.compile(
    r"\b(?:unhealthy|exited|stopped|down|dead|crash\w*|fail\w*|need\w* attention)\b", re.I
)
_NO_TROUBLE = re.compile(r"\b(?:none|no|nothing)\b[^.]{0,40}\b(?:need|fail|down|wrong)", re.I)
_ALL_WELL = re.compile(
    r"\b(?:healthy|running|fine|ok|okay|up|good)\b|no (?:problems?|issues?)", re.I
)
_NEGATED_RUN = re.compile(r"\b(?:not|isn't|is not|aren't|are not)\s+(?:running|up)\b", re.I)

Holds = Callable[[ContainerFacts], bool]


def _running(c: ContainerFacts) -> bool:
    return c.running


def _down(c: ContainerFacts) -> bool:
    return not c.running


# What a word claims about a container, and when the snapshot agrees.
_CLAIMS: tuple[tuple[re.Pattern[str], str, Holds], ...] = (
    (
        re.compile(r"\bunhealthy\b|\bfail(?:s|ing)\b.{0,20}\bhealth", re.I),
        "unhealthy",
        lambda c: c.health_status == "unhealthy",
    ),
    (
        re.compile(r"(?<!un)\bhealthy\b", re.I),
        "healthy",
        lambda c: c.running and c.health_status != "unhealthy",
    ),
    (re.compile(r"\brestarting\b", re.I), "restarting", lambda c: c.state == "restarting"),
    (
        re.compile(r"\boom(?:[- ]killed)?\b|out of memory", re.I),
        "OOM-killed",
        lambda c: c.oom_killed,
    ),
    (re.compile(r"\b(?:exited|stopped|down|dead|crash(?:ed|ing)?|died)\b", re.I), "down", _down),
    (re.compile(r"\b(?:running|up)\b", re.I), "running", _running),
)


def check_answer(text: str, snapshot: Sequence[ContainerFacts]) -> str | None:
    """None when `text` is grounded in `snapshot`, else why it is not (one short clause)."""
    by_name = {c.name.lower(): c for c in snapshot}
    invented = sorted(
        {w.rstrip(".") for w in NAME_LIKE.findall(text) if w.lower().rstrip(".") not in by_name}
    )
    if invented:
        return f"it names containers that do not exist: {', '.join(invented[:3])}"
    named_anywhere = False
    for sentence in _SENTENCE.split(text):
        for container, said in _claims_by_container(sentence, snapshot):
            named_anywhere = True
            wrong = _contradiction(said, container)
            if wrong:
                return wrong
    wrong_count = _count_mismatch(text, snapshot)
    if wrong_count:
        return wrong_count
    if not named_anywhere:
        return _fleet_claim(text, snapshot)
    return None


def _claims_by_container(
    sentence: str, snapshot: Sequence[ContainerFacts]
) -> list[tuple[ContainerFacts, str]]:
    """Each container named in `sentence`, with the words from its name to the next name:
    in "prod-web-01 is up, prod-db-01 is down" each state belongs to the name before it."""
    found: list[tuple[int, ContainerFacts]] = []
    for container in snapshot:
        pattern = rf"(?<![\w.-]){re.escape(container.name)}(?![\w-]|\.[\w-])"
        found.extend((m.start(), container) for m in re.finditer(pattern, sentence, re.I))
    found.sort(key=lambda item: item[0])
    return [
        (container, sentence[start : found[i + 1][0] if i + 1 < len(found) else len(sentence)])
        for i, (start, container) in enumerate(found)
    ]


def _contradiction(said: str, container: ContainerFacts) -> str | None:
    # "is not running" is a claim that it is down; drop the phrase so "running" is not read too.
    negated = _NEGATED_RUN.search(said) is not None
    clean = _NEGATED_RUN.sub(" down ", said)
    for pattern, claim, holds in _CLAIMS:
        if pattern.search(clean) and not holds(container):
            shown = "not running" if negated and claim == "down" else claim
            return f"it says {container.name} is {shown}; the snapshot says {_state(container)}"
    for code in _EXIT_CODE.findall(clean):
        if container.running or int(code) != container.exit_code:
            return (
                f"it gives {container.name} exit code {code}; the snapshot says {_state(container)}"
            )
    return None


def _count_mismatch(text: str, snapshot: Sequence[ContainerFacts]) -> str | None:
    total = len(snapshot)
    attention = sum(1 for c in snapshot if c.needs_attention)
    running = sum(1 for c in snapshot if c.running)
    possible = {total, attention, running, total - attention, total - running}
    for count in _COUNT.findall(text):
        if int(count) not in possible:
            return f"it counts {count} containers; the snapshot has {total} ({attention} failing)"
    return None


def _fleet_claim(text: str, snapshot: Sequence[ContainerFacts]) -> str | None:
    if _FLEET_WIDE.search(text) is None:
        return "it names no container of the snapshot"
    needing = [c for c in snapshot if c.needs_attention]
    negated = _NO_TROUBLE.search(text) is not None
    all_well = negated or _ALL_WELL.search(text) is not None
    trouble = not negated and _TROUBLE.search(text) is not None
    if needing and all_well and not trouble:
        return f"it says all is well; {len(needing)} of {len(snapshot)} need attention"
    if not needing and trouble:
        return "it reports trouble; every container is running and not failing a check"
    return None


def _state(c: ContainerFacts) -> str:
    if c.running:
        health = "" if c.health_status == "none" else f", {c.health_status}"
        return f"running{health}"
    oom = ", OOM-killed" if c.oom_killed else ""
    return f"{c.state} with exit code {c.exit_code}{oom}"
