"""The deterministic classifier, measured on the labelled corpus and pinned by behaviour.

The corpus test prints the accuracy (category and restart_safe) and fails
under 97%; the tests after it pin the decisions the policy depends on.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from fleet.facts import HealthProbe
from healer.diagnosis.classifier import Classifier, classify, default_classifier
from healer.diagnosis.finding import MAX_EVIDENCE_CHARS, MAX_EVIDENCE_LINES, signal_name
from healer.diagnosis.signatures import SignatureError, load_signatures, parse_signatures
from healer.model import Category, Diagnosis, Evidence, Source
from testbed.corpus import Case, container_facts, make_evidence

REQUIRED_ACCURACY = 0.97
REQUIRED_ECOSYSTEMS = {
    "Python",
    "Node.js",
    "Java/Spring",
    "Go",
    "Rust",
    "Ruby",
    "PHP",
    ".NET",
    "nginx",
    "Apache httpd",
    "HAProxy",
    "PostgreSQL",
    "MySQL/MariaDB",
    "MongoDB",
    "Redis",
    "RabbitMQ",
    "Kafka",
    "Elasticsearch",
    "shell entrypoints",
    "process supervisors",
}


def _verdict(case: Case) -> tuple[Diagnosis, bool, bool]:
    diagnosis = classify(case.evidence)
    return (
        diagnosis,
        diagnosis.category is case.category,
        diagnosis.restart_safe == case.restart_safe,
    )


# -- the corpus ----------------------------------------------------------------


def test_corpus_has_at_least_150_cases_from_20_ecosystems_in_all_five_categories(
    corpus: list[Case],
) -> None:
    counts = Counter(case.category for case in corpus)
    ecosystems = Counter(case.ecosystem for case in corpus)
    assert len(corpus) >= 150
    assert set(counts) == set(Category)
    assert min(counts.values()) >= 10
    assert set(ecosystems) >= REQUIRED_ECOSYSTEMS
    assert min(ecosystems[e] for e in REQUIRED_ECOSYSTEMS) >= 3


def test_every_corpus_case_says_where_its_message_format_comes_from(corpus: list[Case]) -> None:
    assert [c.name for c in corpus if len(c.source) < 20] == []


def test_corpus_cases_carry_realistic_log_volumes(corpus: list[Case]) -> None:
    with_noise = [c for c in corpus if len(c.evidence.log_lines) >= 100]
    assert len(with_noise) >= len(corpus) * 0.6
    assert max(len(c.evidence.log_lines) for c in corpus) <= 250


def test_classifier_accuracy_on_the_corpus_is_at_least_97_percent(
    corpus: list[Case], capsys: pytest.CaptureFixture[str]
) -> None:
    misses = []
    category_hits = safe_hits = 0
    for case in corpus:
        diagnosis, category_ok, safe_ok = _verdict(case)
        category_hits += category_ok
        safe_hits += safe_ok
        if not (category_ok and safe_ok):
            misses.append(
                f"  {case.file}:{case.name}: expected {case.category.value}/"
                f"restart_safe={case.restart_safe}, got {diagnosis.category.value}/"
                f"restart_safe={diagnosis.restart_safe} ({diagnosis.signature})"
            )
    category_accuracy = category_hits / len(corpus)
    safe_accuracy = safe_hits / len(corpus)
    with capsys.disabled():
        print(
            f"\nclassifier accuracy on {len(corpus)} corpus cases: "
            f"category {category_accuracy:.1%}, restart_safe {safe_accuracy:.1%}"
        )
        for miss in misses:
            print(miss)
    assert category_accuracy >= REQUIRED_ACCURACY
    assert safe_accuracy >= REQUIRED_ACCURACY


def test_labelled_signatures_decide_their_cases(corpus: list[Case]) -> None:
    wrong = {
        case.name: classify(case.evidence).signature
        for case in corpus
        if case.signature and classify(case.evidence).signature != case.signature
    }
    assert wrong == {}


# -- behaviour -----------------------------------------------------------------


def test_nginx_emerg_is_a_configuration_error_that_a_restart_will_not_fix(
    cases_by_name: dict[str, Case],
) -> None:
    diagnosis = classify(cases_by_name["nginx-unknown-directive-after-restart"].evidence)

    assert diagnosis.category is Category.CONFIGURATION
    assert diagnosis.restart_safe is False
    assert "proxy_pas" in diagnosis.root_cause
    assert "nginx -t" in diagnosis.recommendation


def test_any_nginx_emerg_line_stops_the_restarts() -> None:
    evidence = make_evidence(
        '2025/03/12 10:15:02 [emerg] 1#1: "worker_connections" directive is not allowed here'
        " in /etc/nginx/nginx.conf:4",
        exit_code=1,
    )

    diagnosis = classify(evidence)

    assert diagnosis.category is Category.CONFIGURATION
    assert diagnosis.restart_safe is False


def test_oom_killed_exit_137_is_a_resource_problem(cases_by_name: dict[str, Case]) -> None:
    for name in ("oom-killed-without-any-log-line", "oom-killed-during-batch"):
        diagnosis = classify(cases_by_name[name].evidence)

        assert diagnosis.category is Category.RESOURCE
        assert diagnosis.restart_safe is True
        assert diagnosis.signature == "oom-killed"
        assert "memory limit" in diagnosis.root_cause


def test_oom_without_any_log_line_quotes_no_evidence(cases_by_name: dict[str, Case]) -> None:
    diagnosis = classify(cases_by_name["oom-killed-without-any-log-line"].evidence)

    assert diagnosis.evidence == ()


def test_exit_137_without_an_oom_kill_is_a_stop_not_a_memory_problem() -> None:
    diagnosis = classify(make_evidence(exit_code=137, oom_killed=False))

    assert diagnosis.category is Category.UNKNOWN
    assert diagnosis.restart_safe is True
    assert "SIGKILL" in diagnosis.root_cause


@pytest.mark.parametrize(
    "name",
    [
        "nginx-operator-stop",
        "postgres-operator-stop-with-client-errors",
        "redis-operator-stop",
        "gunicorn-operator-stop-with-error-words",
        "nginx-bad-reload-then-stopped",
    ],
)
def test_an_operator_stop_is_not_a_failure_and_may_be_restarted(
    cases_by_name: dict[str, Case], name: str
) -> None:
    diagnosis = classify(cases_by_name[name].evidence)

    assert diagnosis.category is Category.UNKNOWN
    assert diagnosis.restart_safe is True
    assert diagnosis.signature == "clean-shutdown"


def test_shutdown_lines_do_not_hide_a_failure_when_the_exit_code_says_otherwise() -> None:
    logs = [
        "2025-03-12 10:14:58.260 UTC [40] FATAL:  could not write to file "
        '"pg_wal/xlogtemp.40": No space left on device',
        "2025-03-12 10:14:58.270 UTC [1] LOG:  database system is shut down",
    ]

    diagnosis = classify(make_evidence(logs, name="prod-db-01", exit_code=1))

    assert diagnosis.signature == "disk-full"
    assert diagnosis.restart_safe is False


def test_a_container_that_simply_exited_may_be_restarted() -> None:
    for exit_code in (0, 1, 143):
        diagnosis = classify(make_evidence(exit_code=exit_code))

        assert diagnosis.category in (Category.UNKNOWN, Category.CRASH)
        assert diagnosis.restart_safe is True


def test_log_lines_that_mention_error_in_normal_operation_do_not_make_a_failure() -> None:
    logs = [
        "2025-03-12 10:19:40,114 WARNING app.payments: transient error talking to payments API, "
        "retrying in 0.5s (attempt 1/3)",
        '172.18.0.1 - - [12/Mar/2025:10:19:41 +0000] "GET /static/img/error-404.png HTTP/1.1" '
        '200 5120 "-" "curl/8.5.0"',
        "2025-03-12 10:19:55,002 INFO app.reports: nightly export finished: 1532 rows, 0 errors",
        '2025/03/12 10:19:56 [error] 29#29: *12 open() "/usr/share/nginx/html/favicon.ico" '
        "failed (2: No such file or directory), client: 172.18.0.1, server: localhost, "
        'request: "GET /favicon.ico HTTP/1.1", host: "shop.example.com"',
        "2025-03-12 10:19:57.001 UTC [88] ERROR:  duplicate key value violates unique "
        'constraint "customers_email_key"',
    ]

    diagnosis = classify(make_evidence(logs, exit_code=0))

    assert diagnosis.signature == "exited-cleanly"
    assert diagnosis.evidence == ()


def test_a_dns_name_that_does_not_exist_is_persistent_but_a_refused_connection_is_transient(
    cases_by_name: dict[str, Case],
) -> None:
    missing_name = classify(cases_by_name["node-getaddrinfo-enotfound"].evidence)
    refused = classify(cases_by_name["node-econnrefused-database"].evidence)

    assert missing_name.category is refused.category is Category.DEPENDENCY
    assert missing_name.restart_safe is False
    assert refused.restart_safe is True
    assert "db" in missing_name.root_cause
    assert "172.18.0.3:5432" in refused.root_cause


def test_a_temporary_dns_failure_is_transient(cases_by_name: dict[str, Case]) -> None:
    diagnosis = classify(cases_by_name["node-getaddrinfo-eai-again"].evidence)

    assert diagnosis.category is Category.DEPENDENCY
    assert diagnosis.restart_safe is True
    assert "api.payments.example" in diagnosis.root_cause


def test_a_rejected_password_is_a_dependency_failure_a_restart_will_not_fix(
    cases_by_name: dict[str, Case],
) -> None:
    diagnosis = classify(cases_by_name["python-auth-failed-sqlalchemy"].evidence)

    assert diagnosis.category is Category.DEPENDENCY
    assert diagnosis.restart_safe is False
    assert "orders" in diagnosis.root_cause


def test_localhost_inside_a_container_is_a_configuration_mistake(
    cases_by_name: dict[str, Case],
) -> None:
    diagnosis = classify(cases_by_name["python-database-url-points-at-localhost"].evidence)

    assert diagnosis.category is Category.CONFIGURATION
    assert diagnosis.restart_safe is False
    assert "service name" in diagnosis.recommendation


def test_a_missing_environment_variable_is_named_in_the_diagnosis(
    cases_by_name: dict[str, Case],
) -> None:
    diagnosis = classify(cases_by_name["python-keyerror-database-url"].evidence)

    assert diagnosis.category is Category.CONFIGURATION
    assert diagnosis.restart_safe is False
    assert "DATABASE_URL" in diagnosis.root_cause
    assert "DATABASE_URL" in diagnosis.recommendation


def test_a_keyerror_on_an_ordinary_key_is_a_crash_not_configuration(
    cases_by_name: dict[str, Case],
) -> None:
    diagnosis = classify(cases_by_name["python-keyerror-in-business-code"].evidence)

    assert diagnosis.category is Category.CRASH
    assert diagnosis.restart_safe is True


def test_heap_exhaustion_is_a_resource_problem_even_when_the_process_aborts(
    cases_by_name: dict[str, Case],
) -> None:
    node = cases_by_name["node-heap-out-of-memory"]
    assert node.evidence.facts is not None and node.evidence.facts.exit_code == 134
    for name in ("node-heap-out-of-memory", "java-heap-space", "go-runtime-out-of-memory"):
        diagnosis = classify(cases_by_name[name].evidence)

        assert diagnosis.category is Category.RESOURCE
        assert diagnosis.restart_safe is True


def test_a_full_disk_is_a_resource_problem_a_restart_will_not_fix(
    cases_by_name: dict[str, Case],
) -> None:
    diagnosis = classify(cases_by_name["postgres-disk-full-panic"].evidence)

    assert diagnosis.category is Category.RESOURCE
    assert diagnosis.restart_safe is False
    assert any("No space left on device" in line for line in diagnosis.evidence)


def test_a_segfault_exit_139_is_a_crash_a_restart_may_fix() -> None:
    diagnosis = classify(make_evidence(exit_code=139))

    assert diagnosis.category is Category.CRASH
    assert diagnosis.restart_safe is True
    assert "SIGSEGV" in diagnosis.root_cause


def test_a_go_panic_is_a_crash_led_by_its_panic_message(cases_by_name: dict[str, Case]) -> None:
    diagnosis = classify(cases_by_name["go-nil-pointer-panic"].evidence)

    assert diagnosis.category is Category.CRASH
    assert "nil pointer dereference" in diagnosis.root_cause
    assert diagnosis.evidence[0].startswith("panic: ")


def test_a_crash_loop_without_a_clue_is_not_worth_another_restart(
    cases_by_name: dict[str, Case],
) -> None:
    diagnosis = classify(cases_by_name["crash-loop-without-a-clue"].evidence)

    assert diagnosis.category is Category.CRASH
    assert diagnosis.restart_safe is False
    assert "14 times" in diagnosis.root_cause


def test_the_restart_count_is_mentioned_in_the_root_cause() -> None:
    evidence = make_evidence("Error: connect ECONNREFUSED 172.18.0.3:5432", restart_count=3)

    assert classify(evidence).root_cause.endswith("Docker has restarted it 3 times so far.")


def test_a_missing_container_cannot_be_restarted() -> None:
    diagnosis = classify(make_evidence(missing=True, name="prod-app-02"))

    assert diagnosis.category is Category.UNKNOWN
    assert diagnosis.restart_safe is False
    assert "prod-app-02" in diagnosis.root_cause


def test_a_healthy_running_container_with_quiet_logs_matches_no_known_failure() -> None:
    evidence = make_evidence(
        ["2025-03-12 10:14:58,001 INFO app.orders: order 1234 created"],
        state="running",
        exit_code=0,
        health_status="healthy",
    )

    diagnosis = classify(evidence)

    assert diagnosis.signature == "no-signature"
    assert diagnosis.category is Category.UNKNOWN
    assert diagnosis.restart_safe is True


def test_health_check_output_counts_as_evidence(cases_by_name: dict[str, Case]) -> None:
    diagnosis = classify(cases_by_name["health-check-timeout-hung-app"].evidence)

    assert diagnosis.signature == "health-timeout"
    assert diagnosis.evidence == ("Health check exceeded timeout (5s)",)


def test_health_output_is_read_from_the_docker_health_log_when_not_given() -> None:
    facts = container_facts(
        state="running",
        exit_code=0,
        health_status="unhealthy",
        health_log=(
            HealthProbe(0, "ok\n", None),
            HealthProbe(
                7, "curl: (7) Failed to connect to localhost port 8000: Connection refused\n", None
            ),
        ),
    )

    diagnosis = classify(Evidence(container="prod-app-01", facts=facts))

    assert diagnosis.signature == "health-self-refused"
    assert diagnosis.evidence == (
        "curl: (7) Failed to connect to localhost port 8000: Connection refused",
    )


def test_the_logs_outrank_a_generic_health_line(cases_by_name: dict[str, Case]) -> None:
    diagnosis = classify(cases_by_name["health-check-503-because-dependency-refused"].evidence)

    assert diagnosis.category is Category.DEPENDENCY
    assert diagnosis.signature == "connection-refused"


def test_docker_state_error_is_evidence(cases_by_name: dict[str, Case]) -> None:
    case = cases_by_name["exec-not-found-at-create"]
    diagnosis = classify(case.evidence)

    assert case.evidence.log_lines == ()
    assert diagnosis.category is Category.CONFIGURATION
    assert "gunicorn" in diagnosis.root_cause
    assert case.evidence.facts is not None
    assert diagnosis.evidence == (case.evidence.facts.error,)


def test_a_stronger_signature_wins_over_a_more_recent_weaker_one() -> None:
    logs = [
        "2025-03-12 10:14:58.120 UTC [31] PANIC:  could not write to file "
        '"pg_wal/xlogtemp.31": No space left on device',
        "2025-03-12 10:14:58.122 UTC [1] LOG:  WAL writer process (PID 31) was terminated by "
        "signal 6: Aborted",
        "2025-03-12 10:14:58.260 UTC [40] FATAL:  the startup process failed",
    ]

    diagnosis = classify(make_evidence(logs, name="prod-db-01", exit_code=1))

    assert diagnosis.signature == "disk-full"


def test_between_lines_of_one_signature_the_most_recent_one_leads() -> None:
    logs = [
        "Error: connect ECONNREFUSED 172.18.0.3:5432",
        '{"level":30,"msg":"retrying"}',
        "Error: connect ECONNREFUSED 172.18.0.4:6379",
    ]

    diagnosis = classify(make_evidence(logs))

    assert "172.18.0.4:6379" in diagnosis.root_cause


def test_only_the_last_scan_lines_are_read() -> None:
    classifier = Classifier(load_signatures(), scan_lines=10)
    logs = [
        '2025/03/12 10:15:02 [emerg] 1#1: unknown directive "proxy_pas" in /etc/nginx/a.conf:1',
        *[
            f'172.18.0.1 - - [12/Mar/2025:10:15:{i:02d} +0000] "GET / HTTP/1.1" 200 612'
            for i in range(10)
        ],
    ]

    assert classifier.classify(make_evidence(logs)).signature == "exited-with-error"
    assert classifier.classify(make_evidence(logs[:5])).signature == "nginx-config-invalid"


def test_the_offending_redis_directive_is_quoted_though_it_has_no_keyword(
    cases_by_name: dict[str, Case],
) -> None:
    diagnosis = classify(cases_by_name["redis-config-file-error"].evidence)

    assert ">>> 'maxmemmory 256mb'" in diagnosis.evidence
    assert "maxmemmory 256mb" in diagnosis.root_cause


def test_evidence_lines_are_quoted_verbatim_from_the_logs(corpus: list[Case]) -> None:
    for case in corpus:
        diagnosis = classify(case.evidence)
        facts = case.evidence.facts
        sources = [
            *case.evidence.log_lines,
            *case.evidence.health_output,
            *([facts.error] if facts and facts.error else []),
        ]
        assert len(diagnosis.evidence) <= MAX_EVIDENCE_LINES, case.name
        for quote in diagnosis.evidence:
            assert len(quote) <= MAX_EVIDENCE_CHARS, case.name
            if quote.endswith("…") and quote not in sources:
                assert any(line.startswith(quote[:-1]) for line in sources), (case.name, quote)
            else:
                assert quote in sources, (case.name, quote)


def test_evidence_is_capped_to_five_lines_of_bounded_length() -> None:
    logs = [f"Error: connect ECONNREFUSED 172.18.0.{i}:5432 {'x' * 900}" for i in range(12)]

    diagnosis = classify(make_evidence(logs))

    assert len(diagnosis.evidence) == MAX_EVIDENCE_LINES
    assert all(
        len(line) == MAX_EVIDENCE_CHARS and line.endswith("…") for line in diagnosis.evidence
    )
    assert diagnosis.evidence[-1].startswith("Error: connect ECONNREFUSED 172.18.0.11:5432")


def test_the_diagnosis_says_it_comes_from_the_rules_and_names_its_signature(
    corpus: list[Case],
) -> None:
    known = {sig.id for sig in default_classifier().signatures}
    for case in corpus:
        diagnosis = classify(case.evidence)

        assert diagnosis.source is Source.RULES
        assert diagnosis.signature in known
        assert diagnosis.root_cause and diagnosis.recommendation
        # No template field left unfilled (quoted lines may hold braces: JSON logs do).
        assert re.search(r"\{[a-z_]+\}", diagnosis.root_cause + diagnosis.recommendation) is None


def test_the_same_evidence_always_gets_the_same_diagnosis(corpus: list[Case]) -> None:
    fresh = Classifier(load_signatures())
    for case in corpus:
        assert fresh.classify(case.evidence) == classify(case.evidence)


def test_signal_names_come_from_exit_codes_above_128() -> None:
    assert signal_name(137) == "SIGKILL"
    assert signal_name(143) == "SIGTERM"
    assert signal_name(139) == "SIGSEGV"
    assert signal_name(1) == "no signal"


# -- the signature table ------------------------------------------------------


def _signature_examples() -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for sig in load_signatures():
        source = "health" if sig.sources == frozenset({"health"}) else "logs"
        rows.extend((sig.id, source, example) for example in sig.examples)
    return rows


@pytest.mark.parametrize(("signature", "source", "line"), _signature_examples())
def test_every_signature_example_is_recognised_by_its_signature(
    signature: str, source: str, line: str
) -> None:
    assert signature in default_classifier().matching(line, source)


def test_every_signature_with_patterns_documents_an_example() -> None:
    undocumented = [s.id for s in load_signatures() if s.patterns and not s.examples]

    assert undocumented == []


def test_the_signature_table_ships_as_package_data_and_covers_every_category() -> None:
    signatures = load_signatures()

    assert {s.category for s in signatures} == set(Category)
    assert len({s.id for s in signatures}) == len(signatures)


_VALID = """
signatures:
  - id: catch-all
    category: unknown
    restart_safe: true
    priority: 0
    root_cause: nothing known
    recommendation: look at the logs
