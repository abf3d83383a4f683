"""Logs are written by the program, and so by whoever feeds it input: the decisive line is
the one that explains the exit, and printed text cannot make a persistent failure restartable.

Each case is a real failure in its program's own format followed by an adversarial tail:
lines an application could print (a user-supplied name, a logged request body, a test
fixture) that imitate restartable failures. The controls show that the same tails are
recognised, and restartable, when no persistent failure precedes them.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from healer.diagnosis.classifier import classify
from healer.diagnosis.ranking import is_minor
from healer.model import Category, Evidence
from testbed.corpus import make_evidence
from testbed.corpus_noise import DEFAULT_NOISE_END, generate_noise

# Restartable failures as their programs print them, any of which a program can print too.
IMITATIONS = {
    "java-heap": 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
    "node-heap": (
        "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
    ),
    "refused": "Error: connect ECONNREFUSED 10.0.4.21:5432",
    "segfault": "Segmentation fault (core dumped)",
    "go-panic": "panic: runtime error: index out of range [3] with length 3",
    "traceback": "ZeroDivisionError: division by zero",
    "fds": "OSError: [Errno 24] Too many open files: '/app/uploads/a.png'",
    "dns-again": "socket.gaierror: [Errno -3] Temporary failure in name resolution",
    "starting": "FATAL:  the database system is starting up",
    "timeout": "[2025-03-12 10:15:03 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:57)",
    "fatal-level": 'time="2025-03-12T10:15:03Z" level=fatal msg="out of memory"',
    "docker-facts": "State: OOMKilled=true ExitCode=137 restart_safe=true category=crash",
}

# Persistent failures, as the programs print them: (lines, exit code, category, signature).
PERSISTENT = {
    "nginx-upstream": (
        [
            '2025/03/12 10:15:02 [emerg] 1#1: host not found in upstream "app:8000" in '
            "/etc/nginx/conf.d/default.conf:5",
            'nginx: [emerg] host not found in upstream "app:8000" in '
            "/etc/nginx/conf.d/default.conf:5",
        ],
        1,
        Category.DEPENDENCY,
        "nginx-upstream-host-not-found",
    ),
    "python-env": (
        [
            "Traceback (most recent call last):",
            '  File "/app/worker.py", line 14, in <module>',
            '    DATABASE_URL = os.environ["DATABASE_URL"]',
            '  File "<frozen os>", line 679, in __getitem__',
            "KeyError: 'DATABASE_URL'",
        ],
        1,
        Category.CONFIGURATION,
        "missing-env-var",
    ),
    "node-dns": (
        [
            "Error: getaddrinfo ENOTFOUND orders-db",
            "    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26) {",
            "  errno: -3008,",
            "  code: 'ENOTFOUND',",
            "  syscall: 'getaddrinfo',",
            "  hostname: 'orders-db'",
            "}",
        ],
        1,
        Category.DEPENDENCY,
        "dns-name-not-found",
    ),
    "postgres-config": (
        [
            '2025-03-12 10:15:02.030 UTC [1] LOG:  invalid value for parameter "max_connections":'
            ' "lots"',
            "2025-03-12 10:15:02.031 UTC [1] FATAL:  configuration file "
            '"/var/lib/postgresql/data/postgresql.conf" contains errors',
        ],
        1,
        Category.CONFIGURATION,
        "postgres-config-invalid",
    ),
    "module": (
        ["ModuleNotFoundError: No module named 'flask_sqlalchemy'"],
        1,
        Category.CONFIGURATION,
        "module-not-found",
    ),
    "permission": (
        ["PermissionError: [Errno 13] Permission denied: '/data/uploads'"],
        1,
        Category.CONFIGURATION,
        "permission-denied",
    ),
    "disk": (
        [
            "2025-03-12 10:14:58.120 UTC [31] PANIC:  could not write to file "
            '"pg_wal/xlogtemp.31": No space left on device'
        ],
        1,
        Category.RESOURCE,
        "disk-full",
    ),
}


def with_tail(lines: list[str], tail: list[str], exit_code: int = 1) -> Evidence:
    noise = generate_noise("gunicorn", 80, "adversarial", DEFAULT_NOISE_END)
    return make_evidence([*noise, *lines, *tail], exit_code=exit_code)


@pytest.mark.parametrize("imitation", sorted(IMITATIONS))
@pytest.mark.parametrize("failure", sorted(PERSISTENT))
def test_a_printed_imitation_cannot_make_a_persistent_failure_restartable(
    failure: str, imitation: str
) -> None:
    lines, exit_code, category, signature = PERSISTENT[failure]

    diagnosis = classify(with_tail(lines, [IMITATIONS[imitation]] * 3, exit_code))

    assert (diagnosis.category, diagnosis.restart_safe) == (category, False)
    assert diagnosis.signature == signature


@pytest.mark.parametrize("failure", sorted(PERSISTENT))
def test_a_long_tail_of_every_imitation_at_once_changes_nothing(failure: str) -> None:
    lines, exit_code, category, signature = PERSISTENT[failure]
    tail = [line for _ in range(10) for line in IMITATIONS.values()]

    diagnosis = classify(with_tail(lines, tail, exit_code))

    assert (diagnosis.category, diagnosis.restart_safe, diagnosis.signature) == (
        category,
        False,
        signature,
    )


@pytest.mark.parametrize("imitation", sorted(set(IMITATIONS) - {"docker-facts", "fatal-level"}))
def test_the_imitations_alone_are_recognised_as_restartable_failures(imitation: str) -> None:
    diagnosis = classify(with_tail([], [IMITATIONS[imitation]]))

    assert diagnosis.restart_safe is True
    assert diagnosis.signature not in ("exited-with-error", "no-signature")


def test_the_reviewed_case_nginx_upstream_then_a_printed_java_heap_error_stays_a_dependency() -> (
    None
):
    evidence = make_evidence(
        [
            '2025/03/12 10:15:02 [emerg] 1#1: host not found in upstream "app:8000" in '
            "/etc/nginx/conf.d/default.conf:5",
            'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
        ],
        exit_code=1,
        image="nginx:1.25",
    )

    diagnosis = classify(evidence)

    assert diagnosis.category is Category.DEPENDENCY
    assert diagnosis.restart_safe is False
    assert "app:8000" in diagnosis.root_cause


def test_text_imitating_docker_facts_is_not_a_fact() -> None:
    diagnosis = classify(make_evidence([IMITATIONS["docker-facts"], "Killed"], exit_code=1))

    assert diagnosis.signature != "oom-killed"
    assert diagnosis.category is not Category.RESOURCE


# -- the exit code and signal come first --------------------------------------------------


def test_a_crash_signal_outranks_errors_the_program_printed_before_it() -> None:
    evidence = make_evidence(
        [
            '2025-03-12 10:15:01,100 ERROR app.db: connection to server at "db" (172.18.0.3),'
            " port 5432 failed: Connection refused",
            "2025-03-12 10:15:01,300 ERROR app.config: DATABASE_URL is not set, using default",
        ],
        exit_code=139,
    )

    diagnosis = classify(evidence)

    assert (diagnosis.category, diagnosis.restart_safe) == (Category.CRASH, True)
    assert "SIGSEGV" in diagnosis.root_cause


def test_an_operator_stop_outranks_the_exceptions_logged_while_shutting_down() -> None:
    evidence = make_evidence(
        [
            "2025-03-12T10:20:01.002Z  INFO 1 --- [ionShutdownHook] o.s.b.w.e.tomcat."
            "GracefulShutdown        : Commencing graceful shutdown. Waiting for active "
            "requests to complete",
            'Exception in thread "kafka-consumer-1" org.apache.kafka.common.errors.'
            "InterruptException: java.lang.InterruptedException",
            "Caused by: java.net.ConnectException: Connection refused",
        ],
        exit_code=143,
    )

    diagnosis = classify(evidence)

    assert diagnosis.category is Category.UNKNOWN
    assert diagnosis.restart_safe is True
    assert diagnosis.signature in ("clean-shutdown", "stopped-by-signal")


def test_an_oom_kill_is_a_fact_whatever_the_logs_say() -> None:
    nginx, *_ = PERSISTENT["nginx-upstream"]

    diagnosis = classify(make_evidence(nginx, exit_code=137, oom_killed=True))

    assert (diagnosis.category, diagnosis.signature) == (Category.RESOURCE, "oom-killed")


# -- the run ----------------------------------------------------------------------------


def test_a_configuration_error_of_an_earlier_run_does_not_decide_the_last_one() -> None:
    earlier = [
        '2025/03/12 10:10:02 [emerg] 1#1: unknown directive "proxy_pas" in '
        "/etc/nginx/conf.d/default.conf:14",
    ]
    last = [
        "2025/03/12 10:15:02 [notice] 1#1: start worker processes",
        "Error: connect ECONNREFUSED 172.18.0.4:8000",
    ]
    evidence = make_evidence([*earlier, *last], exit_code=1)

    assert classify(evidence).restart_safe is False  # without knowing the runs
    diagnosis = classify(replace(evidence, run_lines=len(last)))

    assert (diagnosis.category, diagnosis.restart_safe) == (Category.DEPENDENCY, True)


def test_an_earlier_run_still_explains_a_last_run_that_printed_nothing() -> None:
    earlier = ["Error: getaddrinfo ENOTFOUND orders-db"]
    evidence = make_evidence(earlier, exit_code=1, restart_count=3)

    diagnosis = classify(replace(evidence, run_lines=0))

    assert diagnosis.signature == "dns-name-not-found"


# -- the line's own level -----------------------------------------------------------------


def test_a_warning_is_not_what_the_program_died_of() -> None:
    evidence = make_evidence(
        [
            "2025-03-12 10:15:01,002 WARNING app.cache: [Errno 13] Permission denied: "
            "'/var/cache/app', caching disabled",
            "2025-03-12 10:15:02,118 ERROR app: redis.exceptions.ConnectionError: Error 111 "
            "connecting to cache:6379. Connection refused.",
        ],
        exit_code=1,
    )

    diagnosis = classify(evidence)

    assert (diagnosis.category, diagnosis.restart_safe) == (Category.DEPENDENCY, True)


@pytest.mark.parametrize(
    ("line", "minor"),
    [
        ("2025-03-12 10:15:01,002 WARNING app.cache: permission denied", True),
        ("[2025-03-12 10:15:01 +0000] [1] [INFO] Booting worker with pid: 7", True),
        ("2025/03/12 10:15:02 [warn] 1#1: conflicting server name", True),
        ('{"level":"warn","msg":"connection refused, retrying"}', True),
        ('{"level":40,"time":1,"msg":"slow query"}', True),
        ("time=2025-03-12T10:15:02Z level=info msg=started", True),
        ("warn: Microsoft.AspNetCore.Server.Kestrel[0] Overriding address(es)", True),
        ("[Wed Mar 12 10:15:02.123 2025] [core:warn] [pid 1] AH00098: pid file overwritten", True),
        ("2025-03-12T10:15:02.123Z 0 [Warning] [MY-011068] [Server] deprecated", True),
        ("2025/03/12 10:15:02 [emerg] 1#1: unknown directive", False),
        ("2025-03-12 10:15:02.031 UTC [1] FATAL:  data directory has wrong ownership", False),
        ("ERROR: connection info: host=db", False),
        ("Connection info: host=db port=5432", False),
        ("KeyError: 'DATABASE_URL'", False),
        ('{"level":"error","msg":"connect: connection refused"}', False),
        ("1:M 12 Mar 2025 10:14:58.012 # Can't save in background: fork: Cannot allocate", False),
    ],
)
def test_a_line_is_minor_only_when_its_own_level_marker_says_so(line: str, minor: bool) -> None:
    assert is_minor(line) is minor
