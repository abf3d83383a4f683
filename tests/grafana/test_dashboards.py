"""The Grafana dashboards and provisioning, proven against a real Prometheus.

No Grafana server can run on the test bed, so the dashboards are proven the way
that matters: their structure is checked (ids, grid, datasource references,
provisioning paths), and every query they send (each panel target, template
variable and annotation) is executed against a real Prometheus that scraped
the real exporter and the real healer while containers failed and were healed
(tests/grafana/scenario.py). A query that errors, or that returns nothing a
panel could draw for that scenario, fails.

Grafana's own variables get concrete values: `$instance` and `$container` the
"All" value `.*`, `$__interval` 2s and `$__rate_interval` 5s (what Grafana
derives from the 1s scrape interval of the fast profile), `$__range` the
scenario's length. Range queries run over the scenario with a 1s step, as a
time-series panel would; `instant` targets run at its end, as a table would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from testbed.containers import ContainerFactory
from testbed.processes import REPO
from tests.grafana.board import (
    DATASOURCES,
    PROVIDERS,
    Answer,
    Query,
    all_queries,
    dashboard_files,
    expand,
    load,
    panels,
    queries,
    run,
)
from tests.grafana.scenario import Scenario, cleanup, run_scenario

DATASOURCE_UID = "prometheus"
# Where docker-compose mounts grafana/dashboards/ and grafana/provisioning/.
COMPOSE_DASHBOARDS = "/var/lib/grafana/dashboards"
EXPECTED_UIDS = {"fleet": "itops-fleet", "healer": "itops-healer"}

STEP = 1.0
GRAFANA_INTERVALS = {"__interval": "2s", "__rate_interval": "5s"}

# Panels whose point is an event of the scenario: their data must show it, not
# just a zero line (e.g. a restarts panel that reads 0 after two restarts is wrong).
MUST_SHOW_AN_EVENT = {
    "fleet: panel Unhealthy A",
    "fleet: panel Health status over time A",
    "fleet: panel Container starts A",
    "fleet: panel Container starts B",
    "fleet: panel OOM kills A",
    "fleet: panel OOM kills B",
    "fleet: panel Lifecycle events A",
    "fleet: panel Firing alerts over time A",
    "fleet: panel Firing alerts A",
    "healer: panel Incidents A",
    "healer: panel Heal success rate A",
    "healer: panel Median time to heal A",
    "healer: panel Quarantined containers A",
    "healer: panel Incidents by outcome A",
    "healer: panel Incidents by outcome, selected range A",
    "healer: panel Time to heal A",
    "healer: panel Restarts issued A",
    "healer: panel LLM requests by outcome A",
    "healer: panel LLM latency A",
    "healer: panel LLM fallbacks A",
    "healer: panel Emails by outcome A",
    "healer: panel Webhook intake A",
    "healer: panel Alertmanager to healer A",
}

ALL_QUERIES = all_queries()


# -- structure ---------------------------------------------------------------------


def test_there_is_a_fleet_and_a_healer_dashboard_with_the_uids_the_emails_link_to() -> None:
    found = {path.stem: load(path)["uid"] for path in dashboard_files()}
    assert found == EXPECTED_UIDS


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.stem)
def test_every_panel_has_a_unique_id_and_fits_the_grid_without_overlap(path: Path) -> None:
    board = load(path)
    all_panels = list(panels(board))
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.stem)
def test_every_panel_target_variable_and_annotation_uses_the_provisioned_datasource(
    path: Path,
) -> None:
    board = load(path)
    users: list[tuple[str, Any]] = []
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        users.append((f"panel {panel['title']!r}", panel.get("datasource")))
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), f"{panel['title']!r} refIds {refs}"
        for target in panel["targets"]:
            users.append((f"panel {panel['title']!r} {target['refId']}", target.get("datasource")))
            assert target["expr"].strip()
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            users.append((f"variable {variable['name']}", variable.get("datasource")))
    for annotation in board["annotations"]["list"]:
        users.append((f"annotation {annotation['name']}", annotation.get("datasource")))
    wrong = [(who, ds) for who, ds in users if ds != {"type": "prometheus", "uid": DATASOURCE_UID}]
    assert not wrong


def test_fleet_dashboard_has_instance_and_container_variables_for_many_hosts() -> None:
    board = load(REPO / "grafana" / "dashboards" / "fleet.json")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for name in ("instance", "container"):
        assert variables[name]["type"] == "query"
        assert variables[name]["multi"] and variables[name]["includeAll"]
        assert variables[name]["allValue"] == ".*"
    assert "$instance" in variables["container"]["query"]["query"]
    names = {a["name"] for a in board["annotations"]["list"]}
    assert {"Heals", "Quarantines"} <= names


def test_provisioned_datasource_is_prometheus_with_the_uid_the_dashboards_use() -> None:
    (source,) = yaml.safe_load((DATASOURCES / "prometheus.yml").read_text())["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"


def test_datasource_interval_matches_the_shipped_scrape_interval() -> None:
    (source,) = yaml.safe_load((DATASOURCES / "prometheus.yml").read_text())["datasources"]
    prometheus = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    assert source["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]


def test_dashboard_provider_loads_the_folder_compose_mounts() -> None:
    (provider,) = yaml.safe_load((PROVIDERS / "dashboards.yml").read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == COMPOSE_DASHBOARDS


def test_every_query_uses_only_variables_the_dashboard_defines_or_grafana_provides() -> None:
    defined: dict[str, set[str]] = {}
    for path in dashboard_files():
        board = load(path)
        defined[path.stem] = {v["name"] for v in board["templating"]["list"]} | {
            "__interval",
            "__rate_interval",
            "__range",
        }
    for query in ALL_QUERIES:
        expand(query.expr, {name: "x" for name in defined[query.dashboard]})


# -- every query against a real Prometheus after a real scenario ----------------------


@pytest.fixture(scope="module")
def scenario(
    docker_api: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    factory = ContainerFactory(docker_api)
    try:
        with run_scenario(tmp_path_factory.mktemp("dashboards"), factory) as ran:
            yield ran
    finally:
        cleanup(factory)


def _ask(scenario: Scenario, query: Query, *, at: float | None = None, **values: str) -> Answer:
    span = math.ceil(scenario.finished - scenario.started) + 5
    expr = expand(
        query.expr,
        {
            "instance": ".*",
            "container": ".*",
            **GRAFANA_INTERVALS,
            "__range": f"{span}s",
            **values,
        },
    )
    try:
        return run(
            scenario.prometheus_url,
            query,
            expr,
            start=scenario.started,
            end=at or scenario.finished,
            step=STEP,
        )
    except AssertionError as exc:
        raise AssertionError(f"{query.id}: Prometheus refused\n{expr}\n{exc}") from None


@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.id)
def test_query_returns_data_after_containers_failed_and_were_healed(
    scenario: Scenario, query: Query
) -> None:
    answer = _ask(scenario, query)
    assert answer.has_data, f"{query.id} returned nothing a panel could draw:\n{query.expr}"
    if query.id in MUST_SHOW_AN_EVENT:
        assert answer.peak > 0, f"{query.id} shows no event of the scenario:\n{query.expr}"


def test_every_panel_whose_point_is_an_event_is_a_known_query() -> None:
    unknown = MUST_SHOW_AN_EVENT - {q.id for q in ALL_QUERIES}
    assert not unknown


def _problems(answer: Answer) -> dict[str, set[str]]:
    """The problem table as container -> its problems (a container may have two rows)."""
    table: dict[str, set[str]] = {}
    for row in answer.series:
        table.setdefault(row.labels["container"], set()).add(row.labels["problem"])
    return table


def test_problem_table_lists_the_failed_and_crash_looping_containers_but_not_the_healed_ones(
    scenario: Scenario,
) -> None:
    (query,) = [q for q in ALL_QUERIES if q.title == "Down, unhealthy or crash-looping containers"]
    problems = _problems(_ask(scenario, query))
    assert "down (exited)" in problems[scenario.names["crash"]]
    assert "crash-looping (healer quarantines it)" in problems[scenario.names["loop"]]
    for healed in ("web", "sick", "oom"):
        assert scenario.names[healed] not in problems


def test_problem_table_listed_the_unhealthy_container_while_it_was_unhealthy(
    scenario: Scenario,
) -> None:
    (query,) = [q for q in ALL_QUERIES if q.title == "Down, unhealthy or crash-looping containers"]
    problems = _problems(_ask(scenario, query, at=scenario.marks["sick unhealthy"]))
    assert problems[scenario.names["sick"]] == {"unhealthy"}


def test_oom_panel_shows_the_oom_killed_container_only(scenario: Scenario) -> None:
    (query,) = [q for q in ALL_QUERIES if q.title == "OOM kills" and q.ref == "A"]
    assert _ask(scenario, query).containers() == {scenario.names["oom"]}


def test_choosing_one_container_narrows_every_fleet_panel_to_it(scenario: Scenario) -> None:
    web = scenario.names["web"]
    checked = 0
    for query in queries(REPO / "grafana" / "dashboards" / "fleet.json"):
        if query.kind != "panel" or "$container" not in query.expr:
            continue
        answer = _ask(scenario, query, container=web)
        others = answer.containers() - {web}
        assert not others, f"{query.id} with container={web} shows {others}"
        checked += 1
    assert checked >= 8


def test_instance_variable_lists_the_exporter_and_container_variable_its_containers(
    scenario: Scenario,
) -> None:
    by_name = {q.title: q for q in queries(REPO / "grafana" / "dashboards" / "fleet.json")}
    instances = _ask(scenario, by_name["instance"]).label_values
    assert instances == [f"127.0.0.1:{scenario.exporter.port}"]
    containers = _ask(scenario, by_name["container"], instance=instances[0]).label_values
    assert set(containers) == set(scenario.names.values())
