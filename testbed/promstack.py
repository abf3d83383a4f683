"""Real Prometheus and Alertmanager for tests and benchmarks, built from the shipped configs.

The shipped `prometheus/prometheus.yml` and `alertmanager/alertmanager.yml`
name compose services (`exporter:9417`, `http://healer:9418/...`) and a token
file under /etc. `render_prometheus` and `render_alertmanager` write loopback
copies into a temp dir, optionally with a faster timing `Profile`; `prom_stack`
starts both binaries on free ports and stops them afterwards:

    with prom_stack(
        tmp_path,
        targets={"exporter": f"127.0.0.1:{exporter_port}"},
        webhook_url=f"http://127.0.0.1:{healer_port}/webhook/alertmanager",
        token_file=token_path,
        profile=FAST,
    ) as stack:
        stack.wait_for_targets(["exporter"])
        ...  # break something, wait for the webhook
        stack.query('ALERTS{alertname="ContainerDown"}')

As a pytest fixture: `with prom_stack(...) as stack: yield stack`.
`promtool(...)`/`amtool(...)` run the offline checkers and return their result.

Why one file over 300 lines: rendering both configs and running both binaries
share the profile and the port plumbing; tests, demo and benches use it whole.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from testbed.processes import REPO, Service, free_port, start_service, wait_until

PROMETHEUS_CONFIG = REPO / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = REPO / "alertmanager" / "alertmanager.yml"

PROMETHEUS_BIN = "prometheus"
ALERTMANAGER_BIN = "prometheus-alertmanager"


@dataclass(frozen=True)
class Profile:
    """Timing overrides on top of the shipped files; None keeps the shipped value.

    `for_scale` multiplies every rule's `for:` (0.1 turns ContainerDown's 20s
    into 2s). Range windows in expressions (rate over 5m, ...) are not scaled:
    they define what an alert means, not how fast it is noticed.
    """

    scrape_interval: str | None = None
    evaluation_interval: str | None = None
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    for_scale: float | None = None
    # Prometheus's --rules.alert.resend-delay; None: the one docker-compose.yml ships.
    resend_delay: str | None = None


SHIPPED = Profile()
# 1s everywhere and `for:` at a tenth: ContainerDown fires ~2-4s after a stop.
# repeat_interval stays at the shipped hours, so a test sees each firing once.
FAST = Profile(
    scrape_interval="1s",
    evaluation_interval="1s",
    group_wait="1s",
    group_interval="1s",
    for_scale=0.1,
    resend_delay="1s",
)

COMPOSE_FILE = REPO / "docker-compose.yml"


def shipped_prometheus_flag(name: str, compose_file: Path = COMPOSE_FILE) -> str | None:
    """The value of `--name=...` in the Prometheus service's command in docker-compose.yml,
    so tests and benches run Prometheus with the flags the product ships."""
    command = _load(compose_file)["services"]["prometheus"].get("command") or []
    for arg in command:
        flag, sep, value = str(arg).partition("=")
        if sep and flag == f"--{name}":
            return value
    return None


# -- durations -------------------------------------------------------------------

_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


def parse_duration(text: str) -> int:
    """A Prometheus duration ("1m30s", "500ms", "0s") in milliseconds."""
    match = _DURATION.match(str(text).strip())
    if not match or not str(text).strip():
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(
        int(part) * unit for part, unit in zip(match.groups(), _UNIT_MS, strict=True) if part
    )


def format_duration(ms: int) -> str:
    """Milliseconds as a Prometheus duration, in whole seconds when it is one."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scale_duration(text: str, factor: float) -> str:
    return format_duration(round(parse_duration(text) * factor))


# -- config rendering ------------------------------------------------------------


