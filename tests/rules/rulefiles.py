"""The shipped rule files and promtool test files, read as data for the structural tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testbed.processes import REPO

RULES_DIR = REPO / "prometheus" / "rules"
PROMTOOL_TESTS_DIR = REPO / "prometheus" / "tests"
RUNBOOK = REPO / "prometheus" / "runbook.md"

# The contract names (SPEC section 4) and the ones the healer may act on.
CONTRACT_ALERTS = frozenset(
    {
        "ContainerDown",
        "ContainerUnhealthy",
        "ContainerOOMKilled",
        "ContainerCrashLooping",
        "ContainerHighMemory",
        "ContainerHighCpu",
        "DockerDaemonUnreachable",
        "ExporterDown",
        "HealerDown",
        "HealerHealFailed",
    }
)
HEALABLE_ALERTS = frozenset({"ContainerDown", "ContainerUnhealthy", "ContainerOOMKilled"})
INFO_JOIN = "container:docker_container_info:alert_labels"


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    for_: str
    labels: dict[str, str]
    annotations: dict[str, str]
    file: Path

    @property
    def per_container(self) -> bool:
        return self.name.startswith("Container")


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def alert_rules() -> list[AlertRule]:
    found = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found.append(
                        AlertRule(
                            name=rule["alert"],
                            expr=rule["expr"],
                            for_=str(rule.get("for", "0s")),
                            labels=dict(rule.get("labels") or {}),
                            annotations=dict(rule.get("annotations") or {}),
                            file=path,
                        )
                    )
    return found


@dataclass(frozen=True)
class PromtoolCase:
    """One entry of a promtool test file's `tests:` list."""

    file: Path
    name: str
    body: dict[str, Any]

    @property
    def id(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")


def promtool_test_files() -> list[Path]:
    return sorted(PROMTOOL_TESTS_DIR.glob("*_test.yml"))


def promtool_cases() -> list[PromtoolCase]:
    cases = []
    for path in promtool_test_files():
        for body in yaml.safe_load(path.read_text())["tests"]:
            cases.append(PromtoolCase(path, body["name"], body))
    return cases


def single_case_file(case: PromtoolCase, dest: Path) -> Path:
    """A promtool test file holding only `case`, its rule files made absolute."""
    data = yaml.safe_load(case.file.read_text())
    data["rule_files"] = [str((case.file.parent / rel).resolve()) for rel in data["rule_files"]]
    data["tests"] = [case.body]
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def runbook_anchors() -> set[str]:
    """GitHub-style anchors of the runbook's headings (lower case, spaces to dashes)."""
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors
