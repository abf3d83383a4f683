"""deploy/fleet/: the two compose files as Compose v2 resolves them, and the fleet's
Prometheus and Alertmanager configs as their own tools read them.

Nothing is pulled (no registry here): `docker compose config` validates and resolves
the files; the choices a valid file could still get wrong are asserted below. The
configs themselves run for real in tests/fleet/test_fleet.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.compose import compose_available, compose_env
from testbed.fleet import FLEET_DIR
from testbed.processes import REPO
from testbed.promstack import (
    ALERTMANAGER_CONFIG,
    ScrapeTarget,
    amtool,
    promtool,
    render_prometheus,
    tool_output,
)
from tests.stack.test_compose import mounts

AGENT = FLEET_DIR / "agent.compose.yml"
CENTRAL = FLEET_DIR / "central.compose.yml"
AGENT_ENV = {"ITOPS_AGENT_ADDRESS": "10.0.0.11"}
CENTRAL_ENV = {
    "ITOPS_DB_PASSWORD": "example-password",
    "HEALER_DOCKER_HOSTS": "docker-a=tcp://10.0.0.11:2377,docker-b=tcp://10.0.0.12:2377",
}


def compose_config(
    file: Path, env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    if not compose_available():
        pytest.fail("`docker compose` (v2) does not answer; `make test` installs it")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return subprocess.run(
        # An empty --env-file: a deploy/fleet/.env of the developer's is never read.
        ["docker", "compose", "--env-file", str(empty), "-f", str(file), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**compose_env(), **env},
        check=False,
        timeout=60,
    )


def resolved(file: Path, env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    result = compose_config(file, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "WARN" not in result.stderr, result.stderr
    data: dict[str, Any] = yaml.safe_load(result.stdout)
    return data


def published(service: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(p.get("host_ip", ""), str(p["published"]), p["target"]) for p in service["ports"]]


# -- the per-host agent -------------------------------------------------------------------


def test_the_agent_is_a_socket_proxy_and_an_exporter_publishing_only_tls_and_metrics(
    tmp_path: Path,
) -> None:
    services = resolved(AGENT, AGENT_ENV, tmp_path)["services"]
    assert set(services) == {"socket-proxy", "exporter"}
    proxy, exporter = services["socket-proxy"], services["exporter"]
    # The healer role leaves the host only through mutual TLS; the plain ports never do.
    assert published(proxy) == [("10.0.0.11", "2377", 2377)]
    assert published(exporter) == [("10.0.0.11", "9417", 9417)]
    assert proxy["environment"]["SOCKETPROXY_HEALER_BIND"] == "127.0.0.1:2376"
    assert proxy["command"] == ["-f", "/etc/itops-socketproxy/tls.cfg"]
    assert (str(FLEET_DIR / "socketproxy-tls.cfg"), "/etc/itops-socketproxy/tls.cfg") in mounts(
        proxy
    )
    assert exporter["environment"]["DOCKER_HOST"] == "tcp://socket-proxy:2375"
    mounting = [n for n, s in services.items() if any("docker.sock" in m for m, _ in mounts(s))]
    assert mounting == ["socket-proxy"]
    assert proxy["read_only"] is True and proxy["cap_drop"] == ["ALL"]


def test_the_agent_will_not_start_without_the_address_it_publishes_on(tmp_path: Path) -> None:
    result = compose_config(AGENT, {}, tmp_path)
    assert result.returncode != 0
    assert "ITOPS_AGENT_ADDRESS" in result.stderr


# -- the central stack -----------------------------------------------------------------------


def test_the_central_stack_runs_two_healers_on_one_store_and_three_clustered_alertmanagers(
    tmp_path: Path,
) -> None:
    services = resolved(CENTRAL, CENTRAL_ENV, tmp_path)["services"]
    assert {
        "postgres",
        "healer-1",
        "healer-2",
        "prometheus",
        "alertmanager-1",
        "alertmanager-2",
        "alertmanager-3",
        "grafana",
    } <= set(services)
    healers = [services["healer-1"], services["healer-2"]]
    for healer in healers:
        env = healer["environment"]
        assert env["HEALER_DATABASE_URL"] == (
            "postgresql://itops:example-password@postgres:5432/itops"
        )
        assert env["HEALER_DOCKER_HOSTS"] == CENTRAL_ENV["HEALER_DOCKER_HOSTS"]
        assert env["HEALER_DOCKER_TLS_DIR"] == "/run/itops-tls"
        assert "/run/itops-tls" in [target for _, target in mounts(healer)]
        assert "DOCKER_HOST" not in env  # every host through the map, none by default
    # Each replica has its own data directory (its lock, its outbox folder).
    data = [next(src for src, dst in mounts(h) if dst == "/data") for h in healers]
    assert len(set(data)) == 2
    peers = {f"--cluster.peer=alertmanager-{n}:9094" for n in (1, 2, 3)}
    for n in (1, 2, 3):
        command = services[f"alertmanager-{n}"]["command"]
        assert "--cluster.listen-address=0.0.0.0:9094" in command
        assert peers <= set(command)
    prometheus = mounts(services["prometheus"])
    assert (str(REPO / "prometheus" / "rules"), "/etc/prometheus/rules") in prometheus
    assert (str(FLEET_DIR / "hosts.yml"), "/etc/prometheus/hosts.yml") in prometheus
    # No Docker socket in the central stack: it reaches hosts through their agents.
    assert not [n for n, s in services.items() if any("docker.sock" in m for m, _ in mounts(s))]
    # Nothing published beyond loopback unless ITOPS_PUBLISH_ADDRESS says so.
    for name, service in services.items():
        assert all(p.get("host_ip") == "127.0.0.1" for p in service.get("ports", [])), name
    assert "ports" not in services["postgres"]


@pytest.mark.parametrize("missing", sorted(CENTRAL_ENV))
def test_the_central_stack_will_not_start_without_its_database_password_and_host_map(
    missing: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in CENTRAL_ENV.items() if k != missing}
    result = compose_config(CENTRAL, env, tmp_path)
    assert result.returncode != 0
    assert missing in result.stderr


# -- the configs the central stack mounts ------------------------------------------------------


def test_the_fleet_alertmanager_routes_and_inhibits_exactly_as_the_single_host_one() -> None:
    fleet = yaml.safe_load((FLEET_DIR / "alertmanager.yml").read_text())
    shipped = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    assert fleet["route"] == shipped["route"]
    assert fleet["inhibit_rules"] == shipped["inhibit_rules"]
    assert [r["name"] for r in fleet["receivers"]] == [r["name"] for r in shipped["receivers"]]
    (shipped_hook,) = shipped["receivers"][0]["webhook_configs"]
    for receiver in fleet["receivers"]:
        hooks = receiver["webhook_configs"]
        assert [h["url"] for h in hooks] == [
            "http://healer-1:9418/webhook/alertmanager",
            "http://healer-2:9418/webhook/alertmanager",
        ]
        for hook in hooks:
            assert {k: v for k, v in hook.items() if k != "url"} == {
                k: v for k, v in shipped_hook.items() if k != "url"
            }
    checked = amtool("check-config", FLEET_DIR / "alertmanager.yml")
    assert checked.returncode == 0, tool_output(checked)


def test_the_fleet_prometheus_config_loads_the_shipped_rules_and_sends_to_every_alertmanager(
    tmp_path: Path,
) -> None:
    config = yaml.safe_load((FLEET_DIR / "prometheus.yml").read_text())
    (managers,) = config["alerting"]["alertmanagers"]
    assert managers["static_configs"][0]["targets"] == [f"alertmanager-{n}:9093" for n in (1, 2, 3)]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["exporter"]["file_sd_configs"] == [{"files": ["hosts.yml"]}]
    assert jobs["healer"]["static_configs"][0]["targets"] == ["healer-1:9418", "healer-2:9418"]
    # As compose mounts it: the shipped rules beside it, the hosts from hosts.yml.
    rendered = render_prometheus(
        tmp_path,
        targets={
            "exporter": [ScrapeTarget("docker-a.example.internal:9417", {"host": "docker-a"})],
            "healer": "healer-1:9418",
        },
        alertmanager="alertmanager-1:9093",
        source=FLEET_DIR / "prometheus.yml",
        rules_dir=REPO / "prometheus",
    )
    assert len(yaml.safe_load(rendered.read_text())["rule_files"]) == 2
    checked = promtool("check", "config", rendered)
    assert checked.returncode == 0, tool_output(checked)


def test_every_host_in_hosts_yml_has_one_exporter_and_a_name_of_its_own() -> None:
    groups = yaml.safe_load((FLEET_DIR / "hosts.yml").read_text())
    names = [group["labels"]["host"] for group in groups]
    assert len(names) == len(set(names)) >= 1
    for group in groups:
        (target,) = group["targets"]
        assert target.endswith(":9417")
        assert set(group["labels"]) == {"host"}
        # The name must be one HEALER_DOCKER_HOSTS accepts (healer/hosts.py).
        assert all(ch.isalnum() or ch in "-_." for ch in group["labels"]["host"])