class _PlainDumper(yaml.SafeDumper):
    """Writes shared objects out in full: the shipped Alertmanager file uses a YAML
    anchor for its three identical webhooks, and plain copies are easier to read."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(data: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(data, Dumper=_PlainDumper, sort_keys=False))
    return path


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def render_rules(rule_file: Path, dest: Path, profile: Profile = SHIPPED) -> Path:
    """Copy one rule file to `dest`, with its `for:` durations scaled by the profile."""
    data = _load(rule_file)
    if profile.for_scale is not None:
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                if "for" in rule:
                    rule["for"] = scale_duration(rule["for"], profile.for_scale)
    return _dump(data, dest)


@dataclass(frozen=True)
class ScrapeTarget:
    """One target of a scrape job with its own target labels (a fleet's `host`)."""

    address: str
    labels: Mapping[str, str]


def render_prometheus(
    dest_dir: Path,
    *,
    targets: Mapping[str, str | Sequence[ScrapeTarget]],
    alertmanager: str | Sequence[str],
    profile: Profile = SHIPPED,
    source: Path = PROMETHEUS_CONFIG,
    rules_dir: Path | None = None,
) -> Path:
    """Write a loopback copy of prometheus.yml and its rule files under `dest_dir`.

    `targets` maps scrape job names to "host:port", which keeps the job's shipped
    target labels (the exporter's `host`), or to ScrapeTargets with labels of
    their own (several hosts). Jobs it does not name are dropped (nothing would
    answer for them). `alertmanager` is "host:port", or several of them (a
    cluster: Prometheus sends every alert to each). The `rule_files` patterns are
    read from `rules_dir` (default: beside `source`), where a deployment mounts
    them. Returns the new file's path.
    """
    data = _load(source)
    dest_dir.mkdir(parents=True, exist_ok=True)

    glob_cfg = data.setdefault("global", {})
    if profile.scrape_interval:
        glob_cfg["scrape_interval"] = profile.scrape_interval
    if profile.evaluation_interval:
        glob_cfg["evaluation_interval"] = profile.evaluation_interval
    _cap_scrape_timeout(glob_cfg)

    jobs = []
    for job in data.get("scrape_configs", []):
        name = job["job_name"]
        if name not in targets:
            continue
        job.pop("file_sd_configs", None)
        job["static_configs"] = _static_configs(job, targets[name])
        if profile.scrape_interval and "scrape_interval" in job:
            job["scrape_interval"] = profile.scrape_interval
        _cap_scrape_timeout(job, fallback_interval=glob_cfg.get("scrape_interval"))
        jobs.append(job)
    unknown = set(targets) - {job["job_name"] for job in jobs}
    if unknown:
        raise ValueError(f"no scrape job named {sorted(unknown)} in {source}")
    data["scrape_configs"] = jobs

    managers = [alertmanager] if isinstance(alertmanager, str) else list(alertmanager)
    data["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": managers}]}]}

    rule_paths: list[str] = []
    for pattern in data.get("rule_files", []):
        for found in sorted(glob.glob(str((rules_dir or source.parent) / pattern))):
            rule_paths.append(
                str(render_rules(Path(found), dest_dir / "rules" / Path(found).name, profile))
            )
    data["rule_files"] = rule_paths
    return _dump(data, dest_dir / "prometheus.yml")


def _static_configs(
    job: Mapping[str, Any], wanted: str | Sequence[ScrapeTarget]
) -> list[dict[str, Any]]:
    if isinstance(wanted, str):
        shipped = (job.get("static_configs") or [{}])[0].get("labels")
        return [{"targets": [wanted], **({"labels": dict(shipped)} if shipped else {})}]
    return [{"targets": [t.address], "labels": dict(t.labels)} for t in wanted]


def _cap_scrape_timeout(cfg: dict[str, Any], fallback_interval: str | None = None) -> None:
    # Prometheus refuses a scrape_timeout longer than the scrape_interval, which
    # a 1s profile on top of the shipped 5s timeout would produce.
    interval = cfg.get("scrape_interval", fallback_interval)
    timeout = cfg.get("scrape_timeout")
    if interval and timeout and parse_duration(timeout) > parse_duration(interval):
        cfg["scrape_timeout"] = interval


