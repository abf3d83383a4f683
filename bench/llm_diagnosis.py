"""LLM diagnosis benchmark: latency with the local model, and how fast the rules take over.

    .venv/bin/python -m bench.llm_diagnosis [--runs N] [--hang-timeout S] [--model PATH]

1. starts the Ollama-API test server (`testbed.ollama_server`) on the
   Gemma 3 270M GGUF from `.testbed/models` and times its start (process start,
   imports and model load) until `/api/version` answers;
2. diagnoses N realistic failures through `DiagnosisService` with the Ollama
   backend (real `ollama` client, cache off, no cap) and prints the latency
   p50/max of the whole diagnose() call and the outcomes (ok / invalid: a 270M
   base model often quotes lines that are not in the logs);
3. time to fall back to the rules when the LLM is unreachable (connection
   refused on a free port);
4. time to fall back when the LLM hangs (the fault injector's `hang` fault)
   with `LLM_TIMEOUT_SECONDS` = --hang-timeout.

bench/diagnosis.py prints the classifier's own throughput; the two are meant
to be read side by side.
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fleet.facts import ContainerFacts
from healer.diagnosis.ollama_backend import OllamaBackend
from healer.diagnosis.service import DiagnosisService, LLMSettings
from healer.model import Evidence
from testbed.llm_faults import Fault, FaultInjector
from testbed.processes import REPO, free_port, python_module, start_service

DEFAULT_MODEL = REPO / ".testbed" / "models" / "gemma-3-270m-q4_k_m.gguf"
MODEL_NAME = "gemma3:270m"

CASES: dict[str, tuple[int, bool, tuple[str, ...]]] = {
    "nginx-config": (
        1,
        False,
        (
            '2026/01/12 10:01:02 [emerg] 1#1: unknown directive "servre_name" in '
            "/etc/nginx/conf.d/default.conf:3",
        ),
    ),
    "python-crash": (
        1,
        False,
        (
            "Traceback (most recent call last):",
            '  File "/app/worker.py", line 51, in main',
            "AttributeError: 'NoneType' object has no attribute 'price'",
        ),
    ),
    "oom": (137, True, ("Allocating buffer of 512 MiB", "Killed")),
    "db-refused": (
        1,
        False,
        (
            'psycopg2.OperationalError: connection to server at "prod-db-01" (172.18.0.3), '
            "port 5432 failed: Connection refused",
        ),
    ),
    "redis-config": (
        1,
        False,
        (
            "*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***",
            "Reading the configuration file, at line 2",
            ">>> 'maxmemory 2gigs'",
            "argument couldn't be parsed into an integer",
        ),
    ),
}


def case_evidence(name: str) -> Evidence:
    exit_code, oom, lines = CASES[name]
    facts = ContainerFacts(
        id="b" * 64,
        name=f"bench-{name}",
        image="bench/app:1",
        labels={"environment": "production"},
        state="exited",
        exit_code=exit_code,
        oom_killed=oom,
        error="",
        started_at=time.time() - 60,
        finished_at=time.time() - 1,
        restart_count=2,
        health_status="none",
        failing_streak=0,
    )
    return Evidence(container=facts.name, facts=facts, log_lines=lines, collected_at=time.time())


def service(backend: OllamaBackend, timeout: float) -> DiagnosisService:
    # Cache off and no practical cap: every diagnose() is a model call.
    settings = LLMSettings(
        backend="none", timeout_seconds=timeout, max_calls_per_hour=10**6, cache_ttl_seconds=0
    )
    return DiagnosisService(settings, backend=backend)


@dataclass(frozen=True)
class Timing:
    seconds: list[float]
    outcomes: collections.Counter[str]

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)


def measure_llm_latency(url: str, runs: int, timeout: float = 300.0) -> Timing:
    """diagnose() wall time with the real model behind `url` (one warm-up call not counted)."""
    diagnoser = service(OllamaBackend(url, MODEL_NAME, timeout=timeout), timeout)
    names = list(CASES)
    diagnoser.diagnose(case_evidence(names[0]))
    seconds: list[float] = []
    outcomes: collections.Counter[str] = collections.Counter()
    for i in range(runs):
        ev = case_evidence(names[i % len(names)])
        started = time.perf_counter()
        result = diagnoser.diagnose(ev)
        seconds.append(time.perf_counter() - started)
        outcomes[result.llm_outcome] += 1
    return Timing(seconds, outcomes)


def measure_unreachable_fallback(runs: int = 5, timeout: float = 20.0) -> Timing:
    """diagnose() wall time when nothing listens at OLLAMA_HOST (connection refused)."""
    url = f"http://127.0.0.1:{free_port()}"
    diagnoser = service(OllamaBackend(url, MODEL_NAME, timeout=timeout), timeout)
    return _time(diagnoser, runs)


def measure_hang_fallback(timeout: float, runs: int = 2) -> Timing:
    """diagnose() wall time when the LLM accepts the request and never answers."""
    with FaultInjector(Fault.HANG, hang_seconds=timeout + 30) as injector:
        diagnoser = service(OllamaBackend(injector.url, MODEL_NAME, timeout=timeout), timeout)
        return _time(diagnoser, runs)


def _time(diagnoser: DiagnosisService, runs: int) -> Timing:
    seconds: list[float] = []
    outcomes: collections.Counter[str] = collections.Counter()
    for i in range(runs):
        ev = case_evidence(list(CASES)[i % len(CASES)])
        started = time.perf_counter()
        outcomes[diagnoser.diagnose(ev).llm_outcome] += 1
        seconds.append(time.perf_counter() - started)
    return Timing(seconds, outcomes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="LLM diagnosis latency and fallback times")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--runs", type=int, default=5, help="model diagnoses to time")
    parser.add_argument("--hang-timeout", type=float, default=5.0, help="LLM_TIMEOUT_SECONDS")
    args = parser.parse_args(argv)
    if not args.model.exists():
        raise SystemExit(f"{args.model} is missing; run `make testbed` first")

    print(f"LLM diagnosis benchmark (model {args.model.name}, via the Ollama-API test server)")
    with tempfile.TemporaryDirectory(prefix="itops-bench-llm-") as logs:
        port = free_port()
        started = time.perf_counter()
        server = start_service(
            "ollama-test-server",
            python_module(
                "testbed.ollama_server",
                *("--model", str(args.model), "--listen", f"127.0.0.1:{port}"),
            ),
            port=port,
            log_dir=Path(logs),
            ready_url=f"http://127.0.0.1:{port}/api/version",
            timeout=120,
        )
        ready = time.perf_counter() - started
        loaded = re.search(r"loaded .* in ([0-9.]+)s", server.log())
        try:
            latency = measure_llm_latency(server.url, args.runs)
        finally:
            server.stop()
    unreachable = measure_unreachable_fallback()
    hang = measure_hang_fallback(args.hang_timeout)

    load = f"{float(loaded.group(1)):.2f} s" if loaded else "n/a"
    print(f"  test server start incl. model load   {ready:7.2f} s   (model load alone {load})")
    print(
        f"  LLM diagnosis latency p50            {latency.p50:7.2f} s"
        f"   (max {max(latency.seconds):.2f} s over {len(latency.seconds)} runs; "
        f"outcomes {dict(latency.outcomes)})"
    )
    print(
        f"  fallback, LLM unreachable p50        {unreachable.p50 * 1000:7.1f} ms"
        f"  (outcomes {dict(unreachable.outcomes)})"
    )
    print(
        f"  fallback, LLM hangs p50              {hang.p50:7.2f} s"
        f"   (LLM_TIMEOUT_SECONDS={args.hang_timeout:g}; outcomes {dict(hang.outcomes)})"
    )


if __name__ == "__main__":
    main()
