"""What the healer has already done to one container, read from the store for the policy.

The pipeline (an incident's own container) and the cascade (a dependent restarted in
its provider's incident) spend the same budget, so they read it the same way.
"""

from __future__ import annotations

from healer.model import IncidentStatus
from healer.policy import History
from healer.store import Store


def history_for(
    store: Store,
    key: str,
    container: str,
    host: str,
    *,
    attempts: int,
    window_start: float,
    exclude_id: int = -1,
) -> History:
    """`key` is the budget and quarantine key (healer/hosts.py quarantine_key); a previous
    incident that ended `failed` within the crash-loop window is the same failure
    episode, so it gets no fresh budget."""
    previous = store.last_concluded(container, exclude_id, host=host)
    return History(
        restarts_in_window=len(store.restarts_since(key, window_start)),
        attempts_this_incident=attempts,
        quarantined=store.is_quarantined(key),
        failed_at=(
            previous[1]
            if previous
            and previous[0] == IncidentStatus.FAILED.value
            and previous[1] >= window_start
            else None
        ),
    )
