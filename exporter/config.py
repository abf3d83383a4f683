"""Exporter settings from flags and environment, validated once into a frozen value."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exporter.errors import ConfigError
from fleet import listen
from fleet.selector import DEFAULT_MANAGED_LABEL, LabelSelector, SelectorError, parse_name_list


@dataclass(frozen=True)
class ExporterConfig:
    host: str
    port: int
    selector: LabelSelector
    critical_services: frozenset[str]
    resync_seconds: float
    stats_seconds: float
    stats_concurrency: int
    log_level: str


def parse_listen(key: str, text: str) -> tuple[str, int]:
    try:
        return listen.parse_listen(text, example="0.0.0.0:9417")
    except listen.ListenError as exc:
        raise ConfigError(f"{key}={text!r}: {exc}") from None


def _positive(key: str, text: str, *, allow_zero: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{key}={text!r}: expected a number of seconds") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{key}={text!r}: must be {'>= 0' if allow_zero else '> 0'}")
    return value


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    env = environ.get
    parser = argparse.ArgumentParser(
        prog="python -m exporter",
        description="Publish Docker container health for Prometheus. Scrapes read a cache kept "
        "current by the Docker events stream; they never call the Docker API.",
    )
    parser.add_argument(
        "--listen",
        default=env("EXPORTER_LISTEN", "0.0.0.0:9417"),
        help="HOST:PORT to serve /metrics on (env EXPORTER_LISTEN, default 0.0.0.0:9417)",
    )
    parser.add_argument(
        "--managed-label",
        default=env("MANAGED_LABEL", DEFAULT_MANAGED_LABEL),
        help="label that marks a container as managed: KEY or KEY=VALUE "
        "(env MANAGED_LABEL, default environment)",
    )
    parser.add_argument(
        "--critical-services",
        default=env("CRITICAL_SERVICES", ""),
        help="comma-separated container names that are critical; a container label "
        "critical=true also counts (env CRITICAL_SERVICES)",
    )
    parser.add_argument(
        "--resync-interval",
        default=env("EXPORTER_RESYNC_SECONDS", "60"),
        help="seconds between full re-syncs that repair missed events "
        "(env EXPORTER_RESYNC_SECONDS, default 60)",
    )
    parser.add_argument(
        "--stats-interval",
        default=env("EXPORTER_STATS_SECONDS", "15"),
        help="seconds between CPU/memory samples; 0 disables them (env EXPORTER_STATS_SECONDS)",
    )
    parser.add_argument(
        "--stats-concurrency",
        default=env("EXPORTER_STATS_CONCURRENCY", "16"),
        # Engine 20.10 answers a one-shot stats call at its next 1 s collection tick
        # when other calls are open, so a round takes about containers / concurrency s.
        help="stats requests in flight at once (env EXPORTER_STATS_CONCURRENCY, default 16)",
    )
    parser.add_argument(
        "--log-level",
        default=env("LOG_LEVEL", "INFO"),
        help="DEBUG, INFO, WARNING or ERROR (env LOG_LEVEL)",
    )
    return parser


def load_config(argv: Sequence[str] | None, environ: Mapping[str, str]) -> ExporterConfig:
    """Parse and validate; raises ConfigError naming the offending flag or variable."""
    args = build_parser(environ).parse_args(argv)
    host, port = parse_listen("EXPORTER_LISTEN", args.listen)
    try:
        selector = LabelSelector.parse(args.managed_label)
    except SelectorError as exc:
        raise ConfigError(f"MANAGED_LABEL: {exc}") from None
    concurrency_text = str(args.stats_concurrency)
    if not concurrency_text.isdigit() or int(concurrency_text) < 1:
        raise ConfigError(
            f"EXPORTER_STATS_CONCURRENCY={concurrency_text!r}: expected a whole number >= 1"
        )
    level = str(args.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL={args.log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
    return ExporterConfig(
        host=host,
        port=port,
        selector=selector,
        critical_services=parse_name_list(args.critical_services),
        resync_seconds=_positive("EXPORTER_RESYNC_SECONDS", str(args.resync_interval)),
        stats_seconds=_positive(
            "EXPORTER_STATS_SECONDS", str(args.stats_interval), allow_zero=True
        ),
        stats_concurrency=int(concurrency_text),
        log_level=level,
    )
