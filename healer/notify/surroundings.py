"""What an incident's email says beyond its own container: the dependents that failed
with it (healer/cascade.py) and the failure's history (healer/memory.py). Pure, like
the rest of the view; the templates only lay it out."""

from __future__ import annotations

from typing import Any

from healer.model import Incident

# How each dependent's outcome reads, for a person scanning the list.
OUTCOME_LABELS = {
    "pending": "not handled yet",
    "recovered": "recovered by itself, not touched",
    "healed": "restarted, verified",
    "not_healed": "NOT healed",
    "held": "not restarted",
    "skipped": "skipped",
}
OUTCOME_COLOURS = {"recovered": "#067647", "healed": "#067647", "not_healed": "#b42318"}
NEUTRAL = "#475467"


def dependents_view(incident: Incident) -> list[dict[str, Any]]:
    return [
        {
            "container": d.container,
            "outcome": d.outcome,
            "outcome_label": OUTCOME_LABELS.get(d.outcome, d.outcome),
            "outcome_colour": OUTCOME_COLOURS.get(d.outcome, NEUTRAL),
            "reason": d.reason,
            "alertname": d.alertname,
            "restarts": sum(1 for a in d.actions if a.result == "ok"),
        }
        for d in incident.dependents
    ]


def memory_view(incident: Incident) -> dict[str, Any] | None:
    memory = incident.memory
    if not memory or not int(memory.get("seen", 0)):
        return None  # a first occurrence says nothing worth a line in an email
    return {
        "summary": str(memory.get("summary", "")),
        "recurring": bool(memory.get("recurring")),
        "last_incident": memory.get("last_incident"),
    }


def dependents_phrase(incident: Incident) -> str:
    """The subject's note, e.g. "(+2 dependents)"."""
    n = len(incident.dependents)
    return f" (+{n} dependent{'s' if n != 1 else ''})" if n else ""
