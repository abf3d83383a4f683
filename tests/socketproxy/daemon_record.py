"""The daemon's own account of an attack: its events, recorded live, and its state after.

A smuggled request that reached the daemon leaves a trace there whatever the
proxy answered: an event (create, exec_create, kill, tag, pull) and usually an
object (a container, an image, an exec id). The recorder subscribes to the
events stream before the attack and keeps recording until it sees a canary
container that the test makes directly afterwards, so "no event" means the
listener was live and saw the canary, not that it missed everything.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import docker

from testbed.containers import RUN_LABEL, ContainerFactory, MadeContainer

# Time for a forwarded request to take effect before the canary is made: a
# smuggled create or exec takes the daemon a few milliseconds.
SETTLE_SECONDS = 0.3
# Actions on the victim that only a smuggled request could cause.
VICTIM_ACTIONS = ("kill", "die", "stop", "restart", "exec_create", "exec_start", "attach")


@dataclass
class EventLog:
    """Every daemon event from just before the attack until the canary's removal."""

    canary: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def saw_canary(self) -> bool:
        actions = {e.get("Action") for e in self.events if _name(e) == self.canary}
        return {"create", "destroy"} <= actions


@contextmanager
def recorded_events(api: docker.APIClient, factory: ContainerFactory) -> Iterator[EventLog]:
    """Record the daemon's events around the `with` block, proven live by a canary."""
    since = time.time()
    log = EventLog(canary=factory.name("canary"))
    # The call returns once the daemon has accepted the subscription; `since` also
    # replays anything between `since` and then. `until` bounds it if all else fails.
    # The SDK's stubs only say int for since/until; the API takes fractional seconds.
    stream = api.events(since=since, until=since + 120, decode=True)  # type: ignore[call-overload]

    def follow() -> None:
        for event in stream:
            log.events.append(event)
            if _name(event) == log.canary and event.get("Action") == "destroy":
                return

    listener = threading.Thread(target=follow, name="events-recorder", daemon=True)
    listener.start()
    try:
        yield log
    finally:
        time.sleep(SETTLE_SECONDS)
        canary = factory.run(["true"], name=log.canary, managed=False, start=False)
        canary.remove()
        listener.join(timeout=15)
        stream.close()
    assert log.saw_canary(), "the events listener was not live: it never saw the canary"


def traces(log: EventLog, *, victim: MadeContainer, token: str, run_id: str) -> list[str]:
    """Events that only a forwarded smuggled request could have caused."""
    found = []
    for event in log.events:
        text = json.dumps(event)
        attributes = event.get("Actor", {}).get("Attributes", {})
        action = str(event.get("Action", ""))
        if token in text:
            found.append(f"{event.get('Type')} {action}: mentions {token}")
        elif event.get("id") == victim.id and action.startswith(VICTIM_ACTIONS):
            found.append(f"victim {action}")
        elif (
            action == "create"
            and attributes.get(RUN_LABEL) == run_id
            and _name(event) != log.canary
        ):
            found.append(f"create of {_name(event)} with this run's label")
    return found


def leftovers(
    client: docker.DockerClient, *, victim: MadeContainer, token: str, started_at: str
) -> list[str]:
    """Objects or state changes a forwarded smuggled request would have left behind."""
    found = []
    named = client.containers.list(all=True, filters={"name": token})
    found += [f"container {c.name}" for c in named]
    found += [f"image {i.tags}" for i in client.images.list(name=token)]
    victim.reload()
    state = victim.attrs["State"]
    if not state["Running"] or state["StartedAt"] != started_at:
        found.append(f"victim state changed: {state['Status']} since {state['StartedAt']}")
    if victim.attrs.get("ExecIDs"):
        found.append(f"victim exec ids: {victim.attrs['ExecIDs']}")
    return found


def _name(event: dict[str, Any]) -> str:
    return str(event.get("Actor", {}).get("Attributes", {}).get("name", ""))
