"""The host map (healer/hosts.py): which host an alert is about, read as data.

The behaviour on real daemons is in tests/fleet/; these pin the rules a single-host
user relies on (a `host` label changes nothing without a map) and the map's syntax.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from healer.config import load_config
from healer.docker_port import DockerPort
from healer.errors import ConfigError
from healer.hosts import LOCAL, DockerHosts, parse_hosts
from healer.model import Alert
from testbed.healer_proc import healer_env


class NeverCalled:
    """Stands in for a host's door: these tests only ask which door, never open one."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"{name} called")


def door() -> DockerPort:
    return cast(DockerPort, NeverCalled())


def alert(**labels: str) -> Alert:
    return Alert("fp", "firing", {"alertname": "ContainerDown", **labels}, {}, 0.0)


def test_without_a_host_map_the_host_label_is_ignored_and_the_one_host_acts() -> None:
    hosts = DockerHosts.single(door())
    for labels in ({"host": "local"}, {"host": "docker-b"}, {}):
        assert hosts.host_of(alert(**labels)) == LOCAL
        assert hosts.port(hosts.host_of(alert(**labels))) is not None


def test_with_a_host_map_an_alert_acts_on_its_host_and_an_unknown_one_on_none() -> None:
    a, b = door(), door()
    hosts = DockerHosts({"docker-a": a, "docker-b": b}, mapped=True)
    assert hosts.host_of(alert(host="docker-b")) == "docker-b"
    assert hosts.port("docker-b") is b
    assert hosts.port("docker-c") is None
    assert hosts.port(hosts.host_of(alert())) is None  # no label: no host
    assert "'docker-c' is not in HEALER_DOCKER_HOSTS (docker-a, docker-b)" in hosts.refusal(
        "docker-c"
    )


def test_the_host_map_reads_names_and_unix_tcp_and_ssh_endpoints() -> None:
    specs = parse_hosts(" a=unix:///run/a.sock, b.example=tcp://10.0.0.2:2377,c_1=ssh://ops@c ,")
    assert [(s.name, s.endpoint) for s in specs] == [
        ("a", "unix:///run/a.sock"),
        ("b.example", "tcp://10.0.0.2:2377"),
        ("c_1", "ssh://ops@c"),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("docker-a", "expected name=endpoint"),
        ("docker a=tcp://x:1", "a host name is letters"),
        ("a=http://x:1", "expected unix://, tcp:// or ssh://"),
        ("a=tcp://x:1,a=tcp://y:1", "appears twice"),
    ],
)
def test_a_bad_host_map_stops_start_up_naming_the_setting(
    text: str, says: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="HEALER_DOCKER_HOSTS") as raised:
        load_config(healer_env(tmp_path, HEALER_DOCKER_HOSTS=text), dotenv_file=None)
    assert says in str(raised.value)
