"""Reading Grafana dashboard JSON the way Grafana would run it against Prometheus.

`queries(dashboard)` lists every PromQL query a dashboard sends: panel targets,
template-variable queries and annotation queries. `expand` fills Grafana's
variables with concrete values, and `run` executes a query as Grafana would
(instant or over a time range) and says what came back.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from testbed.processes import REPO

GRAFANA = REPO / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
DATASOURCES = GRAFANA / "provisioning" / "datasources"
PROVIDERS = GRAFANA / "provisioning" / "dashboards"

# What Grafana replaces itself; dashboard variables are looked up by name.
# ($1 in label_replace is PromQL's, not a variable: Grafana leaves names it does not know.)
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)\]\]")
_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*(?:(?P<match>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$"
)


@dataclass(frozen=True)
class Query:
    """One PromQL query of a dashboard, with where it lives (for test ids and messages)."""

    dashboard: str  # file stem
    kind: str  # "panel" | "variable" | "annotation"
    title: str  # panel title, variable name or annotation name
    ref: str  # target refId ("" for variables and annotations)
    expr: str
    instant: bool = False

    @property
    def id(self) -> str:
        ref = f" {self.ref}" if self.ref else ""
        return f"{self.dashboard}: {self.kind} {self.title}{ref}"


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included (collapsed rows keep theirs inside)."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(path: Path) -> list[Query]:
    board = load(path)
    name = path.stem
    found: list[Query] = []
    for panel in panels(board):
        for target in panel.get("targets", []):
            found.append(
                Query(
                    name,
                    "panel",
                    panel["title"],
                    target["refId"],
                    target["expr"],
                    instant=bool(target.get("instant")) and not target.get("range"),
                )
            )
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            expr = query["query"] if isinstance(query, Mapping) else query
            found.append(Query(name, "variable", variable["name"], "", expr))
    for annotation in board.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            found.append(Query(name, "annotation", annotation["name"], "", annotation["expr"]))
    return found


def all_queries() -> list[Query]:
    return [q for path in dashboard_files() for q in queries(path)]


def expand(expr: str, values: Mapping[str, str]) -> str:
    """`expr` with every Grafana variable replaced; an unknown variable is an error."""

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise KeyError(f"no test value for Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    values: list[float]  # the finite ones; NaN and Inf are what Grafana shows as gaps

    @property
    def peak(self) -> float:
        return max(self.values, default=float("-inf"))


@dataclass(frozen=True)
class Answer:
    """What Prometheus returned for one query."""

    series: list[Series]
    label_values: list[str]

    @property
    def has_data(self) -> bool:
        """True when a panel would draw something: a finite value, or a variable option."""
        return bool(self.label_values) or any(s.values for s in self.series)

    @property
    def peak(self) -> float:
        return max((s.peak for s in self.series), default=float("-inf"))

    def containers(self) -> set[str]:
        return {s.labels["container"] for s in self.series if s.values and "container" in s.labels}


def _finite(values: list[Any]) -> list[float]:
    return [v for v in map(float, values) if math.isfinite(v)]


def run(
    prometheus_url: str, query: Query, expr: str, *, start: float, end: float, step: float
) -> Answer:
    """Run an expanded query as Grafana would; raises on a Prometheus error (bad PromQL)."""
    if query.kind == "variable":
        match = _LABEL_VALUES.match(expr)
        if not match:
            raise ValueError(f"{query.id}: only label_values(...) variable queries are supported")
        params: dict[str, str] = {"start": str(start), "end": str(end)}
        if match["match"]:
            params["match[]"] = match["match"]
        data = _get(prometheus_url, f"/api/v1/label/{match['label']}/values", params)
        return Answer([], [str(v) for v in data])
    if query.instant:
        data = _get(prometheus_url, "/api/v1/query", {"query": expr, "time": str(end)})
        if data["resultType"] == "scalar":
            return Answer([Series({}, _finite([data["result"][1]]))], [])
        return Answer([Series(r["metric"], _finite([r["value"][1]])) for r in data["result"]], [])
    data = _get(
        prometheus_url,
        "/api/v1/query_range",
        {"query": expr, "start": str(start), "end": str(end), "step": str(step)},
    )
    return Answer(
        [Series(r["metric"], _finite([v for _, v in r["values"]])) for r in data["result"]], []
    )


class PrometheusError(AssertionError):
    """Prometheus refused a query (a parse or evaluation error)."""


def _get(base: str, path: str, params: Mapping[str, str]) -> Any:
    response = requests.get(base + path, params=params, timeout=10)
    body = response.json()
    if response.status_code != 200 or body.get("status") != "success":
        raise PrometheusError(f"{body.get('errorType')}: {body.get('error')}")
    if body.get("warnings"):
        raise PrometheusError(f"warnings: {body['warnings']}")
    return body["data"]
