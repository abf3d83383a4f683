"""`python -m healer`: serve, check, heal, status, ask, test-email, clear-quarantine, report."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType

from fleet.listen import ListenError, parse_listen
from fleet.selector import is_critical
from healer.config import HealerConfig, load_config, require_auth_for_serve
from healer.errors import ConfigError, HealerError
from healer.model import Mode, iso
from healer.scan import ScanReport, scan_forever, scan_once

log = logging.getLogger("healer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m healer",
        description="Diagnose and heal managed Docker containers; tell people what happened.",
    )
    parser.add_argument(
        "--config", type=Path, help="YAML file with settings (environment variables win)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the Alertmanager webhook service (waitress)")
    serve.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where to serve (overrides HEALER_LISTEN, default 0.0.0.0:9418)",
    )
    for name, text in (
        ("check", "scan once and diagnose; never restart"),
        ("heal", "scan once, diagnose, restart what is safe, verify"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--continuous",
            action="store_true",
            help="repeat every MONITORING_INTERVAL_SECONDS until interrupted",
        )
    sub.add_parser("status", help="print a health table of the managed containers")
    ask = sub.add_parser("ask", help="ask a question about container health")
    ask.add_argument("question")
    sub.add_parser("test-email", help="send a test notification through the configured transport")
    clear = sub.add_parser("clear-quarantine", help="allow restarts of a quarantined container")
    clear.add_argument("container")
    report = sub.add_parser("report", help="print an incident's post-mortem as Markdown")
    report.add_argument("incident_id", metavar="INCIDENT_ID")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(config_file=args.config)
    except ConfigError as exc:
        print(f"healer: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.command](config, args)
    except HealerError as exc:
        print(f"healer: {exc}", file=sys.stderr)
        return 1


def cmd_serve(config: HealerConfig, args: argparse.Namespace) -> int:
    try:
        if args.listen is not None:
            host, port = parse_listen(args.listen, example="0.0.0.0:9418")
            config = replace(config, web=replace(config.web, host=host, port=port))
        require_auth_for_serve(config)
    except ListenError as exc:
        print(f"healer: configuration error: --listen {args.listen!r}: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"healer: configuration error: {exc}", file=sys.stderr)
        return 2
    from healer import datalock
    from healer.serve import serve  # waitress is only needed here

    if config.database_url:
        return serve(config)  # replicas share PostgreSQL: nothing to hold alone
    try:
        lock = datalock.hold(config.data_dir)
    except ConfigError as exc:
        print(f"healer: {exc}", file=sys.stderr)
        return 2
    try:
        return serve(config)
    finally:
        datalock.release(lock)


def _scan(mode: Mode, config: HealerConfig, args: argparse.Namespace) -> int:
    from healer.dependencies import BackgroundNotifier
    from healer.runtime import Runtime
    from healer.wiring import build

    deps = build(config)
    rt = Runtime(deps)
    outbox = deps.notifier
    assert isinstance(outbox, BackgroundNotifier)  # the outbox always has its sender
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"healer {mode.value}: managed label {config.selector}")
    try:
        if args.continuous:
            outbox.start()
            print(f"scanning every {config.monitoring_interval_seconds:g}s; Ctrl-C to stop")
            scan_forever(
                rt,
                mode,
                interval=config.monitoring_interval_seconds,
                report=print_report,
                should_stop=stop.wait,
            )
        else:
            print_report(scan_once(rt, mode))
        # One-shot runs deliver their notifications before exiting (or leave them queued
        # in the outbox for the next run when the mail server does not answer in time).
        outbox.flush(timeout=config.outbox.group_wait_seconds + 10)
        left = deps.store.outbox_depth()
        if left:
            print(f"{left} notification(s) still queued in the outbox; they are retried later")
    finally:
        deps.close()
    return 0


def print_report(report: ScanReport) -> None:
    print(
        f"{report.containers} managed container(s), {report.needing_attention} need attention, "
        f"{len(report.incidents)} new incident(s), {report.resolved} resolved"
    )
    for incident in report.incidents:
        d = incident.diagnosis
        print(
            f"\n#{incident.id} {incident.alertname} {incident.container}: {incident.status.value}"
        )
        if d is not None:
            print(f"  diagnosis ({d.source.value}): {d.category.value}: {d.root_cause}")
            print(f"  restart safe: {'yes' if d.restart_safe else 'no'}; {d.recommendation}")
            if d.note:
                print(f"  note: {d.note}")
        if incident.decision is not None:
            print(f"  decision: {incident.decision.reason}")
        for action in incident.actions:
            took = action.to_dict()["duration_seconds"]
            print(f"  {action.action} #{action.attempt}: {action.result} ({took}s) {action.error}")
        if incident.verification is not None:
            v = incident.verification
            print(f"  verification: {'OK' if v.ok else 'FAILED'}: {v.summary}")


def cmd_status(config: HealerConfig, args: argparse.Namespace) -> int:
    from healer.wiring import build

    deps = build(config)
    try:
        managed = deps.hosts.list_managed(config.selector)
        quarantined = {q.container for q in deps.store.quarantined()}
        open_by_container = {i.container: i for i in deps.store.open_incidents()}
    finally:
        deps.close()
    rows = [("CONTAINER", "STATE", "HEALTH", "RESTARTS", "EXIT", "CRITICAL", "INCIDENT")]
    for f in managed:
        incident = open_by_container.get(f.name)
        note = f"#{incident.id} {incident.status.value}" if incident else ""
        if f.name in quarantined:
            note = (note + " quarantined").strip()
        rows.append(
            (
                f.name,
                f.state,
                f.health_status,
                str(f.restart_count),
                str(f.exit_code) + (" OOM" if f.oom_killed else ""),
                "yes" if is_critical(f.name, f.labels, config.critical_services) else "",
                note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    attention = sum(1 for f in managed if f.needs_attention)
    print(f"\n{len(managed)} managed, {attention} need attention, {len(quarantined)} quarantined")
    return 1 if attention else 0


def cmd_ask(config: HealerConfig, args: argparse.Namespace) -> int:
    from healer.ask import answer
    from healer.diagnosis.service import make_backend
    from healer.wiring import build

    deps = build(config)
    try:
        snapshot = deps.hosts.list_managed(config.selector)
        backend = make_backend(config.llm)
        reply = answer(args.question, snapshot, backend=backend, timeout=config.llm.timeout_seconds)
    finally:
        deps.close()
    print(reply.text)
    print(f"\n(answered by {reply.source.value}{'; ' + reply.note if reply.note else ''})")
    return 0


def cmd_test_email(config: HealerConfig, args: argparse.Namespace) -> int:
    from healer.notify.delivery_check import send_test_message

    result = send_test_message(config)
    print(result.message)
    return 0 if result.ok else 1


def cmd_clear_quarantine(config: HealerConfig, args: argparse.Namespace) -> int:
    from healer.store import SqliteStore

    store = SqliteStore(config.database)
    try:
        cleared = store.clear_quarantine(args.container)
        entries = store.quarantined()
    finally:
        store.close()
    if not cleared:
        print(f"{args.container} is not quarantined")
        return 1
    print(f"{args.container}: quarantine cleared; the healer may restart it again")
    if entries:
        print(
            "still quarantined: "
            + ", ".join(f"{e.container} (since {iso(e.since)})" for e in entries)
        )
    return 0


def cmd_report(config: HealerConfig, args: argparse.Namespace) -> int:
    from healer.report import postmortem
    from healer.wiring import open_store

    raw = str(args.incident_id)
    # Never make an empty database where none was: a wrong HEALER_DATA_DIR is "unknown".
    missing = not config.database_url and not config.database.exists()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18) or missing:
        print(f"healer: no incident {raw!r}", file=sys.stderr)
        return 1
    store = open_store(config)
    try:
        incident = store.get(int(raw))
        if incident is None:
            print(f"healer: no incident {raw!r}", file=sys.stderr)
            return 1
        others = store.list_incidents(container=incident.container, limit=11)
    finally:
        store.close()
    related = [
        i for i in others if incident.container and i.id != incident.id and i.host == incident.host
    ][:10]
    print(config.redactor.scrub(postmortem(incident, related, now=time.time())), end="")
    return 0


COMMANDS = {
    "serve": cmd_serve,
    "check": lambda c, a: _scan(Mode.CHECK, c, a),
    "heal": lambda c, a: _scan(Mode.HEAL, c, a),
    "status": cmd_status,
    "ask": cmd_ask,
    "test-email": cmd_test_email,
    "clear-quarantine": cmd_clear_quarantine,
    "report": cmd_report,
}
