"""Healer settings: read once from defaults, a YAML file, `.env` and the environment.

Precedence, lowest first: built-in defaults, the `--config` YAML file, a `.env`
file in the working directory, the process environment. Every value is checked
here; a bad one stops start-up with one line that names the key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml
from dotenv import dotenv_values

from fleet.selector import LabelSelector, SelectorError, parse_name_list
from healer.errors import ConfigError
from healer.model import Mode
from healer.redactor import Redactor

T = TypeVar("T")

DEFAULTS: dict[str, str] = {
    "HEALER_LISTEN": "0.0.0.0:9418",
    "HEALER_MODE": "check",
    "HEALER_DATA_DIR": "./data",
    "HEALER_INSECURE_NO_AUTH": "false",
    "MANAGED_LABEL": "environment",
    "CRITICAL_SERVICES": "",
    "MAX_RESTART_ATTEMPTS": "3",
    "RESTART_TIMEOUT_SECONDS": "10",
    "MONITORING_INTERVAL_SECONDS": "30",
    "HEALER_BACKOFF_SECONDS": "2",
    "HEALER_VERIFY_WINDOW_SECONDS": "10",
    "HEALER_VERIFY_TIMEOUT_SECONDS": "60",
    "HEALER_CRASHLOOP_RESTARTS": "5",
    "HEALER_CRASHLOOP_WINDOW_SECONDS": "900",
    "HEALER_QUARANTINE_RELEASE_SECONDS": "600",
    "HEALER_PROTECTED_LABEL": "itops.component",
    "HEALER_PROTECTED_CONTAINERS": "",
    "HEALER_WORKERS": "4",
    "HEALER_MAX_BODY_BYTES": "1048576",
    "HEALER_LOG_LINES": "100",
    "HEALER_PUBLIC_URL": "http://localhost:9418",
    "GRAFANA_URL": "http://localhost:3000",
    "LLM_BACKEND": "ollama",
    "OLLAMA_HOST": "http://localhost:11434",
    "OLLAMA_MODEL": "llama3.2",
    "OPENAI_BASE_URL": "",
    "OPENAI_MODEL": "",
    "LLM_TIMEOUT_SECONDS": "20",
    "LLM_CAN_VETO": "false",
    "LLM_MAX_CALLS_PER_HOUR": "30",
    "LLM_CACHE_SECONDS": "3600",
    "EMAIL_FROM": "",
    "EMAIL_TO": "",
    "SMTP_HOST": "smtp.gmail.com",
    "SMTP_PORT": "587",
    "SMTP_SECURITY": "starttls",
    "SMTP_TIMEOUT_SECONDS": "20",
    "SMTP_ALLOW_PLAINTEXT_AUTH": "false",
    "NOTIFY_DIGEST_THRESHOLD": "5",
    "NOTIFY_GROUP_WAIT_SECONDS": "2",
    "NOTIFY_RETRY_SECONDS": "30",
    "SLACK_WEBHOOK_URL": "",
    "LOG_LEVEL": "INFO",
}
SECRET_KEYS = frozenset(
    {
        "HEALER_WEBHOOK_TOKEN",
        "HEALER_READ_TOKEN",
        "EMAIL_APP_PASSWORD",
        "OPENAI_API_KEY",
        "SLACK_WEBHOOK_URL",
    }
)
KNOWN_KEYS = (
    frozenset(DEFAULTS) | SECRET_KEYS | {"HEALER_WEBHOOK_TOKEN_FILE", "HEALER_READ_TOKEN_FILE"}
)


@dataclass(frozen=True)
class HealerConfig:
    host: str
    port: int
    mode: Mode
    data_dir: Path
    webhook_token: str | None = field(repr=False)
    insecure_no_auth: bool
    read_token: str | None = field(repr=False)
    selector: LabelSelector
    critical_services: frozenset[str]
    max_restart_attempts: int
    restart_timeout_seconds: float
    monitoring_interval_seconds: float
    backoff_seconds: float
    verify_window_seconds: float
    verify_timeout_seconds: float
    crashloop_restarts: int
    crashloop_window_seconds: float
    quarantine_release_seconds: float
    protected_label: str
    protected_containers: frozenset[str]
    workers: int
    max_body_bytes: int
    log_lines: int
    public_url: str
    grafana_url: str
    llm_backend: str
    ollama_host: str
    ollama_model: str
    openai_base_url: str
    openai_model: str
    openai_api_key: str = field(repr=False)
    llm_timeout_seconds: float
    llm_can_veto: bool
    llm_max_calls_per_hour: int
    llm_cache_seconds: float
    email_from: str
    email_to: tuple[str, ...]
    email_app_password: str = field(repr=False)
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_timeout_seconds: float
    smtp_allow_plaintext_auth: bool
    digest_threshold: int
    group_wait_seconds: float
    retry_seconds: float
    slack_webhook_url: str = field(repr=False)
    log_level: str

    @property
    def alerts_log(self) -> Path:
        return self.data_dir / "alerts.log"

    @property
    def database(self) -> Path:
        return self.data_dir / "healer.db"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def smtp_configured(self) -> bool:
        """SMTP is used with credentials, or without them only for an explicit plain relay
        (SMTP_SECURITY=none); otherwise messages go to .eml files in the outbox folder."""
        if not (self.email_from and self.email_to):
            return False
        return bool(self.email_app_password) or self.smtp_security == "none"

    def secret_settings(self) -> dict[str, str]:
        """The value of each key in SECRET_KEYS ("" when unset)."""
        return {
            "HEALER_WEBHOOK_TOKEN": self.webhook_token or "",
            "HEALER_READ_TOKEN": self.read_token or "",
            "EMAIL_APP_PASSWORD": self.email_app_password,
            "OPENAI_API_KEY": self.openai_api_key,
            "SLACK_WEBHOOK_URL": self.slack_webhook_url,
        }

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line, an email, a page or the history.

        Each secret setting, plus the other spellings a log may use: Google shows an app
        password in groups of four (the setting drops the spaces), and a webhook URL's
        path is the credential even without its host.
        """
        values = [v for v in self.secret_settings().values() if v]
        password = self.email_app_password
        if len(password) == 16:
            values.append(" ".join(password[i : i + 4] for i in range(0, 16, 4)))
        if self.slack_webhook_url:
            parts = urlsplit(self.slack_webhook_url)
            values.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        return tuple(values)

    @cached_property
    def redactor(self) -> Redactor:
        """The one definition of what is secret here, built once, used at every door and sink."""
        return Redactor.of(self.secrets())


