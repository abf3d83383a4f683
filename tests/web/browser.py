"""Headless Chromium (Debian's `chromium`) for page tests: the DOM after load, and screenshots.

Every call starts a fresh browser with its own throw-away profile. The
background-networking flags keep it from calling home: the test bed has no
internet, and without them Chromium floods the closed network with attempts.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)
DESKTOP = (1280, 900)
PHONE = (390, 844)


class BrowserError(RuntimeError):
    """Chromium did not produce what was asked."""


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        raise BrowserError(f"chromium exited {result.returncode}: {result.stderr[-2000:]}")
    return result


def dump_dom(url: str, *, timeout: float = 60) -> str:
    """The page's DOM, serialised after it loaded (what a person's browser would show)."""
    dom = _run(["--dump-dom", url], timeout).stdout
    if "<html" not in dom:
        raise BrowserError(f"no DOM for {url}: {dom[:500]!r}")
    return dom


def screenshot(
    url: str, path: Path, *, size: tuple[int, int] = DESKTOP, timeout: float = 60
) -> Path:
    """A PNG of the page at `size` (width, height) CSS pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    _run([f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url], timeout)
    if not path.exists() or path.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot of {url} to {path}")
    return path


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise BrowserError(f"{path} is not a PNG")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
