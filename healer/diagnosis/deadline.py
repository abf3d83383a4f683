"""A hard deadline around a model call, whatever the HTTP client's timeouts do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from healer.diagnosis.llm_schema import LLMTimeoutError

T = TypeVar("T")


def call_with_deadline(fn: Callable[[], T], seconds: float, what: str = "LLM") -> T:
    """`fn()` or `LLMTimeoutError` after `seconds`, whatever the socket timeouts do.

    An HTTP client's timeout bounds each read, not the whole answer: a server
    that trickles a byte a second never trips it. The call runs in a daemon
    thread that is abandoned at the deadline (it ends when its own socket
    timeout fires); the hourly cap bounds how many can be abandoned.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="llm-call", daemon=True).start()
    if not done.wait(seconds):
        raise LLMTimeoutError(f"{what} timed out after {seconds:g}s")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
