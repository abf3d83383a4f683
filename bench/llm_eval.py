"""LLM evaluation any user can run on their own model: real faults and the labelled corpus.

    .venv/bin/python -m bench.llm_eval --backend ollama --model llama3.2 [--host URL]
    .venv/bin/python -m bench.llm_eval --backend openai --model NAME --base-url URL/v1
    .venv/bin/python -m bench.llm_eval --backend local --limit 6     # the test bed's Gemma

Every case — the real faults of `testbed.corpus_faults` (injected on the
Docker Engine this machine reaches; `--faults none` skips them) and the
labelled log corpus — goes through the healer's own `DiagnosisService`, with
the same prompt, schema, validation and grounding as in production, one model
call per case (no cache, no cap). It prints:

- category accuracy against the labels, next to the rules' on the same cases,
  and how often model and rules agree;
- schema-valid rate (of the answers that arrived) and answer rate (no timeout
  or error);
- grounding rate: answers whose every quoted line is really in the logs, and
  the share of quoted lines that are;
- vetoes of a restart that heals: cases labelled `restart_safe` (a restart
  fixes them) where the model said false — what LLM_CAN_VETO=true would have
  withheld; and the reverse, which the healer ignores by design;
- p50/p95 latency of a diagnosis, and tokens per diagnosis (as the server
  counts them);
- a confusion table of the model's categories.

`--limit N` takes N cases round-robin over the categories (faults first), for
a quick look or CI; `--json FILE` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import docker

from bench.evaluation import (
    Judged,
    Labelled,
    confusion,
    from_corpus,
    from_faults,
    judge,
    median,
    pct,
    percentile,
    sample,
    service_for,
)
from bench.llm_backends import add_backend_arguments, open_backend
from fleet.docker_env import docker_client
from healer.model import Evidence
from testbed.corpus import load_corpus
from testbed.corpus_faults import FAULTS, Fault
from testbed.corpus_injection import run_faults

LOCAL_LIMIT = 10


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_backend_arguments(parser, default="local")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help=f"evaluate at most N cases (0: all; default all, {LOCAL_LIMIT} with --backend local)",
    )
    parser.add_argument(
        "--faults", choices=("all", "subset", "none"), default="all", help="real faults to inject"
    )
    parser.add_argument("--no-corpus", action="store_true", help="skip the labelled log corpus")
    parser.add_argument("--json", dest="json_path", default="", help="also write figures here")
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    args = parser.parse_args(argv)
    if args.backend == "none":
        parser.error("the evaluation needs a model: --backend ollama|openai|local")
    if args.limit is None and args.backend == "local":
        # The test bed's 270M base model proves the plumbing; a full run takes an hour on 2 cores.
        args.limit = LOCAL_LIMIT
        print(f"(--backend local: {LOCAL_LIMIT} cases; --limit 0 for all)")
    if args.limit == 0:
        args.limit = None

    corpus = [] if args.no_corpus else from_corpus(load_corpus())
    faults = [f for f in FAULTS if args.faults == "all" or (args.faults == "subset" and f.subset)]
    # Choose first, inject after: a --limit run only starts the faults it evaluates.
    placeholders = [_placeholder(f) for f in faults]
    chosen = sample([*placeholders, *corpus], args.limit)
    chosen_faults = [f for f in faults if any(c.name == f.name for c in chosen)]
    injected = _inject(chosen_faults)
    cases = [injected.get(c.name, c) if c.origin == "fault" else c for c in chosen]
    cases = [c for c in cases if c.origin != "fault" or c.name in injected]

    with open_backend(args) as meter:
        assert meter is not None
        service = service_for(meter, args.timeout)
        faults_n = sum(c.origin == "fault" for c in cases)
        print(
            f"LLM evaluation: {meter.describe}; {len(cases)} cases ({faults_n} real "
            f"fault{'' if faults_n == 1 else 's'}, {len(cases) - faults_n} from the corpus), "
            f"timeout {args.timeout:g}s"
        )
        judged: list[Judged] = []
        for case in cases:
            judged.append(judge(case, service, meter))
            if args.verbose:
                print("  " + _case_line(judged[-1]), flush=True)
        describe = meter.describe

    figures = summarize(judged)
    for line in report(figures, judged, describe):
        print(line)
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as out:
            json.dump({"model": describe, **figures}, out, indent=2)
    return 0


def summarize(judged: Sequence[Judged]) -> dict[str, Any]:
    """The figures, as plain numbers (what --json writes)."""
    n = len(judged)
    answered = [j for j in judged if j.answered]
    valid = [j for j in judged if j.valid]
    llm_hits = sum(j.llm_category is j.case.category for j in valid)
    rules_hits = sum(j.rules.category is j.case.category for j in judged)
    agree = sum(j.llm_category is j.rules.category for j in valid)
    fully_grounded = sum(j.quotes > 0 and j.quotes_grounded == j.quotes for j in valid)
    quotes = sum(j.quotes for j in valid)
    grounded = sum(j.quotes_grounded for j in valid)
    heals = [j for j in valid if j.case.restart_safe]
    vetoes = sum(j.llm_restart_safe is False for j in heals)
    persistent = [j for j in valid if not j.case.restart_safe]
    permissive = sum(j.llm_restart_safe is True for j in persistent)
    seconds = [j.seconds for j in judged if j.seconds is not None]
    tokens = [j.tokens for j in judged if j.tokens is not None]
    outcomes: dict[str, int] = {}
    for j in judged:
        if j.result is not None:
            outcomes[j.result.llm_outcome] = outcomes.get(j.result.llm_outcome, 0) + 1
    return {
        "cases": n,
        "answered": len(answered),
        "schema_valid": len(valid),
        "llm_category_correct": llm_hits,
        "rules_category_correct": rules_hits,
        "llm_rules_agree": agree,
        "answers_fully_grounded": fully_grounded,
        "quotes": quotes,
        "quotes_grounded": grounded,
        "restart_heals_cases": len(heals),
        "vetoes_of_healing_restart": vetoes,
        "persistent_cases": len(persistent),
        "said_restart_safe_when_not": permissive,
        "latency_p50_s": round(median(seconds), 3) if seconds else None,
        "latency_p95_s": round(percentile(seconds, 95), 3) if seconds else None,
        "tokens_per_diagnosis": round(sum(tokens) / len(tokens), 1) if tokens else None,
        "outcomes": outcomes,
    }


def report(f: dict[str, Any], judged: Sequence[Judged], model: str) -> list[str]:
    n, valid, answered = f["cases"], f["schema_valid"], f["answered"]
    llm, rules, agree = f["llm_category_correct"], f["rules_category_correct"], f["llm_rules_agree"]
    full, quotes, grounded = f["answers_fully_grounded"], f["quotes"], f["quotes_grounded"]
    vetoes, heals = f["vetoes_of_healing_restart"], f["restart_heals_cases"]
    loose, persistent = f["said_restart_safe_when_not"], f["persistent_cases"]
    p50, p95 = _seconds(f["latency_p50_s"]), _seconds(f["latency_p95_s"])
    return [
        "",
        _row("category accuracy, model", llm, n, "no valid answer counts as wrong"),
        _row("category accuracy, rules", rules, n, "the same cases"),
        _row("model agrees with the rules", agree, valid, "valid answers"),
        _row("answer rate", answered, n, f"outcomes {f['outcomes']}"),
        _row("schema-valid rate", valid, answered, "answers"),
        _row("grounded answers", full, valid, "every quoted line is in the logs"),
        _row("grounded quotes", grounded, quotes, "quoted lines"),
        _row("vetoes of a healing restart", vetoes, heals, "withheld with LLM_CAN_VETO=true"),
        _row("restart_safe where it is not", loose, persistent, "ignored: the rules' false stands"),
        f"  {'latency p50 / p95':<30} {p50} / {p95}",
        f"  {'tokens per diagnosis':<30} {f['tokens_per_diagnosis'] or 'n/a (not reported)'}",
        "",
        *confusion(
            [(j.case.category, j.llm_category) for j in judged],
            f"model categories ({model}; none = no valid answer):",
        ),
    ]


def _row(label: str, part: int, whole: int, note: str) -> str:
    return f"  {label:<30} {pct(part, whole):>7}   ({part}/{whole}; {note})"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


def _case_line(j: Judged) -> str:
    got = j.llm_category.value if j.llm_category else (j.result.llm_outcome if j.result else "-")
    seconds = f"{j.seconds:.1f}s" if j.seconds is not None else ""
    return (
        f"{j.case.origin:6} {j.case.name:<48} expected {j.case.category.value:<13} "
        f"model {got:<13} rules {j.rules.category.value:<13} {seconds}"
    )


def _placeholder(fault: Fault) -> Labelled:
    return Labelled(
        fault.name, "fault", Evidence(fault.name, None), fault.category, fault.restart_safe
    )


def _inject(faults: Sequence[Fault]) -> dict[str, Labelled]:
    if not faults:
        return {}
    try:
        client = docker_client(os.environ)
        client.ping()
    except docker.errors.DockerException as exc:
        print(f"(no Docker Engine answers, real faults skipped: {exc})")
        return {}
    return {c.name: c for c in from_faults(run_faults(client, faults))}


if __name__ == "__main__":
    sys.exit(main())