def gather_settings(
    environ: Mapping[str, str],
    *,
    config_file: Path | None = None,
    dotenv_file: Path | None = Path(".env"),
) -> dict[str, str]:
    """Merge the sources in precedence order into one flat mapping of strings."""
    merged = dict(DEFAULTS)
    if config_file is not None:
        merged.update(_read_yaml(config_file))
    if dotenv_file is not None and dotenv_file.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_file).items() if v is not None})
    merged.update({k: v for k, v in environ.items() if k in KNOWN_KEYS})
    return merged


def _read_yaml(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of KEY: value")
    out: dict[str, str] = {}
    for key, value in data.items():
        name = str(key).upper()
        if name not in KNOWN_KEYS:
            raise ConfigError(f"{key}: unknown setting in {path}")
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out[name] = "" if value is None else str(value)
    return out


def load_config(
    environ: Mapping[str, str] | None = None,
    *,
    config_file: Path | None = None,
    dotenv_file: Path | None = Path(".env"),
) -> HealerConfig:
    """Read and validate every setting; raises ConfigError naming the first bad key."""
    s = gather_settings(
        os.environ if environ is None else environ,
        config_file=config_file,
        dotenv_file=dotenv_file,
    )
    host, port = _listen(s, "HEALER_LISTEN")
    return HealerConfig(
        host=host,
        port=port,
        mode=_choice(s, "HEALER_MODE", Mode),
        data_dir=Path(s["HEALER_DATA_DIR"]),
        webhook_token=_token(s, "HEALER_WEBHOOK_TOKEN"),
        insecure_no_auth=_bool(s, "HEALER_INSECURE_NO_AUTH"),
        read_token=_token(s, "HEALER_READ_TOKEN"),
        selector=_selector(s),
        critical_services=parse_name_list(s["CRITICAL_SERVICES"]),
        max_restart_attempts=_int(s, "MAX_RESTART_ATTEMPTS", minimum=1),
        restart_timeout_seconds=_seconds(s, "RESTART_TIMEOUT_SECONDS"),
        monitoring_interval_seconds=_seconds(s, "MONITORING_INTERVAL_SECONDS", minimum=0.1),
        backoff_seconds=_seconds(s, "HEALER_BACKOFF_SECONDS"),
        verify_window_seconds=_seconds(s, "HEALER_VERIFY_WINDOW_SECONDS"),
        verify_timeout_seconds=_seconds(s, "HEALER_VERIFY_TIMEOUT_SECONDS", minimum=0.1),
        crashloop_restarts=_int(s, "HEALER_CRASHLOOP_RESTARTS", minimum=1),
        crashloop_window_seconds=_seconds(s, "HEALER_CRASHLOOP_WINDOW_SECONDS", minimum=1),
        quarantine_release_seconds=_seconds(s, "HEALER_QUARANTINE_RELEASE_SECONDS", minimum=1),
        protected_label=s["HEALER_PROTECTED_LABEL"].strip(),
        protected_containers=parse_name_list(s["HEALER_PROTECTED_CONTAINERS"]),
        workers=_int(s, "HEALER_WORKERS", minimum=1),
        max_body_bytes=_int(s, "HEALER_MAX_BODY_BYTES", minimum=1024),
        log_lines=_int(s, "HEALER_LOG_LINES", minimum=1),
        public_url=_url(s, "HEALER_PUBLIC_URL"),
        grafana_url=_url(s, "GRAFANA_URL"),
        llm_backend=_one_of(s, "LLM_BACKEND", ("ollama", "openai", "none")),
        ollama_host=_url(s, "OLLAMA_HOST"),
        ollama_model=s["OLLAMA_MODEL"].strip(),
        openai_base_url=_url(s, "OPENAI_BASE_URL", required=s["LLM_BACKEND"] == "openai"),
        openai_model=_required_if(s, "OPENAI_MODEL", s["LLM_BACKEND"] == "openai"),
        openai_api_key=s.get("OPENAI_API_KEY", ""),
        llm_timeout_seconds=_seconds(s, "LLM_TIMEOUT_SECONDS", minimum=0.1),
        llm_can_veto=_bool(s, "LLM_CAN_VETO"),
        llm_max_calls_per_hour=_int(s, "LLM_MAX_CALLS_PER_HOUR", minimum=0),
        llm_cache_seconds=_seconds(s, "LLM_CACHE_SECONDS"),
        email_from=_email(s, "EMAIL_FROM"),
        email_to=_email_list(s, "EMAIL_TO"),
        email_app_password=s.get("EMAIL_APP_PASSWORD", "").replace(" ", ""),
        smtp_host=s["SMTP_HOST"].strip(),
        smtp_port=_int(s, "SMTP_PORT", minimum=1, maximum=65535),
        smtp_security=_one_of(s, "SMTP_SECURITY", ("starttls", "ssl", "none")),
        smtp_timeout_seconds=_seconds(s, "SMTP_TIMEOUT_SECONDS", minimum=0.1),
        smtp_allow_plaintext_auth=_plaintext_auth(s),
        digest_threshold=_int(s, "NOTIFY_DIGEST_THRESHOLD", minimum=2),
        group_wait_seconds=_seconds(s, "NOTIFY_GROUP_WAIT_SECONDS"),
        retry_seconds=_seconds(s, "NOTIFY_RETRY_SECONDS", minimum=0.05),
        slack_webhook_url=_secret_url(s, "SLACK_WEBHOOK_URL"),
        log_level=_one_of(s, "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True),
    )


# -- validators: each raises ConfigError("KEY=...: why") ------------------------


def _fail(key: str, value: str, why: str) -> ConfigError:
    shown = "***" if key in SECRET_KEYS else repr(value)
    return ConfigError(f"{key}={shown}: {why}")


def _listen(s: Mapping[str, str], key: str) -> tuple[str, int]:
    text = s[key].strip()
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise _fail(key, text, "expected HOST:PORT, e.g. 0.0.0.0:9418")
    return host.strip("[]") or "0.0.0.0", int(port)


def _int(s: Mapping[str, str], key: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    text = s[key].strip()
    try:
        value = int(text)
    except ValueError:
        raise _fail(key, text, "expected a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise _fail(key, text, f"must be {bound}")
    return value


def _seconds(s: Mapping[str, str], key: str, *, minimum: float = 0.0) -> float:
    text = s[key].strip()
    try:
        value = float(text)
    except ValueError:
        raise _fail(key, text, "expected a number of seconds") from None
    if value < minimum or value != value:  # NaN compares unequal to itself
        raise _fail(key, text, f"must be >= {minimum:g}")
    return value


def _bool(s: Mapping[str, str], key: str) -> bool:
    text = s[key].strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise _fail(key, s[key], "expected true or false")


def _one_of(
    s: Mapping[str, str], key: str, allowed: tuple[str, ...], *, upper: bool = False
) -> str:
    text = s[key].strip()
    text = text.upper() if upper else text.lower()
    if text not in allowed:
        raise _fail(key, s[key], f"expected one of {', '.join(allowed)}")
    return text


def _choice(s: Mapping[str, str], key: str, enum: Callable[[str], T]) -> T:
    text = s[key].strip().lower()
    try:
        return enum(text)
    except ValueError:
        raise _fail(key, s[key], "expected check or heal") from None


def _selector(s: Mapping[str, str]) -> LabelSelector:
    try:
        return LabelSelector.parse(s["MANAGED_LABEL"])
    except SelectorError as exc:
        raise ConfigError(f"MANAGED_LABEL: {exc}") from None


def _url(s: Mapping[str, str], key: str, *, required: bool = False) -> str:
    text = s.get(key, "").strip()
    if not text:
        if required:
            raise _fail(key, text, "required")
        return ""
    if not text.startswith(("http://", "https://")):
        raise _fail(key, text, "expected an http:// or https:// URL")
    return text.rstrip("/")


def _secret_url(s: Mapping[str, str], key: str) -> str:
    """A URL that is itself a secret (Slack's webhook) travels over TLS, or stays on
    this machine (a loopback receiver)."""
    text = _url(s, key)
    host = urlsplit(text).hostname or ""
    if text.startswith("http://") and host not in ("127.0.0.1", "::1", "localhost"):
        raise _fail(key, text, "must be https:// (the URL is the secret; http sends it in clear)")
    return text


def _required_if(s: Mapping[str, str], key: str, required: bool) -> str:
    text = s.get(key, "").strip()
    if required and not text:
        raise _fail(key, text, "required")
    return text


def _email(s: Mapping[str, str], key: str) -> str:
    text = s.get(key, "").strip()
    if text and ("@" not in text or " " in text):
        raise _fail(key, text, "expected an email address")
    return text


def _email_list(s: Mapping[str, str], key: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in s.get(key, "").split(",") if a.strip())
    for address in addresses:
        if "@" not in address or " " in address:
            raise _fail(key, s[key], f"{address!r} is not an email address")
    return addresses


def _token(s: Mapping[str, str], key: str) -> str | None:
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


def _plaintext_auth(s: Mapping[str, str]) -> bool:
    """A password never crosses the network in clear text unless the operator says so."""
    allowed = _bool(s, "SMTP_ALLOW_PLAINTEXT_AUTH")
    security = s["SMTP_SECURITY"].strip().lower()
    if security == "none" and s.get("EMAIL_APP_PASSWORD", "").strip() and not allowed:
        raise ConfigError(
            "EMAIL_APP_PASSWORD is set with SMTP_SECURITY=none: the password would be sent "
            "without TLS; use SMTP_SECURITY=starttls or ssl, or set "
            "SMTP_ALLOW_PLAINTEXT_AUTH=true for a relay you trust"
        )
    return allowed


def describe(config: HealerConfig) -> dict[str, Any]:
    """The effective settings without secrets, for `status` and start-up logs."""
    return {
        "listen": f"{config.host}:{config.port}",
        "mode": config.mode.value,
        "managed_label": str(config.selector),
        "data_dir": str(config.data_dir),
        "auth": "bearer token" if config.webhook_token else "NONE (insecure)",
        "read_auth": "bearer token or basic" if config.read_token else "none (open)",
        "llm": config.llm_backend,
        "email": "smtp" if config.smtp_configured else f"files in {config.outbox_dir}",
    }
