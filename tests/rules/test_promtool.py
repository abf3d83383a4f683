"""The Prometheus config and rules, checked by promtool and by reading them as data.

Every case in prometheus/tests/*_test.yml runs as its own pytest test (named by
the case), so a failure names the behaviour and shows promtool's own diff.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from testbed.processes import REPO
from testbed.promstack import parse_duration, promtool, tool_output
from tests.rules.rulefiles import (
    CONTRACT_ALERTS,
    HEALABLE_ALERTS,
    INFO_JOIN,
    PromtoolCase,
    alert_rules,
    promtool_cases,
    promtool_test_files,
    rule_files,
    runbook_anchors,
    single_case_file,
)

CASES = promtool_cases()


def test_prometheus_config_passes_promtool_check_config() -> None:
    result = promtool("check", "config", REPO / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, tool_output(result)


def test_the_shipped_exporter_target_names_its_docker_host() -> None:
    # A target label: every exporter series and `up` carry it, so every per-container
    # alert and ExporterDown name the host (README "The host label").
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    (exporter,) = [job for job in config["scrape_configs"] if job["job_name"] == "exporter"]
    (targets,) = exporter["static_configs"]
    assert targets["labels"] == {"host": "local"}


def test_rule_files_pass_promtool_check_rules() -> None:
    result = promtool("check", "rules", *rule_files())
    assert result.returncode == 0, tool_output(result)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rules_behave_as_the_promtool_case_says(case: PromtoolCase, tmp_path: Path) -> None:
    result = promtool("test", "rules", single_case_file(case, tmp_path / "case_test.yml"))
    assert result.returncode == 0, f"{case.file.name}: {case.name}\n{tool_output(result)}"


def test_promtool_test_files_pass_as_a_whole() -> None:
    # The per-case runs above rewrite the files; this proves the files as shipped.
    result = promtool("test", "rules", *promtool_test_files())
    assert result.returncode == 0, tool_output(result)


def test_every_contract_alert_is_defined_once_and_no_other() -> None:
    names = [rule.name for rule in alert_rules()]
    assert sorted(names) == sorted(CONTRACT_ALERTS)


def test_only_down_unhealthy_and_oom_alerts_carry_action_restart() -> None:
    with_action = {rule.name: rule.labels.get("action") for rule in alert_rules()}
    assert {name for name, action in with_action.items() if action} == HEALABLE_ALERTS
    assert all(with_action[name] == "restart" for name in HEALABLE_ALERTS)
    assert with_action["ContainerCrashLooping"] is None


def test_every_alert_has_a_severity_summary_description_and_a_runbook_section() -> None:
    anchors = runbook_anchors()
    for rule in alert_rules():
        # Per-container severity comes from the info join unless the rule pins it.
        joined = "group_left (severity, container_id)" in rule.expr
        assert rule.labels.get("severity") in {"critical", "warning", "info"} or joined, rule.name
        assert {"summary", "description", "runbook_url"} <= set(rule.annotations), rule.name
        page, _, anchor = rule.annotations["runbook_url"].partition("#")
        assert page == "prometheus/runbook.md", rule.name
        assert anchor == rule.name.lower() and anchor in anchors, rule.name


def test_per_container_alerts_join_the_info_series_for_container_id() -> None:
    for rule in alert_rules():
        if rule.per_container:
            assert INFO_JOIN in rule.expr and "container_id" in rule.expr, rule.name


def test_every_alert_is_pinned_at_its_boundary_by_a_promtool_case() -> None:
    """Each alert has a case where it is absent one evaluation before it fires."""
    pinned: dict[str, list[str]] = defaultdict(list)
    for case in CASES:
        interval = parse_duration(_evaluation_interval(case.file))
        by_alert: dict[str, dict[int, bool]] = defaultdict(dict)
        for check in case.body.get("alert_rule_test", []):
            at = parse_duration(str(check["eval_time"]))
            by_alert[check["alertname"]][at] = bool(check.get("exp_alerts"))
        for alert, checks in by_alert.items():
            if any(fires and checks.get(at - interval) is False for at, fires in checks.items()):
                pinned[alert].append(case.name)
    assert set(pinned) >= CONTRACT_ALERTS, sorted(CONTRACT_ALERTS - set(pinned))


def test_every_alert_has_a_case_where_it_must_stay_silent() -> None:
    """Beyond the boundary: flapping, healthy or excluded input that must not fire."""
    silent: set[str] = set()
    for case in CASES:
        checks = case.body.get("alert_rule_test", [])
        if checks and all(not check.get("exp_alerts") for check in checks):
            silent.update(check["alertname"] for check in checks)
    assert silent >= CONTRACT_ALERTS, sorted(CONTRACT_ALERTS - silent)


def _evaluation_interval(test_file: Path) -> str:
    return str(yaml.safe_load(test_file.read_text()).get("evaluation_interval", "1m"))