"""


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "  - {id: bad-re, category: crash, restart_safe: true, priority: 5,"
            " root_cause: x, recommendation: y, keywords: [a], patterns: ['(']}",
            "'bad-re': bad pattern",
        ),
        (
            "  - {id: no-kw, category: crash, restart_safe: true, priority: 5,"
            " root_cause: x, recommendation: y, patterns: ['boom']}",
            "'no-kw': patterns over logs need keywords",
        ),
        (
            "  - {id: bad-field, category: crash, restart_safe: true, priority: 5,"
            " root_cause: '{host} is down', recommendation: y, keywords: [down],"
            " patterns: ['down']}",
            "'bad-field': `root_cause` uses {host}",
        ),
        (
            "  - {id: bad-cat, category: disaster, restart_safe: true, priority: 5,"
            " root_cause: x, recommendation: y}",
            "'bad-cat': `category`",
        ),
        (
            "  - {id: typo, category: crash, restart_safe: true, priority: 5,"
            " root_cause: x, recommendation: y, when: {exit_code: [1]}}",
            "'typo': unknown condition(s) exit_code",
        ),
        (
            "  - {id: upper, category: crash, restart_safe: true, priority: 5,"
            " root_cause: x, recommendation: y, keywords: [FATAL], patterns: ['FATAL']}",
            "'upper': keyword 'FATAL' must be lowercase",
        ),
    ],
)
def test_a_malformed_signature_table_is_refused_naming_the_entry(entry: str, message: str) -> None:
    with pytest.raises(SignatureError, match=None) as error:
        Classifier(parse_signatures(_VALID + entry + "\n"))

    assert message in str(error.value)


def test_a_table_without_a_catch_all_is_refused() -> None:
    text = _VALID.replace("priority: 0", "priority: 0\n    when: {exists: true}")

    with pytest.raises(SignatureError, match="catch-all"):
        Classifier(parse_signatures(text))


def test_a_group_every_pattern_provides_may_be_used_in_templates() -> None:
    text = _VALID + (
        "  - {id: svc, category: dependency, restart_safe: true, priority: 5,"
        " root_cause: '{svc} is down', recommendation: 'start {svc}', keywords: [down],"
        " patterns: ['(?P<svc>\\w+) is down']}\n"
    )
    classifier = Classifier(parse_signatures(text))

    diagnosis = classifier.classify(make_evidence("cache is down"))

    assert diagnosis.root_cause == "cache is down"
    assert diagnosis.recommendation == "start cache"


# -- speed -------------------------------------------------------------------


def test_the_classifier_keeps_up_with_an_alert_storm(corpus: list[Case]) -> None:
    """A loose floor in CPU time for CI; bench/diagnosis.py measures the real figure (1000/s)."""
    classify(corpus[0].evidence)
    started = time.process_time()
    rounds = 3
    for _ in range(rounds):
        for case in corpus:
            classify(case.evidence)
    rate = rounds * len(corpus) / max(time.process_time() - started, 1e-9)

    assert rate >= 250


def test_pathological_lines_do_not_make_the_classifier_slow() -> None:
    nasty = [
        "a" * 100_000,
        "error " * 20_000,
        "KeyError: '" + "A" * 50_000,
        "panic: " + "(" * 50_000,
        'Exception in thread "' + "x" * 50_000,
        'connection to server at "' + "db" * 20_000 + " Connection refused",
        "[emerg] " + '"' * 50_000,
        "ECONNREFUSED " * 10_000,
        "No space left on device " + "é" * 50_000,
        # Many starts for one pattern inside the matched length (4096 characters):
        "[emerg] " * 600,
        'connection to server at "db" ' * 150,
        'Exception in thread "main" ' * 160,
        "lookup db " * 450,
        'Is the server running on host "' * 140,
        "KeyError: '" * 400,
        "DATABASE_URL " * 350,
        "environment variable " * 200,
        "a.so" * 1100 + " shared object",
        "Assertion '" * 400,
        "/bin/sh: " * 500 + "not found",
    ]
    started = time.perf_counter()

    diagnosis = classify(make_evidence([*nasty] * 20, exit_code=1))

    assert time.perf_counter() - started < 2.0
    assert diagnosis.signature == "disk-full"
