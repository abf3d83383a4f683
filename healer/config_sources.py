"""Where settings come from, in precedence order: defaults, a YAML file, `.env`, the
environment. Everything here is text; healer/config.py validates it once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from dotenv import dotenv_values

from fleet.selector import DEFAULT_MANAGED_LABEL
from healer.errors import ConfigError

DEFAULTS: dict[str, str] = {
    "HEALER_LISTEN": "0.0.0.0:9418",
    "HEALER_MODE": "check",
    "HEALER_DATA_DIR": "./data",
    "HEALER_DATABASE_URL": "",
    "HEALER_DOCKER_HOSTS": "",
    "HEALER_DOCKER_TLS_DIR": "",
    "HEALER_INSECURE_NO_AUTH": "false",
    "MANAGED_LABEL": DEFAULT_MANAGED_LABEL,
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
    "HEALER_DEPENDENCY_WINDOW_SECONDS": "60",
    "HEALER_RECURRENCE_THRESHOLD": "3",
    "HEALER_RECURRENCE_WINDOW_SECONDS": "604800",
    "HEALER_RECURRENCE_HOLD": "false",
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
    "HEALER_APPROVAL_TTL_SECONDS": "3600",
    "LOG_LEVEL": "INFO",
}
SECRET_KEYS = frozenset(
    {
        "HEALER_WEBHOOK_TOKEN",
        "HEALER_READ_TOKEN",
        # may carry the database password
        "HEALER_DATABASE_URL",
        "EMAIL_APP_PASSWORD",
        "OPENAI_API_KEY",
        "SLACK_WEBHOOK_URL",
        # signs approval links: whoever has it can forge one
        "HEALER_APPROVAL_SECRET",
    }
)
KNOWN_KEYS = (
    frozenset(DEFAULTS)
    | SECRET_KEYS
    | {"HEALER_WEBHOOK_TOKEN_FILE", "HEALER_READ_TOKEN_FILE", "HEALER_APPROVAL_SECRET_FILE"}
)


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
