"""docker-compose.yml as Compose v2 resolves it: valid, complete, least-privilege, no edits.

`docker compose config` (the same v2 plugin users run) validates the file and prints it
resolved (anchors merged, ${VAR:-default} filled); the assertions below are the choices a
valid file could still get wrong. tests/stack/test_compose_up.py brings the stack up.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.compose import COMPOSE_FILE, TESTBED_OVERRIDE, compose_available, compose_env
from testbed.processes import REPO

COMPOSE = COMPOSE_FILE
SAMPLE = ("prod-web-01", "prod-app-01", "prod-db-01", "prod-cache-01")
AGENT = ("socket-proxy", "exporter", "healer", "prometheus", "alertmanager", "grafana")
ONE_SHOT = ("secrets-init", "ollama-pull")


def compose_config(
    *args: str, env_file: Path, files: tuple[Path, ...] = (COMPOSE,)
) -> subprocess.CompletedProcess[str]:
    if not compose_available():
        pytest.fail("`docker compose` (v2) does not answer; `make test` installs it")
    return subprocess.run(
        [
            "docker",
            "compose",
            "--env-file",
            str(env_file),
            *(arg for path in files for arg in ("-f", str(path))),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        # No variable from the caller's shell: they would win over the defaults.
        env=compose_env(),
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def no_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty .env: the file as it resolves with no edits at all."""
    path = tmp_path_factory.mktemp("compose-config") / ".env"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def resolved(no_env_file: Path) -> dict[str, Any]:
    """The file as Compose resolves it with the llm profile, without a .env."""
    result = compose_config("--profile", "llm", "config", env_file=no_env_file)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = yaml.safe_load(result.stdout)
    return data


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume, whether Compose printed the short or long form."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.append((str(volume["source"]), str(volume["target"])))
        else:
            source, target = str(volume).split(":")[:2]
            found.append((source, target))
    return found


def test_compose_v2_accepts_the_file_with_and_without_the_llm_profile(no_env_file: Path) -> None:
    for args in (("config", "-q"), ("--profile", "llm", "config", "-q")):
        result = compose_config(*args, env_file=no_env_file)
        assert result.returncode == 0, result.stderr
        assert "WARN" not in result.stderr, result.stderr


def test_compose_v2_accepts_a_copy_of_env_example_and_the_test_bed_override() -> None:
    for files in ((COMPOSE,), (COMPOSE, TESTBED_OVERRIDE)):
        result = compose_config("config", "-q", env_file=REPO / ".env.example", files=files)
        assert result.returncode == 0, result.stderr
        assert "WARN" not in result.stderr, result.stderr


def test_every_service_the_spec_names_exists(resolved: dict[str, Any]) -> None:
    assert set(SAMPLE + AGENT + ("ollama",)) <= set(resolved["services"])


def test_the_sample_stack_is_managed_and_health_checked(resolved: dict[str, Any]) -> None:
    for name in SAMPLE:
        service = resolved["services"][name]
        assert service["container_name"] == name
        assert service["labels"]["environment"] == "production"
        assert service["healthcheck"]["test"], name


def test_the_database_publishes_no_port(resolved: dict[str, Any]) -> None:
    assert "ports" not in resolved["services"]["prod-db-01"]


def test_the_agents_ports_are_published_on_loopback_only_by_default(
    resolved: dict[str, Any],
) -> None:
    published = {
        name: service.get("ports", [])
        for name, service in resolved["services"].items()
        if name in AGENT
    }
    assert [(p["host_ip"], p["published"], p["target"]) for p in published["healer"]] == [
        ("127.0.0.1", "9418", 9418)
    ]
    for name, ports in published.items():
        assert all(p.get("host_ip") == "127.0.0.1" for p in ports), (name, ports)


def test_every_long_running_service_has_a_healthcheck_and_a_restart_policy(
    resolved: dict[str, Any],
) -> None:
    dockerfile_checks = {"socket-proxy", "exporter", "healer"}  # HEALTHCHECK in their Dockerfile
    for name, service in resolved["services"].items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
            continue
        assert service.get("restart") == "unless-stopped", name
        assert "healthcheck" in service or name in dockerfile_checks, name


def test_only_the_socket_proxy_mounts_the_docker_socket(resolved: dict[str, Any]) -> None:
    mounting = [
        name
        for name, service in resolved["services"].items()
        if any("docker.sock" in source for source, _ in mounts(service))
    ]
    assert mounting == ["socket-proxy"]
    env = {name: s.get("environment", {}) for name, s in resolved["services"].items()}
    assert env["exporter"]["DOCKER_HOST"] == "tcp://socket-proxy:2375"
    assert env["healer"]["DOCKER_HOST"] == "tcp://socket-proxy:2376"


def test_every_image_is_pinned_to_a_version(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        image = service["image"]
        assert re.search(r":[0-9v][\w.-]*$", image), f"{name}: {image} is not pinned"
        assert not image.endswith(":latest")


def test_state_lives_in_named_volumes(resolved: dict[str, Any]) -> None:
    named = set(resolved["volumes"])
    for name, target in (
        ("prod-db-01", "/var/lib/postgresql/data"),
        ("healer", "/data"),
        ("prometheus", "/prometheus"),
        ("grafana", "/var/lib/grafana"),
        ("alertmanager", "/alertmanager"),
    ):
        sources = [src for src, dst in mounts(resolved["services"][name]) if dst == target]
        assert sources, f"{name} has no volume at {target}"
        assert sources[0] in named


def test_the_webhook_token_is_shared_through_a_volume_not_an_edit(resolved: dict[str, Any]) -> None:
    healer = resolved["services"]["healer"]
    assert healer["environment"]["HEALER_WEBHOOK_TOKEN_FILE"] == "/run/itops-secrets/webhook_token"
    am = resolved["services"]["alertmanager"]
    assert ("webhook-secret", "/etc/alertmanager/secrets") in mounts(am)
    am_config = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
    text = yaml.safe_dump(am_config)
    assert "/etc/alertmanager/secrets/webhook_token" in text


def test_the_agents_own_containers_carry_the_protected_label(resolved: dict[str, Any]) -> None:
    for name in AGENT + ONE_SHOT + ("ollama",):
        assert "itops.component" in resolved["services"][name]["labels"], name


def test_secrets_come_from_the_environment_with_an_example_file() -> None:
    example = (REPO / ".env.example").read_text()
    for key in ("EMAIL_FROM", "EMAIL_TO", "EMAIL_APP_PASSWORD", "HEALER_MODE", "POSTGRES_PASSWORD"):
        assert f"{key}=" in example
    raw = COMPOSE.read_text()
    assert "${EMAIL_APP_PASSWORD:-}" in raw
    assert re.search(r"PASSWORD:\s*\w{6,}\s*$", raw, re.MULTILINE) is None


def test_the_llm_profile_adds_ollama_and_a_model_pull(resolved: dict[str, Any]) -> None:
    assert resolved["services"]["ollama"]["profiles"] == ["llm"]
    pull = resolved["services"]["ollama-pull"]
    assert pull["profiles"] == ["llm"]
    assert "pull" in pull["entrypoint"]


def test_the_configs_compose_mounts_exist() -> None:
    for path in (
        "prometheus/prometheus.yml",
        "alertmanager/alertmanager.yml",
        "grafana/provisioning",
        "grafana/dashboards",
        "sample/app/app.py",
    ):
        assert (REPO / path).exists(), path
