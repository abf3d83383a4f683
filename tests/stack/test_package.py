"""The package as Python users get it: a wheel, installed into a fresh venv.

The wheel is built from a copy of exactly what the Dockerfiles copy (pyproject.toml and
the three packages) and installed with the pinned requirements as constraints, offline,
from the wheelhouse scripts/testbed.sh keeps in .testbed/wheelhouse. Then the installed
commands run from a folder outside the repository, so nothing can come from the checkout.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from testbed.healer_proc import TOKEN
from testbed.processes import REPO, free_port, running, start_service

WHEELHOUSE = REPO / ".testbed" / "wheelhouse"
PACKAGES = ("exporter", "healer", "fleet")
# In the package folders but not package content: the images' build recipes.
NOT_PACKAGE_DATA = {"Dockerfile"}


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    outside: Path  # a working directory with no project code in it

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no PYTHONPATH, no settings from the caller's shell."""
        return {
            "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(self.outside),
            # Empty is unset to Python, and wins over a PYTHONPATH start_service inherits.
            "PYTHONPATH": "",
            **{k: v for k, v in os.environ.items() if k.startswith("DOCKER_")},
            **extra,
        }

    def run(self, argv: Sequence[str | Path], **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in argv],
            cwd=self.outside,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def pip(*args: str | Path, cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"pip {' '.join(map(str, args))}:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if not any(WHEELHOUSE.glob("*.whl")):
        pytest.fail(f"no wheelhouse in {WHEELHOUSE}; `make test` (scripts/testbed.sh) makes it")
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    dist = work / "dist"
    # Build isolation from the wheelhouse: the backend pyproject.toml asks for, not the venv's.
    pip(
        "wheel", "--no-deps", "--no-index", "--find-links", WHEELHOUSE, "-w", dist, source, cwd=work
    )
    (wheel,) = dist.glob("*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    result = subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            str(WHEELHOUSE),
            "--constraint",
            str(REPO / "requirements.txt"),
            str(wheel),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"installing the wheel failed:\n{result.stderr[-3000:]}"
    outside = work / "elsewhere"
    outside.mkdir()
    return Installed(wheel, venv, outside)


def canonical(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def data_files(root: Path) -> set[str]:
    """Every file a package folder holds that is not Python code, relative to `root`."""
    found = set()
    for package in PACKAGES:
        for path in (root / package).rglob("*"):
            if (
                path.is_file()
                and path.suffix not in {".py", ".pyc"}
                and "__pycache__" not in path.parts
                and path.name not in NOT_PACKAGE_DATA
            ):
                found.add(path.relative_to(root).as_posix())
    return found


def test_the_wheel_holds_the_three_packages_with_every_data_file_and_nothing_else(
    installed: Installed,
) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    top_level = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == set(PACKAGES)
    assert data_files(REPO) <= set(names), data_files(REPO) - set(names)
    # Every module, sub-packages included, not only the top-level folders.
    modules = {
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / package).rglob("*.py")
    }
    assert modules <= set(names), modules - set(names)


def test_the_installed_package_depends_on_compatible_ranges_that_the_pins_satisfy(
    installed: Installed,
) -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [
        line.split("#")[0].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert all("~=" in spec for spec in declared), declared
    # One declared range per pinned runtime requirement, by name.
    assert sorted(spec.split("~=")[0].lower() for spec in declared) == sorted(
        pin.split("==")[0].lower() for pin in pins
    )
    check = installed.run([installed.bin("pip"), "check"])
    assert check.returncode == 0, check.stdout + check.stderr
    versions = json.loads(
        installed.run(
            [
                installed.bin("python"),
                "-c",
                "import importlib.metadata as m, json;"
                "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))",
            ]
        ).stdout
    )
    got = {canonical(name): version for name, version in versions.items()}
    for pin in pins:
        name, version = pin.split("==")
        assert got.get(canonical(name)) == version, pin


@pytest.mark.parametrize(
    ("command", "module"), [("itops-healer", "healer"), ("itops-exporter", "exporter")]
)
def test_the_console_command_answers_help_as_python_m_does(
    installed: Installed, command: str, module: str
) -> None:
    by_command = installed.run([installed.bin(command), "--help"])
    by_module = installed.run([installed.bin("python"), "-m", module, "--help"])
    assert by_command.returncode == 0, by_command.stderr
    assert by_command.stdout == by_module.stdout
    assert "usage:" in by_command.stdout
    where = installed.run(
        [installed.bin("python"), "-c", f"import {module}; print({module}.__file__)"]
    )
    assert str(installed.venv) in where.stdout, where.stdout


def test_the_installed_healer_renders_its_email_templates_into_an_eml(
    installed: Installed,
) -> None:
    data = installed.outside / "data"
    result = installed.run(
        [installed.bin("itops-healer"), "test-email"],
        HEALER_DATA_DIR=str(data),
        LLM_BACKEND="none",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (eml,) = (data / "outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert "test message" in str(message["Subject"]).lower()
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    assert "<html" in html.get_content().lower()
    assert text.get_content().strip()


def test_the_installed_healer_serves_its_status_page(installed: Installed) -> None:
    port = free_port()
    service = start_service(
        "installed-healer",
        [str(installed.bin("itops-healer")), "serve"],
        port=port,
        log_dir=installed.outside,
        ready_url=f"http://127.0.0.1:{port}/healthz",
        cwd=installed.outside,
        env=installed.env(
            HEALER_LISTEN=f"127.0.0.1:{port}",
            HEALER_DATA_DIR=str(installed.outside / "serve-data"),
            HEALER_WEBHOOK_TOKEN=TOKEN,
            # Nothing carries this label: the page renders its empty state.
            MANAGED_LABEL=f"itops.package.test={port}",
            LLM_BACKEND="none",
        ),
    )
    with running(service):
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        missing = requests.get(f"http://127.0.0.1:{port}/incidents/999999", timeout=10)
    assert page.status_code == 200, page.text[:500]
    assert "<html" in page.text.lower()
    assert missing.status_code == 404
    assert "<html" in missing.text.lower()
