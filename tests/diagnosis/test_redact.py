"""Secrets never reach the model, the email or the history; size caps keep the newest lines."""

from __future__ import annotations

import time

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from healer.redact import REDACTED, TRUNCATED_MARK, cap_lines, redact, redact_lines

# -- what is redacted ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("DB_PASSWORD=hunter2 DB_USER=app", "DB_PASSWORD=[REDACTED] DB_USER=app"),
        ("POSTGRES_PASSWORD='s3cr3t!'", "POSTGRES_PASSWORD='[REDACTED]'"),
        ("export GITHUB_TOKEN=ghx_notreallyatoken", "export GITHUB_TOKEN=[REDACTED]"),
        (
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_SECRET_ACCESS_KEY=[REDACTED]",
        ),
        ("STRIPE_API_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_API_KEY=[REDACTED]"),
        ("SECRET_KEY = django-insecure-7c2f", "SECRET_KEY = [REDACTED]"),
        ("HEALER_WEBHOOK_TOKEN=abc123", "HEALER_WEBHOOK_TOKEN=[REDACTED]"),
        ("MYSQL_PWD=rootpw mysql -h db", "MYSQL_PWD=[REDACTED] mysql -h db"),
        ('{"password": "s3cr3t", "user": "bob"}', '{"password": "[REDACTED]", "user": "bob"}'),
        ("{'api_key': 'abc', 'region': 'eu'}", "{'api_key': '[REDACTED]', 'region': 'eu'}"),
        ("  password: hunter2", "  password: [REDACTED]"),
        ("spring.datasource.password=hunter2", "spring.datasource.password=[REDACTED]"),
        (
            "GET /callback?code=1&token=abc123&state=x HTTP/1.1",
            "GET /callback?code=1&token=[REDACTED] HTTP/1.1",
        ),
        ("mysqldump --password hunter2 -h db shop", "mysqldump --password [REDACTED] -h db shop"),
        ("client_credentials=a1b2c3", "client_credentials=[REDACTED]"),
    ],
)
def test_env_style_secrets_keep_their_key_and_lose_their_value(line: str, expected: str) -> None:
    assert redact(line) == expected


