"""One definition of what is secret: every secret setting, every spelling a sink may use."""

from __future__ import annotations

import html
import json

from markupsafe import escape

from healer.config import load_config
from healer.config_sources import SECRET_KEYS
from healer.redact import REDACTED
from healer.redactor import NO_SECRETS, Redactor

SETTINGS = {
    "HEALER_WEBHOOK_TOKEN": "whk-0123456789abcdef",
    "HEALER_READ_TOKEN": "read-0123456789abcdef",
    "EMAIL_APP_PASSWORD": "abcd efgh ijkl mnop",
    "OPENAI_API_KEY": "oai-0123456789abcdef",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0AAA/B0BBB/xyzXYZ0123456789",
    "HEALER_DATABASE_URL": "postgresql://healer:pg-pass-0123456789@db.internal:5432/healer",
    "HEALER_APPROVAL_SECRET": "apr-0123456789abcdef0123456789",
}


def test_every_secret_setting_is_one_of_the_installations_secrets() -> None:
    config = load_config(SETTINGS, dotenv_file=None)

    assert set(config.secret_settings()) == SECRET_KEYS
    assert set(SETTINGS) == SECRET_KEYS
    secrets = config.secrets()
    for key, value in SETTINGS.items():
        assert value.replace(" ", "") in secrets or value in secrets, key
        assert config.redactor.scrub(f"x {value} y") == f"x {REDACTED} y", key


def test_the_other_spellings_of_a_secret_setting_are_secret_too() -> None:
    redactor = load_config(SETTINGS, dotenv_file=None).redactor

    # Google shows app passwords in groups of four; the setting is kept without spaces.
    assert redactor.scrub("pw abcdefghijklmnop and abcd efgh ijkl mnop") == (
        f"pw {REDACTED} and {REDACTED}"
    )
    # A webhook URL's path is the credential, with or without the host in front.
    assert redactor.scrub("POST /services/T0AAA/B0BBB/xyzXYZ0123456789 -> 404") == (
        f"POST {REDACTED} -> 404"
    )


def test_the_redactor_is_built_once_per_config() -> None:
    config = load_config(SETTINGS, dotenv_file=None)

    assert config.redactor is config.redactor


def test_a_secret_is_found_as_html_json_and_a_url_encode_it() -> None:
    value = "r3ad\"&<tok>'en/é-01234"
    redactor = Redactor.of([value])

    for encoded in (
        value,
        html.escape(value),
        str(escape(value)),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        "r3ad%22%26%3Ctok%3E%27en%2F%C3%A9-01234",
    ):
        assert redactor.scrub(f"<p>{encoded}</p>") == f"<p>{REDACTED}</p>", encoded


def test_values_too_short_to_be_secrets_leave_ordinary_words_alone() -> None:
    redactor = Redactor.of(["", "abc", "admin"])

    assert redactor.forms == ()
    assert redactor.scrub("the admin said abc") == "the admin said abc"


def test_clean_applies_the_values_and_the_patterns_scrub_only_the_values() -> None:
    redactor = Redactor.of(["whk-0123456789abcdef"])
    line = "auth whk-0123456789abcdef with --db-password=hunter2"

    assert redactor.clean(line) == f"auth {REDACTED} with --db-password={REDACTED}"
    assert redactor.scrub(line) == f"auth {REDACTED} with --db-password=hunter2"
    assert NO_SECRETS.clean(line) == f"auth whk-0123456789abcdef with --db-password={REDACTED}"


def test_clean_lines_keeps_one_line_per_line_and_redacts_a_pem_key_across_them() -> None:
    lines = ["key:", "-----BEGIN PRIVATE KEY-----", "MIIEvQIBADAN", "-----END PRIVATE KEY-----"]

    assert NO_SECRETS.clean_lines(lines) == (
        "key:",
        "-----BEGIN PRIVATE KEY-----",
        REDACTED,
        "-----END PRIVATE KEY-----",
    )


def test_data_is_walked_keys_and_values_alike() -> None:
    redactor = Redactor.of(["whk-0123456789abcdef"])
    data = {"whk-0123456789abcdef": ["DB_PASSWORD=x", ("whk-0123456789abcdef", 3)], "n": None}

    assert redactor.scrub_data(data) == {
        REDACTED: ["DB_PASSWORD=x", [REDACTED, 3]],
        "n": None,
    }
    assert redactor.clean_data(data) == {
        REDACTED: [f"DB_PASSWORD={REDACTED}", [REDACTED, 3]],
        "n": None,
    }
