"""A store that cannot write answers the webhook 503, so Alertmanager delivers again.

The disk really fills up: the healer's data directory is a small tmpfs, and a
filler file takes the rest of it. Needs root (to mount); CI runs as root.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.alerts import firing, payload
from tests.healer.conftest import HealerFactory
from tests.healer.wsgi import post_webhook


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted after the healers on it are closed (fixtures tear
    down in reverse order, and tests ask for this one before `make_healer`)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left; returns it for removal."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        while chunk:
            try:
                out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]  # down to the last free byte
    return filler


def test_a_full_disk_answers_503_and_the_same_delivery_succeeds_once_there_is_room(
    small_disk: Path, make_healer: HealerFactory
) -> None:
    healer = make_healer(start_workers=False, HEALER_DATA_DIR=str(small_disk / "data"))
    assert post_webhook(healer.app, json.dumps(payload(firing("warm-up"))).encode()).status == 200
    delivery = json.dumps(payload(firing("prod-web-01"))).encode()

    filler = fill(small_disk)
    full = post_webhook(healer.app, delivery)
    assert full.status == 503
    assert full.error().startswith("store cannot write: ")
    assert "full" in full.error()

    filler.unlink()
    retried = post_webhook(healer.app, delivery)  # what Alertmanager does after a 5xx
    assert retried.status == 200
    assert retried.json()["accepted"] == 1  # the failed attempt left nothing behind
    assert healer.runtime.store.count_incidents() == 2
    counted = healer.runtime.metrics.registry.get_sample_value(
        "healer_webhook_alerts_total", {"result": "unavailable"}
    )
    assert counted == 1
