"""Driving headless Chromium like a person: open a page, click a button, read what shows.

`--dump-dom` can only load a page; submitting a form needs the DevTools protocol.
Chromium speaks it over a pipe (`--remote-debugging-pipe`: commands on fd 3,
answers and events on fd 4, each a JSON message ended by NUL), so this needs no
websocket library and no port. Same flags and throw-away profile as browser.py.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.web.browser import CHROMIUM, DESKTOP, FLAGS, BrowserError

DEFAULT_TIMEOUT = 30.0


class Tab:
    """One page target in a running Chromium, driven over the pipe."""

    def __init__(self, process: subprocess.Popen[bytes], commands: int, answers: int) -> None:
        self._process = process
        self._commands = commands
        self._answers = answers
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._session = ""

    # -- the protocol ---------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if page and self._session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            for found in self._read(deadline):
                if found.get("id") == self._next_id:
                    if "error" in found:
                        raise BrowserError(f"{method}: {found['error']}")
                    return found.get("result", {})
                self._events.append(found)

    def wait_for(self, event: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next `event` of this page (those that arrived already count)."""
        deadline = time.monotonic() + timeout
        while True:
            for n, seen in enumerate(self._events):
                if seen.get("method") == event and seen.get("sessionId") == self._session:
                    del self._events[: n + 1]
                    return dict(seen.get("params", {}))
            self._events.extend(self._read(deadline))

    def _read(self, deadline: float) -> list[dict[str, Any]]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self._answers], [], [], left)
            if ready:
                chunk = os.read(self._answers, 1 << 16)
                if not chunk:
                    raise BrowserError("chromium closed the pipe")
                self._buffer += chunk
        *messages, self._buffer = self._buffer.split(b"\0")
        return [json.loads(m) for m in messages if m]

    # -- what a person does ---------------------------------------------------------
    def attach(self, size: tuple[int, int]) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)
        attached = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
        )
        self._session = attached["sessionId"]
        self.call("Page.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
        )

    def open(self, url: str) -> str:
        """Go to `url` as a typed address (a GET) and return the DOM once it loaded."""
        self._events.clear()
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        return self.dom()

    def click(self, selector: str) -> str:
        """Click the element `selector` names, wait for the page it leads to, return its DOM."""
        self._events.clear()
        clicked = self.call(
            "Runtime.evaluate",
            {
                "expression": f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                " if (!e) return false; e.click(); return true; })()",
                "returnByValue": True,
            },
        )
        if clicked.get("result", {}).get("value") is not True:
            raise BrowserError(f"nothing to click at {selector!r}")
        self.wait_for("Page.loadEventFired")
        return self.dom()

    def dom(self) -> str:
        found = self.call(
            "Runtime.evaluate",
            {"expression": "document.documentElement.outerHTML", "returnByValue": True},
        )
        return str(found["result"]["value"])

    def url(self) -> str:
        found = self.call(
            "Runtime.evaluate", {"expression": "location.href", "returnByValue": True}
        )
        return str(found["result"]["value"])

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (not just the window), at its own width."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": size["height"],
                    "scale": 1,
                },
            },
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextlib.contextmanager
def chromium(size: tuple[int, int] = DESKTOP) -> Iterator[Tab]:
    """A headless Chromium with one tab, ended (and its profile removed) on exit."""
    commands_read, commands_write = os.pipe()
    answers_read, answers_write = os.pipe()

    def child_fds() -> None:
        # Chromium reads commands on fd 3 and writes answers on fd 4. Copied high first,
        # so the pipe ends cannot be closed by being moved onto one another.
        commands = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
        answers = fcntl.fcntl(answers_write, fcntl.F_DUPFD, 10)
        os.dup2(commands, 3)
        os.dup2(answers, 4)

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process = subprocess.Popen(
            [
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            # Python's own descriptors are not inheritable; only the two moved above are.
            close_fds=False,
            preexec_fn=child_fds,  # only moves the two descriptors above, before exec
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(answers_write)
        tab = Tab(process, commands_write, answers_read)
        try:
            tab.attach(size)
            yield tab
        finally:
            os.close(commands_write)  # Chromium exits when its command pipe closes
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(answers_read)