DOCKER_EXEC_ERROR = (
    "Cannot restart container 0123456789ab: failed to create shim task: OCI runtime create "
    "failed: runc create failed: unable to start container process: "
    'exec: "--db-password={s}": executable file not found in $PATH: unknown'
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Docker 20.10's own words when a container's command holds the secret.
        (DOCKER_EXEC_ERROR.format(s="hunter2-3f1c"), DOCKER_EXEC_ERROR.format(s=REDACTED)),
        (
            'exec: "/app/--db-password=hunter2": stat /app/--db-password=hunter2: no such',
            'exec: "/app/--db-password=[REDACTED]": stat /app/--db-password=[REDACTED] no such',
        ),
        (  # older runc nests the message, escaping its quotes
            'caused "exec: \\"--db-password=hunter2\\": executable file not found"',
            'caused "exec: \\"--db-password=[REDACTED]": executable file not found"',
        ),
        ('["app", "--db-password=hunter2", "-v"]', '["app", "--db-password=[REDACTED]", "-v"]'),
        (
            'exec: "app --password hunter2": not found',
            'exec: "app --password [REDACTED]": not found',
        ),
        ("app --db-password hunter2 --port 5", "app --db-password [REDACTED] --port 5"),
        ("app --client-secret s3cr3t -v", "app --client-secret [REDACTED] -v"),
        (
            "app --api_key abc123 --access_key=def456",
            "app --api_key [REDACTED] --access_key=[REDACTED]",
        ),
        ('app --password "two words" -v', 'app --password "[REDACTED]" -v'),
        ("app --password --verbose", "app --password --verbose"),
        ("-Ddb.password=hunter2 -jar app.jar", "-Ddb.password=[REDACTED] -jar app.jar"),
    ],
)
def test_secrets_in_command_lines_and_docker_errors_keep_the_surrounding_text(
    line: str, expected: str
) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer [REDACTED]"),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", "authorization: Basic [REDACTED]"),
        ("Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic [REDACTED]"),
        (
            'Authorization: Digest username="bob", realm="shop", response="6629fae4939"',
            "Authorization: Digest [REDACTED]",
        ),
        (
            "{'Authorization': 'Bearer abc.def', 'Accept': '*/*'}",
            "{'Authorization': 'Bearer [REDACTED]', 'Accept': '*/*'}",
        ),
        (
            "curl -H 'X-Api-Key: 12345abcdef' http://api",
            "curl -H 'X-Api-Key: [REDACTED]' http://api",
        ),
        ("calling payments with bearer tok_live_123", "calling payments with bearer [REDACTED]"),
        ("Cookie: session=abc; csrftoken=def", "Cookie: [REDACTED]"),
        ("Set-Cookie: sid=31d4d96e407aad42; Path=/; Secure", "Set-Cookie: [REDACTED]"),
    ],
)
def test_authorization_headers_keep_the_scheme_and_lose_the_credentials(
    line: str, expected: str
) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("postgres://orders:hunter2@db:5432/orders", "postgres://orders:[REDACTED]@db:5432/orders"),
        ("redis://:s3cret@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
        ("amqp://guest:p@ss/w0rd@broker:5672//", "amqp://guest:[REDACTED]@broker:5672//"),
        (
            "DATABASE_URL=postgresql+psycopg2://app:pw@db/app",
            "DATABASE_URL=postgresql+psycopg2://app:[REDACTED]@db/app",
        ),
        ("http://db:5432/app and http://x/y", "http://db:5432/app and http://x/y"),
    ],
)
def test_url_credentials_keep_the_user_and_the_host(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_an_at_sign_after_a_port_is_over_redacted_rather_than_risking_a_leak() -> None:
    # "host:8443/a@b" cannot be told from "user:8443/a@b" with an unencoded "/".
    assert redact("see https://example.com:8443/a@b") == "see https://example.com:[REDACTED]@b"


PEM_LINES = [
    "loading key:",
    "-----BEGIN RSA PRIVATE KEY-----",
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "-----END RSA PRIVATE KEY-----",
    "key loaded",
]


def test_a_pem_private_key_is_redacted_across_lines_line_for_line() -> None:
    out = redact_lines(PEM_LINES)

    assert out == (
        "loading key:",
        "-----BEGIN RSA PRIVATE KEY-----",
        REDACTED,
        REDACTED,
        "-----END RSA PRIVATE KEY-----",
        "key loaded",
    )


def test_a_pem_private_key_is_redacted_inside_one_text() -> None:
    text = "\n".join(PEM_LINES)

    out = redact(text)

    assert "MIIEow" not in out and "VTLw7" not in out
    assert out.startswith("loading key:\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]")
    assert out.endswith("-----END RSA PRIVATE KEY-----\nkey loaded")


def test_a_pem_key_escaped_into_one_json_line_is_redacted() -> None:
    line = '{"key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"}'

    assert "MIIEvQ" not in redact(line)


def test_a_pem_block_that_never_ends_is_redacted_to_the_last_line() -> None:
    out = redact_lines(
        ["-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXk", "AAAAB3Nza", "QyNTUxOQ"]
    )

    assert out == ("-----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]", REDACTED, REDACTED)


def test_jwts_and_well_known_token_formats_are_redacted() -> None:
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"
    tokens = [
        jwt,
        "ghp_" + "a1B2" * 9,
        "xoxb-1234567890-0987654321-AbCdEfGhIjKlMn",
        "AKIAIOSFODNN7EXAMPLE",
        "AIza" + "Sy" + "D" * 33,
        "sk-proj-" + "x9" * 12,
        "glpat-" + "Ab1" * 7,
    ]
    for token in tokens:
        out = redact(f"calling the API with {token} now")

        assert token not in out
        assert out == f"calling the API with {REDACTED} now"


def test_a_gmail_app_password_is_taken_whole_next_to_a_password_key() -> None:
    assert redact("EMAIL_APP_PASSWORD=abcd efgh ijkl mnop") == "EMAIL_APP_PASSWORD=[REDACTED]"
    assert redact("app_password: abcd-efgh-ijkl-mnop sent") == "app_password: [REDACTED] sent"
    assert redact('"app_password": "abcd efgh ijkl mnop"') == '"app_password": "[REDACTED]"'


@pytest.mark.parametrize(
    "line",
    [
        "abcd efgh ijkl mnop",
        "the password must have some more letters",
        "user said: this once made them look good",
        '2025-03-12 10:16:40.210 UTC [411] FATAL:  password authentication failed for user "app"',
        "KeyError: 'SECRET_KEY'",
        "       You must specify POSTGRES_PASSWORD to a non-empty value for the",
        'Error: environment variable "API_TOKEN" is not set',
        '172.18.0.1 - - [12/Mar/2025:10:14:58 +0000] "GET /api/orders/4411 HTTP/1.1" 200 912',
        '2025/03/12 10:15:02 [emerg] 1#1: unknown directive "proxy_pas" in /etc/nginx/a.conf:14',
        'psycopg2.OperationalError: connection to server at "db" (172.18.0.3), port 5432 failed',
        "POSTGRES_HOST_AUTH_METHOD=trust",
        "http://host:8080/path?page=2",
    ],
)
def test_ordinary_log_lines_are_left_alone(line: str) -> None:
    assert redact(line) == line


def test_a_secret_after_a_bearer_word_does_not_survive() -> None:
    # Found by the property test: the bearer rule once ate the key, leaving the value.
    assert "00000000" not in redact("BEARER PASSWORD=00000000")


def test_text_whose_length_changes_when_lowercased_is_still_redacted() -> None:
    # "İ".lower() is two characters: positions in the lowered text shift.
    assert redact("İstanbul DB_PASSWORD=hunter2 ok") == "İstanbul DB_PASSWORD=[REDACTED] ok"


def test_redaction_is_idempotent() -> None:
    lines = [
        "DB_PASSWORD=hunter2",
        "postgres://a:b@db/x",
        "Authorization: Bearer abc",
        "EMAIL_APP_PASSWORD=abcd efgh ijkl mnop",
        *PEM_LINES,
    ]
    once = redact_lines(lines)

    assert redact_lines(once) == once


# -- properties ------------------------------------------------------------------

# The surrounding text has no digits and every secret has one, so a secret can
# only survive redaction, never appear in the text around it by chance.
_SAFE_TEXT = st.text(
    alphabet=st.characters(codec="ascii", categories=("L", "P", "S", "Zs")), max_size=40
)


def _secrets(alphabet: str, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.sampled_from(alphabet), min_size=8, max_size=max_size).filter(
        lambda s: any(c.isdigit() for c in s)
    )


_ENV_SECRET = _secrets(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%*+-./:=?@^_~", 40
)
_URL_SECRET = _secrets("abcdefghijKLMNOP0123456789-._~!$&*+,;=@/", 30)
_TOKEN68 = _secrets("ABCDEFGHIJabcdefghij0123456789-._~+/", 60)

_TEMPLATES = {
    "env": [
        "PASSWORD={s}",
        "DB_PASSWORD={s}",
        "AWS_SECRET_ACCESS_KEY={s}",
        "GITHUB_TOKEN={s}",
        "api_key: {s}",
        "export STRIPE_API_KEY='{s}'",
        '{{"token": "{s}"}}',
        "--password {s}",
        "private_key={s}",
        "credentials = {s}",
        "DB_PASS={s}",
        "--db-password={s}",
        '"--db-password={s}": executable file not found',
        "--db-password {s}",
        "--api_key {s}",
    ],
    "url": ["postgres://user:{s}@db:5432/app", "redis://:{s}@cache:6379/0"],
    "token68": ["Authorization: Bearer {s}", "authorization: Basic {s}", "bearer {s}"],
}


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(_TEMPLATES)),
    data=st.data(),
    before=_SAFE_TEXT,
    after=_SAFE_TEXT,
)
@example(kind="env", data=None, before="", after="")
def test_a_secret_injected_into_random_text_never_survives(
    kind: str, data: st.DataObject | None, before: str, after: str
) -> None:
    if data is None:  # the explicit example: the plainest case
        template, secret = "PASSWORD={s}", "hunter2hunter2"
    else:
        template = data.draw(st.sampled_from(_TEMPLATES[kind]))
        alphabet = {"env": _ENV_SECRET, "url": _URL_SECRET, "token68": _TOKEN68}[kind]
        secret = data.draw(alphabet)
    assume(not secret.startswith("-"))
    assume(secret not in before + " " + template.format(s="") + " " + after)
    line = f"{before} {template.format(s=secret)} {after}"

    assert secret not in redact(line)
    assert secret not in "\n".join(redact_lines([before, line, after]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=30))
