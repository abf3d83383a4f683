"""The embedded default when no SMTP credentials are set: each message becomes an
.eml file in HEALER_DATA_DIR/outbox/ that any mail client opens.

Writes are atomic (temp file, then rename) and named after the outbox item, so
a crash mid-write leaves no half message and a retry replaces, not duplicates.
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from pathlib import Path

from healer.notify.delivery import Outcome, TransientDeliveryError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class EmlFolder:
    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        return f".eml files in {self.path}"

    def write(self, msg: EmailMessage, stem: str) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        name = _UNSAFE.sub("-", stem).strip("-.")[:150] or "message"
        target = self.path / f"{name}.eml"
        partial = self.path / f".{name}.eml.partial"
        partial.write_bytes(msg.as_bytes())
        os.replace(partial, target)
        return target

    def send(self, msg: EmailMessage, *, stem: str) -> tuple[Outcome, str]:
        try:
            return "written", str(self.write(msg, stem))
        except OSError as exc:  # a full or read-only disk may come back: retry
            raise TransientDeliveryError(f"cannot write to {self.path}: {exc}") from None
