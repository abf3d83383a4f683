"""Validators for setting values: each returns the value or raises ConfigError naming
the key (secret values are never echoed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from fleet import listen
from fleet.selector import LabelSelector, SelectorError
from healer.config_sources import SECRET_KEYS
from healer.errors import ConfigError
from healer.hosts import HostSpec, parse_hosts

T = TypeVar("T")


def fail(key: str, value: str, why: str) -> ConfigError:
    shown = "***" if key in SECRET_KEYS else repr(value)
    return ConfigError(f"{key}={shown}: {why}")


def listen_address(s: Mapping[str, str], key: str) -> tuple[str, int]:
    text = s[key].strip()
    try:
        return listen.parse_listen(text, example="0.0.0.0:9418")
    except listen.ListenError as exc:
        raise fail(key, text, str(exc)) from None


def whole_number(
    s: Mapping[str, str], key: str, *, minimum: int = 0, maximum: int | None = None
) -> int:
    text = s[key].strip()
    try:
        value = int(text)
    except ValueError:
        raise fail(key, text, "expected a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise fail(key, text, f"must be {bound}")
    return value


def seconds(s: Mapping[str, str], key: str, *, minimum: float = 0.0) -> float:
    text = s[key].strip()
    try:
        value = float(text)
    except ValueError:
        raise fail(key, text, "expected a number of seconds") from None
    if value < minimum or value != value:  # NaN compares unequal to itself
        raise fail(key, text, f"must be >= {minimum:g}")
    return value


def flag(s: Mapping[str, str], key: str) -> bool:
    text = s[key].strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise fail(key, s[key], "expected true or false")


def one_of(s: Mapping[str, str], key: str, allowed: tuple[str, ...], *, upper: bool = False) -> str:
    text = s[key].strip()
    text = text.upper() if upper else text.lower()
    if text not in allowed:
        raise fail(key, s[key], f"expected one of {', '.join(allowed)}")
    return text


def choice(s: Mapping[str, str], key: str, enum: Callable[[str], T]) -> T:
    text = s[key].strip().lower()
    try:
        return enum(text)
    except ValueError:
        raise fail(key, s[key], "expected check or heal") from None


def selector(s: Mapping[str, str]) -> LabelSelector:
    try:
        return LabelSelector.parse(s["MANAGED_LABEL"])
    except SelectorError as exc:
        raise ConfigError(f"MANAGED_LABEL: {exc}") from None


def url(s: Mapping[str, str], key: str, *, required: bool = False) -> str:
    text = s.get(key, "").strip()
    if not text:
        if required:
            raise fail(key, text, "required")
        return ""
    if not text.startswith(("http://", "https://")):
        raise fail(key, text, "expected an http:// or https:// URL")
    return text.rstrip("/")


def secret_url(s: Mapping[str, str], key: str) -> str:
    """A URL that is itself a secret (Slack's webhook) travels over TLS, or stays on
    this machine (a loopback receiver)."""
    text = url(s, key)
    host = urlsplit(text).hostname or ""
    if text.startswith("http://") and host not in ("127.0.0.1", "::1", "localhost"):
        raise fail(key, text, "must be https:// (the URL is the secret; http sends it in clear)")
    return text


def required_if(s: Mapping[str, str], key: str, required: bool) -> str:
    text = s.get(key, "").strip()
    if required and not text:
        raise fail(key, text, "required")
    return text


def email(s: Mapping[str, str], key: str) -> str:
    text = s.get(key, "").strip()
    if text and ("@" not in text or " " in text):
        raise fail(key, text, "expected an email address")
    return text


def email_list(s: Mapping[str, str], key: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in s.get(key, "").split(",") if a.strip())
    for address in addresses:
        if "@" not in address or " " in address:
            raise fail(key, s[key], f"{address!r} is not an email address")
    return addresses


def token(s: Mapping[str, str], key: str) -> str | None:
    """A bearer token from `key` or the file named by `key`_FILE (compose secrets)."""
    file_key = f"{key}_FILE"
    token = s.get(key, "").strip()
    path = s.get(file_key, "").strip()
    if token and path:
        raise ConfigError(f"{file_key}: set either {key} or the _FILE form, not both")
    if path:
        try:
            token = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{file_key}={path!r}: {exc.strerror}") from None
        if not token:
            raise ConfigError(f"{file_key}={path!r}: the file is empty")
    if token and len(token) < 16:
        raise ConfigError(f"{key}: too short; use at least 16 random characters")
    return token or None


def plaintext_auth(s: Mapping[str, str]) -> bool:
    """A password never crosses the network in clear text unless the operator says so."""
    allowed = flag(s, "SMTP_ALLOW_PLAINTEXT_AUTH")
    security = s["SMTP_SECURITY"].strip().lower()
    if security == "none" and s.get("EMAIL_APP_PASSWORD", "").strip() and not allowed:
        raise ConfigError(
            "EMAIL_APP_PASSWORD is set with SMTP_SECURITY=none: the password would be sent "
            "without TLS; use SMTP_SECURITY=starttls or ssl, or set "
            "SMTP_ALLOW_PLAINTEXT_AUTH=true for a relay you trust"
        )
    return allowed


def database_url(s: Mapping[str, str], key: str) -> str:
    """ "" for the embedded SQLite store, or a PostgreSQL URL for the shared one."""
    text = s.get(key, "").strip()
    if text and not text.startswith(("postgresql://", "postgres://")):
        raise fail(key, text, "expected a postgresql://user:password@host:port/database URL")
    return text


def docker_hosts(s: Mapping[str, str], key: str) -> tuple[HostSpec, ...]:
    try:
        return parse_hosts(s.get(key, ""))
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