def test_redact_lines_keeps_one_output_line_per_input_line(lines: list[str]) -> None:
    assert len(redact_lines(lines)) == len(lines)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_redaction_never_fails_and_is_idempotent_on_any_text(text: str) -> None:
    once = redact(text)

    assert redact(once) == once


# -- size caps -------------------------------------------------------------------


def test_cap_lines_keeps_the_last_lines() -> None:
    lines, truncated = cap_lines([f"line {i}" for i in range(10)], 3, 100, 1000)

    assert lines == ("line 7", "line 8", "line 9")
    assert truncated is True


def test_cap_lines_cuts_long_lines_keeping_their_start() -> None:
    lines, truncated = cap_lines(["2025-03-12 ERROR " + "x" * 500, "short"], 10, 40, 1000)

    assert lines[0] == ("2025-03-12 ERROR " + "x" * 500)[:39] + TRUNCATED_MARK
    assert len(lines[0]) == 40
    assert lines[1] == "short"
    assert truncated is True


def test_cap_lines_drops_the_oldest_lines_over_the_total_budget() -> None:
    lines, truncated = cap_lines(["a" * 40, "b" * 40, "c" * 40], 10, 100, 85)

    assert lines == ("b" * 40, "c" * 40)
    assert truncated is True


def test_cap_lines_reports_nothing_lost_when_everything_fits() -> None:
    assert cap_lines(("a", "b"), 2, 10, 10) == (("a", "b"), False)
    assert cap_lines((), 5, 10, 10) == ((), False)


