"""Fault-injection benchmark: real faults in real containers, diagnosed as the healer would.

    .venv/bin/python -m bench.diagnosis_faults [--subset] [--workers N] [--markdown]
        [--backend ollama|openai|local --model ... --host/--base-url ...]

Every fault of `testbed.corpus_faults` (42: memory, pids, descriptors, CPU
time, file size, disks, read-only roots, permissions, commands Docker cannot
run, arguments, environment, configuration files, DNS, refusing peers, taken
ports, health checks, SIGSEGV, SIGABRT, operator stops, exit 0) is injected
into a container on the test bed's Docker Engine; the evidence is gathered
through the healer's own `evidence.gather` and the real Docker adapter. It
prints each fault's verdict, then per-category accuracy and a confusion table
for the rules alone and, with a model configured, for the model alone and for
rules + LLM (the healer's final diagnosis: the model's answer when valid and
grounded, never more permissive than the rules). `--markdown` prints the
rules' table as it appears in the README. Exit status 1 when the rules miss a
fault.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from bench.evaluation import Judged, confusion, from_faults, judge, pct, service_for
from bench.llm_backends import add_backend_arguments, open_backend
from fleet.docker_env import docker_client
from testbed.corpus_faults import FAULTS
from testbed.corpus_injection import run_faults


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--subset", action="store_true", help="only the quick subset make test runs"
    )
    parser.add_argument("--workers", type=int, default=6, help="faults injected at once")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    add_backend_arguments(parser)
    args = parser.parse_args(argv)

    faults = [f for f in FAULTS if f.subset or not args.subset]
    client = docker_client(os.environ)
    started = time.monotonic()
    outcomes = run_faults(client, faults, workers=args.workers)
    injected = time.monotonic() - started
    cases = from_faults(outcomes)
    print(f"fault-injection benchmark: {len(cases)} real faults injected in {injected:.1f}s")

    with open_backend(args) as meter:
        service = service_for(meter, args.timeout) if meter is not None else None
        if meter is not None:
            print(f"model: {meter.describe} (each fault diagnosed once, no cache)")
        judged = [judge(case, service, meter) for case in cases]

    print()
    for line in verdicts(judged, with_llm=meter is not None):
        print(line)
    print()
    rules_pairs = [(j.case.category, j.rules.category) for j in judged]
    for line in confusion(rules_pairs, "rules alone:"):
        print(line)
    safe = sum(j.rules.restart_safe == j.case.restart_safe for j in judged)
    print(f"  restart_safe as expected: {safe}/{len(judged)} {pct(safe, len(judged))}")
    if meter is not None:
        print()
        model_pairs = [(j.case.category, j.llm_category) for j in judged]
        for line in confusion(model_pairs, f"model alone ({meter.describe}, valid answers):"):
            print(line)
        print()
        final_pairs = [(j.case.category, j.final.category) for j in judged]
        for line in confusion(final_pairs, "rules + LLM (the healer's final diagnosis):"):
            print(line)
        safe = sum(j.final.restart_safe == j.case.restart_safe for j in judged)
        print(f"  restart_safe as expected: {safe}/{len(judged)} {pct(safe, len(judged))}")
    if args.markdown:
        print()
        for line in markdown(judged):
            print(line)
    missed = [j.case.name for j in judged if not rules_ok(j)]
    if missed:
        print(f"\nrules missed: {', '.join(missed)}")
    return 1 if missed else 0


def rules_ok(j: Judged) -> bool:
    return j.rules.category is j.case.category and j.rules.restart_safe == j.case.restart_safe


def verdicts(judged: Sequence[Judged], *, with_llm: bool) -> list[str]:
    width = max(len(j.case.name) for j in judged)
    lines = []
    for j in judged:
        expected = f"{j.case.category.value}/{'restart' if j.case.restart_safe else 'no restart'}"
        got = f"{j.rules.category.value}/{'restart' if j.rules.restart_safe else 'no restart'}"
        line = f"  {'ok  ' if rules_ok(j) else 'MISS'} {j.case.name:<{width}}  {expected:<27} "
        line += f"rules: {got:<27} ({j.rules.signature})"
        if with_llm:
            llm = j.llm_category.value if j.llm_category else j.result and j.result.llm_outcome
            line += f"  model: {llm}"
        lines.append(line)
    return lines


def markdown(judged: Sequence[Judged]) -> list[str]:
    lines = [
        "| Fault (real, on the test bed) | Expected | Rules alone | Signature |",
        "|---|---|---|---|",
    ]
    for j in judged:
        fault = next(f for f in FAULTS if f.name == j.case.name)
        expected = f"{j.case.category.value}, {'restart' if j.case.restart_safe else 'no restart'}"
        got = f"{j.rules.category.value}, {'restart' if j.rules.restart_safe else 'no restart'}"
        mark = "" if rules_ok(j) else " ✗"
        lines.append(f"| {fault.about} | {expected} | {got}{mark} | `{j.rules.signature}` |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