def render_alertmanager(
    dest_dir: Path,
    *,
    webhook_url: str | Sequence[str],
    token_file: Path,
    profile: Profile = SHIPPED,
    source: Path = ALERTMANAGER_CONFIG,
) -> Path:
    """Write a copy of alertmanager.yml whose webhooks go to `webhook_url` with the
    Bearer token read from `token_file`, with the profile's route timings on the
    root route and on every sub-route that sets its own. Returns its path.

    Several URLs (healer replicas) give every receiver one webhook per URL, as
    deploy/fleet/alertmanager.yml has: each notification goes to every replica."""
    data = _load(source)
    urls = [webhook_url] if isinstance(webhook_url, str) else list(webhook_url)
    for receiver in data.get("receivers", []):
        hooks = receiver.get("webhook_configs", []) or []
        if not hooks:
            continue
        receiver["webhook_configs"] = [{**copy.deepcopy(hooks[0]), "url": url} for url in urls]
        for hook in receiver["webhook_configs"]:
            auth = hook.setdefault("http_config", {}).setdefault("authorization", {})
            auth["credentials_file"] = str(token_file)
    overrides = {
        key: value
        for key, value in (
            ("group_wait", profile.group_wait),
            ("group_interval", profile.group_interval),
            ("repeat_interval", profile.repeat_interval),
        )
        if value
    }
    if overrides:
        _override_route(data["route"], overrides, is_root=True)
    return _dump(data, dest_dir / "alertmanager.yml")


def _override_route(route: dict[str, Any], overrides: Mapping[str, str], *, is_root: bool) -> None:
    for key, value in overrides.items():
        if is_root or key in route:
            route[key] = value
    for child in route.get("routes", []) or []:
        _override_route(child, overrides, is_root=False)


# -- offline checkers --------------------------------------------------------------


def promtool(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run promtool; the caller asserts on returncode and shows stdout/stderr."""
    return _run(["promtool", *map(str, args)], timeout)


def amtool(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return _run(["amtool", *map(str, args)], timeout)


def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO
    )


def tool_output(result: subprocess.CompletedProcess[str]) -> str:
    """What a failed tool said, for an assertion message."""
    return f"$ {' '.join(result.args)}\n(exit {result.returncode})\n{result.stdout}{result.stderr}"


# -- processes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Gossip:
    """One member's place in an Alertmanager cluster on loopback."""

    port: int
    peers: Sequence[int]
    # How long each member waits per position before it sends what the ones before it
    # should have sent (Alertmanager's default is 15s).
    peer_timeout: str = "15s"


def start_alertmanager(
    config: Path,
    workdir: Path,
    *,
    port: int | None = None,
    gossip: Gossip | None = None,
    name: str = "alertmanager",
) -> Service:
    """Alertmanager on 127.0.0.1, state under `workdir`; ready when it answers.
    Gossip off unless `gossip` places it in a cluster."""
    port = port or free_port()
    data = workdir / f"{name}-data"
    data.mkdir(parents=True, exist_ok=True)
    if gossip is None:
        # Empty disables clustering: no gossip port, no waiting for peers to settle.
        cluster = ["--cluster.listen-address="]
    else:
        cluster = [
            f"--cluster.listen-address=127.0.0.1:{gossip.port}",
            f"--cluster.advertise-address=127.0.0.1:{gossip.port}",
            f"--cluster.peer-timeout={gossip.peer_timeout}",
            *(f"--cluster.peer=127.0.0.1:{peer}" for peer in gossip.peers),
        ]
    argv = [
        ALERTMANAGER_BIN,
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.path={data}",
        *cluster,
        # Debug logs every notification attempt, which is what a failing test needs.
        "--log.level=debug",
    ]
    return start_service(
        name,
        argv,
        port=port,
        log_dir=workdir,
        ready_url=f"http://127.0.0.1:{port}/-/ready",
    )


def start_prometheus(
    config: Path, workdir: Path, *, port: int | None = None, resend_delay: str | None = None
) -> Service:
    """Prometheus on 127.0.0.1 with a fresh TSDB under `workdir`; ready when it answers.
    `resend_delay` defaults to the one docker-compose.yml ships."""
    port = port or free_port()
    data = workdir / "prometheus-data"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        PROMETHEUS_BIN,
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={data}",
        # Prometheus's default (1m) would hold back the re-send of an alert whose
        # first send was dropped because Alertmanager was not discovered yet.
        f"--rules.alert.resend-delay={resend_delay or _shipped_resend_delay()}",
    ]
    return start_service(
        "prometheus",
        argv,
        port=port,
        log_dir=workdir,
        ready_url=f"http://127.0.0.1:{port}/-/ready",
    )


