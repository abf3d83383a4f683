"""The labelled diagnosis corpus: real-looking failure logs and the answer a human would give.

Each YAML file under `corpus_data/` holds the cases of one ecosystem (one
program, runtime or layer: `ECOSYSTEMS`). A case gives the
container facts (state, exit code, OOMKilled, restart count, health status,
Docker's State.Error), the log lines as the program prints them, the
health-check output, and the expected `category` and `restart_safe` (and,
optionally, the signature that should decide), and `source`: where the
message format comes from (the program's source, an issue quoting its output,
or a run on the test bed), so a reader can check that the lines are the
program's own. `noise: {kind, lines}`
prepends that many lines of ordinary traffic of that kind (nginx access logs,
PostgreSQL checkpoints, ...), generated deterministically from the case name,
so every case carries the 100-200 lines an incident usually does without the
files repeating them. Logs go through `healer.redact` as the healer's
evidence step does, so the classifier sees what it sees in production.

`load_corpus()` is shared by the classifier tests, the LLM tests and
`bench/diagnosis.py`; `make_evidence()` builds one-off evidence for focused
tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from fleet.facts import ContainerFacts
from healer.model import Category, Evidence
from healer.redact import redact_lines
from testbed.corpus_noise import DEFAULT_NOISE_END, generate_noise

CORPUS_DIR = Path(__file__).with_name("corpus_data")
ECOSYSTEMS: Mapping[str, str] = {
    "python.yaml": "Python",
    "node.yaml": "Node.js",
    "java.yaml": "Java/Spring",
    "go.yaml": "Go",
    "rust.yaml": "Rust",
    "ruby.yaml": "Ruby",
    "php.yaml": "PHP",
    "dotnet.yaml": ".NET",
    "nginx.yaml": "nginx",
    "apache.yaml": "Apache httpd",
    "haproxy.yaml": "HAProxy",
    "postgres.yaml": "PostgreSQL",
    "mysql.yaml": "MySQL/MariaDB",
    "mongodb.yaml": "MongoDB",
    "redis.yaml": "Redis",
    "rabbitmq.yaml": "RabbitMQ",
    "kafka.yaml": "Kafka",
    "elasticsearch.yaml": "Elasticsearch",
    "shell.yaml": "shell entrypoints",
    "supervisors.yaml": "process supervisors",
    "docker.yaml": "Docker Engine",
    "health.yaml": "health checks",
}


@dataclass(frozen=True)
class Case:
    """One labelled incident: the evidence the healer would collect and the expected diagnosis."""

    name: str
    file: str
    about: str
    evidence: Evidence
    category: Category
    restart_safe: bool
    signature: str | None = None
    source: str = ""

    @property
    def ecosystem(self) -> str:
        return ECOSYSTEMS.get(self.file, self.file.removesuffix(".yaml"))


def load_corpus(directory: Path = CORPUS_DIR) -> list[Case]:
    """Every case of every `*.yaml` file in `directory`, in file then list order."""
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(entries, list):
            raise ValueError(f"{path.name}: expected a list of cases")
        cases.extend(_case(entry, path.name) for entry in entries)
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate case names: {duplicates}")
    return cases


def container_facts(name: str = "prod-app-01", **overrides: Any) -> ContainerFacts:
    """Facts of an exited, managed container; keyword arguments override any field."""
    values: dict[str, Any] = {
        "id": hashlib.sha256(name.encode()).hexdigest(),
        "name": name,
        "image": "shop/app:2.14.0",
        "labels": {"environment": "production"},
        "state": "exited",
        "exit_code": 1,
        "oom_killed": False,
        "error": "",
        "started_at": None,
        "finished_at": None,
        "restart_count": 0,
        "health_status": "none",
        "failing_streak": 0,
    }
    values.update(overrides)
    return ContainerFacts(**values)


def make_evidence(
    logs: str | Sequence[str] = "",
    *,
    health: Sequence[str] = (),
    missing: bool = False,
    name: str = "prod-app-01",
    **facts: Any,
) -> Evidence:
    """Evidence for one container: `logs` as a block or lines, facts from `container_facts`."""
    lines = _lines(logs) if isinstance(logs, str) else list(logs)
    return Evidence(
        container=name,
        facts=None if missing else container_facts(name, **facts),
        log_lines=tuple(lines),
        health_output=tuple(health),
    )


def case_named(name: str, directory: Path = CORPUS_DIR) -> Case:
    for case in load_corpus(directory):
        if case.name == name:
            return case
    raise KeyError(name)


def _case(raw: Mapping[str, Any], file: str) -> Case:
    name = str(raw["name"])
    expect = raw["expect"]
    container = str(raw.get("container", "prod-app-01"))
    logs = _lines(raw.get("logs", ""))
    noise = raw.get("noise")
    if noise:
        end = raw.get("noise_until", DEFAULT_NOISE_END)
        if isinstance(end, str):
            end = datetime.fromisoformat(end.replace("Z", "+00:00"))
        logs = [*generate_noise(str(noise["kind"]), int(noise["lines"]), name, end), *logs]
    facts = None
    if not raw.get("missing", False):
        facts = container_facts(
            container,
            image=str(raw.get("image", "")),
            state=str(raw.get("state", "exited")),
            exit_code=int(raw.get("exit_code", 0)),
            oom_killed=bool(raw.get("oom_killed", False)),
            error=str(raw.get("error", "")),
            restart_count=int(raw.get("restart_count", 0)),
            health_status=str(raw.get("health", "none")),
            failing_streak=3 if raw.get("health") == "unhealthy" else 0,
        )
    evidence = Evidence(
        container=container,
        facts=facts,
        log_lines=redact_lines(logs),
        health_output=redact_lines([str(x) for x in raw.get("health_output", [])]),
    )
    return Case(
        name=name,
        file=file,
        about=" ".join(str(raw.get("about", "")).split()),
        evidence=evidence,
        category=Category(expect["category"]),
        restart_safe=bool(expect["restart_safe"]),
        signature=expect.get("signature"),
        source=" ".join(str(raw.get("source", "")).split()),
    )


def _lines(block: str) -> list[str]:
    lines = str(block).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
