"""Diagnosis benchmark: the deterministic classifier's throughput and accuracy (not a test).

    .venv/bin/python -m bench.diagnosis [--rounds N] [--seconds S] [--check]

1. loads the labelled corpus (testbed/corpus_data, redacted as the healer's
   evidence step does) and prints the classifier's accuracy on it: category,
   and restart_safe;
2. classifier throughput in diagnoses per second over the corpus as it is,
   the median of N rounds of at least S seconds each, counted in this
   process's CPU time (what one core can do, whatever else the machine runs)
   and in wall-clock time (what it did here, load included);
3. the same with every case's logs padded to 200 lines of the matching
   service's ordinary traffic (the scan window, so the worst realistic case);
4. the latency of one diagnosis, p50 and p99, over the padded cases.

The figures are printed against the issues' targets (accuracy >= 97%,
throughput >= 1000 diagnoses/s on the 2-core CI machine); with --check the
exit status is 1 when a target is missed.

Sections are plain functions `(args, cases) -> list[Figure]` listed in
SECTIONS, and options come from the functions in ARGUMENTS: a further part of
the benchmark (such as the LLM's latency and fallback time, measured today by
bench/llm_diagnosis.py) joins this run by appending one of each. Real injected
faults are bench/diagnosis_faults.py; a model's quality is bench/llm_eval.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from healer.diagnosis.classifier import SCAN_LINES, classify, default_classifier
from healer.model import Evidence
from testbed.corpus import Case, load_corpus
from testbed.corpus_noise import DEFAULT_NOISE_END, generate_noise

TARGET_ACCURACY = 0.97
TARGET_RATE = 1000.0


@dataclass(frozen=True)
class Figure:
    """One printed measurement, with the target it is held to (if any)."""

    name: str
    value: float
    unit: str
    fmt: str = "{:,.0f}"
    target: float | None = None  # the value must be at least this
    note: str = ""

    @property
    def ok(self) -> bool | None:
        return None if self.target is None else self.value >= self.target

    def line(self) -> str:
        shown = self.fmt.format(self.value)
        text = f"  {self.name:<52} {shown:>8} {self.unit}"
        if self.target is not None:
            target = self.fmt.format(self.target)
            text += f"   (target >= {target} {self.unit}: {'ok' if self.ok else 'MISSED'})"
        if self.note:
            text += f"   {self.note}"
        return text


Section = Callable[[argparse.Namespace, Sequence[Case]], list[Figure]]


def classifier_accuracy(args: argparse.Namespace, cases: Sequence[Case]) -> list[Figure]:
    diagnoses = [classify(case.evidence) for case in cases]
    category = sum(d.category is c.category for d, c in zip(diagnoses, cases, strict=True))
    safe = sum(d.restart_safe == c.restart_safe for d, c in zip(diagnoses, cases, strict=True))
    return [
        Figure(
            "classifier accuracy, category",
            100 * category / len(cases),
            "%",
            "{:.1f}",
            100 * TARGET_ACCURACY,
            f"{category}/{len(cases)} cases",
        ),
        Figure(
            "classifier accuracy, restart_safe",
            100 * safe / len(cases),
            "%",
            "{:.1f}",
            100 * TARGET_ACCURACY,
            f"{safe}/{len(cases)} cases",
        ),
    ]


def classifier_throughput(args: argparse.Namespace, cases: Sequence[Case]) -> list[Figure]:
    corpus = [case.evidence for case in cases]
    padded = [padded_evidence(case) for case in cases]
    default_classifier()  # load the table outside the timing
    mean_lines = statistics.fmean(len(e.log_lines) for e in corpus)
    figures = []
    for label, evidences in (
        (f"corpus ({mean_lines:.0f} lines/case)", corpus),
        (f"{SCAN_LINES}-line logs", padded),
    ):
        cpu, wall = _median_rates(evidences, args.rounds, args.seconds)
        figures += [
            Figure(
                f"classifier throughput, {label}, CPU",
                cpu,
                "diagnoses/s",
                target=TARGET_RATE,
                note=f"median of {args.rounds} rounds",
            ),
            Figure(f"classifier throughput, {label}, wall", wall, "diagnoses/s"),
        ]
    latencies = _latencies(padded, repeats=max(1, 2000 // len(padded)))
    return [
        *figures,
        Figure("classifier latency p50, wall", _percentile(latencies, 50) * 1e6, "µs"),
        Figure("classifier latency p99, wall", _percentile(latencies, 99) * 1e6, "µs"),
    ]


SECTIONS: list[Section] = [classifier_accuracy, classifier_throughput]


def _classifier_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (median reported)")
    parser.add_argument("--seconds", type=float, default=0.3, help="minimum length of a round")


ARGUMENTS: list[Callable[[argparse.ArgumentParser], None]] = [_classifier_arguments]


def padded_evidence(case: Case, lines: int = SCAN_LINES) -> Evidence:
    """The case's evidence with ordinary traffic before its logs, up to `lines` lines."""
    evidence = case.evidence
    missing = lines - len(evidence.log_lines)
    if missing <= 0 or evidence.facts is None:
        return evidence
    noise = generate_noise(_noise_kind(evidence), missing, f"pad:{case.name}", DEFAULT_NOISE_END)
    return replace(evidence, log_lines=(*noise, *evidence.log_lines))


def _noise_kind(evidence: Evidence) -> str:
    image = evidence.facts.image if evidence.facts else ""
    for word, kind in (("nginx", "nginx-access"), ("postgres", "postgres"), ("redis", "redis")):
        if word in image:
            return kind
    return "gunicorn"


def _median_rates(
    evidences: Sequence[Evidence], rounds: int, seconds: float
) -> tuple[float, float]:
    """Median diagnoses per second of CPU time and of wall-clock time over `rounds` rounds."""
    cpu_rates, wall_rates = [], []
    for _ in range(rounds):
        done = 0
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        while True:
            for evidence in evidences:
                classify(evidence)
            done += len(evidences)
            wall = time.perf_counter() - wall_started
            if wall >= seconds:
                break
        cpu_rates.append(done / max(time.process_time() - cpu_started, 1e-9))
        wall_rates.append(done / wall)
    return statistics.median(cpu_rates), statistics.median(wall_rates)


def _latencies(evidences: Sequence[Evidence], repeats: int) -> list[float]:
    clock = time.perf_counter
    out = []
    for _ in range(repeats):
        for evidence in evidences:
            started = clock()
            classify(evidence)
            out.append(clock() - started)
    return out


def _percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section, print its figures; 1 with --check when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    for add_arguments in ARGUMENTS:
        add_arguments(parser)
    args = parser.parse_args(argv)
    cases = load_corpus()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"diagnosis benchmark: {len(cases)} corpus cases; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f}"
    )
    figures: list[Figure] = []
    for section in SECTIONS:
        found = section(args, cases)
        for figure in found:
            print(figure.line())
        figures.extend(found)
    missed = [f.name for f in figures if f.ok is False]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