def _shipped_resend_delay() -> str:
    found = shipped_prometheus_flag("rules.alert.resend-delay")
    if found is None:
        raise ValueError(f"no --rules.alert.resend-delay in {COMPOSE_FILE}'s prometheus command")
    return found


@dataclass
class PromStack:
    """A running Prometheus + Alertmanager pair; `peers` are the other members when
    the Alertmanagers run as a cluster (Prometheus sends to every one of them)."""

    prometheus: Service
    alertmanager: Service
    workdir: Path
    peers: list[Service] = field(default_factory=list)

    @property
    def alertmanagers(self) -> list[Service]:
        return [self.alertmanager, *self.peers]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; the `result` list of the API answer."""
        answer = self._prom_get("/api/v1/query", {"query": promql})
        return list(answer["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus' active alerts, pending and firing."""
        return list(self._prom_get("/api/v1/alerts")["alerts"])

    def wait_for_targets(self, jobs: Sequence[str], timeout: float = 30.0) -> None:
        """Until every target of `jobs` has been scraped successfully."""

        def all_up() -> bool:
            active = self._prom_get("/api/v1/targets", {"state": "active"})["activeTargets"]
            health: dict[str, list[str]] = {}
            for target in active:
                health.setdefault(target["labels"]["job"], []).append(target["health"])
            return all(health.get(job) and set(health[job]) == {"up"} for job in jobs)

        wait_until(all_up, timeout=timeout, interval=0.2, what=f"targets {list(jobs)} up")

    def wait_for_alertmanager(self, timeout: float = 30.0) -> None:
        """Until Prometheus has discovered every Alertmanager: alerts sent before that
        are dropped."""
        wanted = len(self.alertmanagers)
        wait_until(
            lambda: len(self._prom_get("/api/v1/alertmanagers")["activeAlertmanagers"]) >= wanted,
            timeout=timeout,
            interval=0.2,
            what="Prometheus to discover Alertmanager",
        )

    def logs(self) -> str:
        """Both logs' tails, for an assertion message."""
        return f"--- prometheus ---\n{self.prometheus.log()[-4000:]}\n" + "".join(
            f"--- {am.name} ---\n{am.log()[-4000:]}\n" for am in self.alertmanagers
        )

    def stop(self) -> None:
        self.prometheus.stop()
        for am in self.alertmanagers:
            am.stop()

    def _prom_get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = requests.get(self.prometheus.url + path, params=params, timeout=5)
        response.raise_for_status()
        return response.json()["data"]


@contextlib.contextmanager
def prom_stack(
    workdir: Path,
    *,
    targets: Mapping[str, str],
    webhook_url: str,
    token_file: Path,
    profile: Profile = FAST,
) -> Iterator[PromStack]:
    """Render both configs into `workdir`, start Alertmanager then Prometheus on free
    loopback ports, wait until Prometheus knows Alertmanager, and stop both on exit.

    `targets` maps scrape jobs to "host:port" (e.g. {"exporter": "127.0.0.1:P"});
    jobs left out are not scraped. The stack's own `prometheus` and
    `alertmanager` jobs point at the two processes unless `targets` names them.
    """
    prom_port, am_port = free_port(), free_port()
    all_targets = {
        "prometheus": f"127.0.0.1:{prom_port}",
        "alertmanager": f"127.0.0.1:{am_port}",
        **targets,
    }
    am_config = render_alertmanager(
        workdir, webhook_url=webhook_url, token_file=token_file, profile=profile
    )
    prom_config = render_prometheus(
        workdir, targets=all_targets, alertmanager=f"127.0.0.1:{am_port}", profile=profile
    )
    alertmanager = start_alertmanager(am_config, workdir, port=am_port)
    try:
        prometheus = start_prometheus(
            prom_config, workdir, port=prom_port, resend_delay=profile.resend_delay
        )
    except BaseException:
        alertmanager.stop()
        raise
    stack = PromStack(prometheus, alertmanager, workdir)
    try:
        stack.wait_for_alertmanager()
        yield stack
    finally:
        stack.stop()