def test_cap_lines_reads_a_generator_once() -> None:
    lines, truncated = cap_lines((f"{i}" for i in range(100_000)), 2, 10, 100)

    assert lines == ("99998", "99999")
    assert truncated is True


@pytest.mark.parametrize(
    ("max_lines", "max_line_chars", "max_total"), [(-1, 10, 10), (1, 0, 10), (1, 10, -1)]
)
def test_cap_lines_refuses_nonsense_limits(
    max_lines: int, max_line_chars: int, max_total: int
) -> None:
    with pytest.raises(ValueError, match="cap_lines"):
        cap_lines(["x"], max_lines, max_line_chars, max_total)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(max_size=200), max_size=60),
    st.integers(0, 40),
    st.integers(1, 120),
    st.integers(0, 2000),
)
def test_cap_lines_always_respects_every_limit(
    lines: list[str], max_lines: int, max_line_chars: int, max_total: int
) -> None:
    kept, truncated = cap_lines(lines, max_lines, max_line_chars, max_total)

    assert len(kept) <= max_lines
    assert all(len(line) <= max_line_chars for line in kept)
    assert sum(map(len, kept)) <= max_total
    if not truncated:
        assert list(kept) == lines


# -- speed -----------------------------------------------------------------------


def test_redacting_an_incident_worth_of_lines_is_fast() -> None:
    lines = [
        '172.18.0.1 - - [12/Mar/2025:10:14:58 +0000] "GET /api/orders/1?token=abc HTTP/1.1" 200 9',
        "2025-03-12 10:14:58,001 INFO app.orders: order 1234 created for customer 88",
    ] * 100
    redact_lines(lines)
    started = time.perf_counter()
    for _ in range(10):
        redact_lines(lines)

    assert (time.perf_counter() - started) / 10 < 0.05


@pytest.mark.parametrize(
    "text",
    [
        "a" * 100_000 + " x://",
        "ab://u:" * 15_000,
        "_pass" * 20_000 + "=",
        "password=" * 10_000,
        "token_" * 15_000,
        "bearer " * 15_000,
        "authorization: " * 7_000,
        "-----BEGIN PRIVATE KEY-----" * 4_000,
        "eyJaaaaaa." * 10_000,
        'password="' + "\\" * 100_000,
    ],
    ids=lambda t: t[:12],
)
def test_pathological_text_is_redacted_in_linear_time(text: str) -> None:
    started = time.perf_counter()

    redact(text)

    assert time.perf_counter() - started < 2.0
