"""The config rewrite in testbed/promstack.py gives configs the real tools accept."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from testbed.promstack import (
    FAST,
    SHIPPED,
    Profile,
    amtool,
    format_duration,
    parse_duration,
    promtool,
    render_alertmanager,
    render_prometheus,
    shipped_prometheus_flag,
    tool_output,
)


def _render_both(tmp_path: Path, profile: Profile) -> tuple[Path, Path]:
    token = tmp_path / "token"
    token.write_text("secret")
    prom = render_prometheus(
        tmp_path,
        targets={"exporter": "127.0.0.1:19417", "healer": "127.0.0.1:19418"},
        alertmanager="127.0.0.1:19093",
        profile=profile,
    )
    am = render_alertmanager(
        tmp_path, webhook_url="http://127.0.0.1:19418/hook", token_file=token, profile=profile
    )
    return prom, am


def test_fast_profile_configs_pass_promtool_and_amtool(tmp_path: Path) -> None:
    prom, am = _render_both(tmp_path, FAST)
    checked = promtool("check", "config", prom)
    assert checked.returncode == 0, tool_output(checked)
    checked = amtool("check-config", am)
    assert checked.returncode == 0, tool_output(checked)


def test_fast_profile_rewrites_targets_intervals_and_for_durations(tmp_path: Path) -> None:
    prom, _ = _render_both(tmp_path, FAST)
    config = yaml.safe_load(prom.read_text())
    assert config["global"]["scrape_interval"] == "1s"
    assert config["global"]["evaluation_interval"] == "1s"
    # Never longer than the interval, or Prometheus refuses the file.
    assert config["global"]["scrape_timeout"] == "1s"
    assert {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]} == {
        # The shipped target labels stay: the exporter's host name.
        "exporter": [{"targets": ["127.0.0.1:19417"], "labels": {"host": "local"}}],
        "healer": [{"targets": ["127.0.0.1:19418"]}],
    }
    assert config["alerting"]["alertmanagers"] == [
        {"static_configs": [{"targets": ["127.0.0.1:19093"]}]}
    ]
    fors = {}
    for rule_file in config["rule_files"]:
        for group in yaml.safe_load(Path(rule_file).read_text())["groups"]:
            fors.update({r["alert"]: r["for"] for r in group["rules"] if "alert" in r})
    assert fors["ContainerDown"] == "200ms"
    assert fors["ContainerHighCpu"] == "90s"
    assert fors["ContainerOOMKilled"] == "0s"


def test_rewritten_alertmanager_posts_to_the_test_webhook_with_the_test_token(
    tmp_path: Path,
) -> None:
    _, am = _render_both(tmp_path, FAST)
    config = yaml.safe_load(am.read_text())
    for receiver in config["receivers"]:
        (hook,) = receiver["webhook_configs"]
        assert hook["url"] == "http://127.0.0.1:19418/hook"
        assert hook["http_config"]["authorization"] == {
            "type": "Bearer",
            "credentials_file": str(tmp_path / "token"),
        }
        assert hook["send_resolved"] is True
    timings = [config["route"], *config["route"]["routes"]]
    assert {(r["group_wait"], r["group_interval"]) for r in timings} == {("1s", "1s")}
    assert config["route"]["repeat_interval"] == "4h"


def test_shipped_profile_keeps_the_shipped_timings(tmp_path: Path) -> None:
    prom, am = _render_both(tmp_path, Profile())
    config = yaml.safe_load(prom.read_text())
    assert config["global"]["scrape_interval"] == "10s"
    assert config["global"]["evaluation_interval"] == "1s"
    (exporter,) = [job for job in config["scrape_configs"] if job["job_name"] == "exporter"]
    assert exporter["scrape_interval"] == "1s"
    route = yaml.safe_load(am.read_text())["route"]
    assert route["routes"][0]["group_wait"] == "0s"


def test_tests_run_prometheus_with_the_resend_delay_docker_compose_ships() -> None:
    assert shipped_prometheus_flag("rules.alert.resend-delay") == "2s"
    assert SHIPPED.resend_delay is None  # None means: the one docker-compose.yml ships
    assert FAST.resend_delay == "1s"


def test_naming_a_scrape_job_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exportr"):
        render_prometheus(tmp_path, targets={"exportr": "127.0.0.1:1"}, alertmanager="127.0.0.1:2")


@pytest.mark.parametrize(
    ("text", "ms"),
    [("20s", 20_000), ("1m30s", 90_000), ("500ms", 500), ("0s", 0), ("2h", 7_200_000)],
)
def test_durations_round_trip(text: str, ms: int) -> None:
    assert parse_duration(text) == ms
    assert parse_duration(format_duration(ms)) == ms
