"""Healer settings: read once from defaults, a YAML file, `.env` and the environment.

Precedence, lowest first: built-in defaults, the `--config` YAML file, a `.env`
file in the working directory, the process environment. Every value is checked
here; a bad one stops start-up with one line that names the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fleet.selector import LabelSelector, parse_name_list
from healer import config_values as v
from healer.actions import VerifySettings
from healer.approvals import ApprovalSettings
from healer.config_sources import gather_settings
from healer.dependency_graph import DependencySettings
from healer.diagnosis.service import LLMSettings
from healer.errors import ConfigError
from healer.hosts import HostSpec
from healer.memory import MemorySettings
from healer.model import Mode
from healer.notify.settings import OutboxSettings
from healer.notify.smtp import SmtpSettings
from healer.policy import PolicySettings
from healer.redactor import Redactor
from healer.web.settings import WebSettings

T = TypeVar("T")


@dataclass(frozen=True)
class HealerConfig:
    """Every setting, validated, in sections for the parts that take them: each part is
    given its own section, never the whole config."""

    mode: Mode
    data_dir: Path
    # "" = SQLite in data_dir (the embedded default); postgresql://… = the shared store
    database_url: str = field(repr=False)
    # () = one host, DOCKER_HOST; else every alert names its host in this map
    docker_hosts: tuple[HostSpec, ...]
    docker_tls_dir: Path | None  # <dir>/<host>/{ca,cert,key}.pem for tcp:// hosts
    selector: LabelSelector
    critical_services: frozenset[str]
    monitoring_interval_seconds: float
    workers: int
    log_lines: int
    log_level: str
    web: WebSettings
    policy: PolicySettings
    verify: VerifySettings
    llm: LLMSettings
    smtp: SmtpSettings
    outbox: OutboxSettings
    slack_webhook_url: str = field(repr=False)
    approvals: ApprovalSettings = field(default_factory=ApprovalSettings)
    dependencies: DependencySettings = field(default_factory=DependencySettings)
    memory: MemorySettings = field(default_factory=MemorySettings)

    @property
    def alerts_log(self) -> Path:
        return self.data_dir / "alerts.log"

    @property
    def database(self) -> Path:
        return self.data_dir / "healer.db"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def secret_settings(self) -> dict[str, str]:
        """The value of each key in SECRET_KEYS ("" when unset)."""
        return {
            "HEALER_WEBHOOK_TOKEN": self.web.webhook_token or "",
            "HEALER_READ_TOKEN": self.web.read_token or "",
            "HEALER_DATABASE_URL": self.database_url,
            "EMAIL_APP_PASSWORD": self.smtp.password,
            "OPENAI_API_KEY": self.llm.openai_api_key,
            "SLACK_WEBHOOK_URL": self.slack_webhook_url,
            "HEALER_APPROVAL_SECRET": self.approvals.secret or "",
        }

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line, an email, a page or the history.

        Each secret setting, plus the other spellings a log may use: Google shows an app
        password in groups of four (the setting drops the spaces), and a webhook URL's
        path is the credential even without its host.
        """
        values = [v for v in self.secret_settings().values() if v]
        password = self.smtp.password
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
    host, port = v.listen_address(s, "HEALER_LISTEN")
    mode = v.choice(s, "HEALER_MODE", Mode)
    selector = v.selector(s)
    llm_backend = v.one_of(s, "LLM_BACKEND", ("ollama", "openai", "none"))
    return HealerConfig(
        mode=mode,
        data_dir=Path(s["HEALER_DATA_DIR"]),
        database_url=v.database_url(s, "HEALER_DATABASE_URL"),
        docker_hosts=v.docker_hosts(s, "HEALER_DOCKER_HOSTS"),
        docker_tls_dir=Path(s["HEALER_DOCKER_TLS_DIR"]) if s["HEALER_DOCKER_TLS_DIR"] else None,
        selector=selector,
        critical_services=parse_name_list(s["CRITICAL_SERVICES"]),
        monitoring_interval_seconds=v.seconds(s, "MONITORING_INTERVAL_SECONDS", minimum=0.1),
        workers=v.whole_number(s, "HEALER_WORKERS", minimum=1),
        log_lines=v.whole_number(s, "HEALER_LOG_LINES", minimum=1),
        log_level=v.one_of(s, "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True),
        web=WebSettings(
            host=host,
            port=port,
            webhook_token=v.token(s, "HEALER_WEBHOOK_TOKEN"),
            read_token=v.token(s, "HEALER_READ_TOKEN"),
            insecure_no_auth=v.flag(s, "HEALER_INSECURE_NO_AUTH"),
            max_body_bytes=v.whole_number(s, "HEALER_MAX_BODY_BYTES", minimum=1024),
            public_url=v.url(s, "HEALER_PUBLIC_URL"),
            grafana_url=v.url(s, "GRAFANA_URL"),
        ),
        policy=PolicySettings(
            mode=mode,
            selector=selector,
            protected_label=s["HEALER_PROTECTED_LABEL"].strip(),
            protected_containers=parse_name_list(s["HEALER_PROTECTED_CONTAINERS"]),
            max_restart_attempts=v.whole_number(s, "MAX_RESTART_ATTEMPTS", minimum=1),
            crashloop_restarts=v.whole_number(s, "HEALER_CRASHLOOP_RESTARTS", minimum=1),
            llm_can_veto=v.flag(s, "LLM_CAN_VETO"),
            crashloop_window_seconds=v.seconds(s, "HEALER_CRASHLOOP_WINDOW_SECONDS", minimum=1),
            quarantine_release_seconds=v.seconds(s, "HEALER_QUARANTINE_RELEASE_SECONDS", minimum=1),
            recurrence_hold=v.flag(s, "HEALER_RECURRENCE_HOLD"),
        ),
        verify=VerifySettings(
            timeout_seconds=v.seconds(s, "HEALER_VERIFY_TIMEOUT_SECONDS", minimum=0.1),
            window_seconds=v.seconds(s, "HEALER_VERIFY_WINDOW_SECONDS"),
            restart_timeout_seconds=v.seconds(s, "RESTART_TIMEOUT_SECONDS"),
            backoff_seconds=v.seconds(s, "HEALER_BACKOFF_SECONDS"),
        ),
        llm=LLMSettings(
            backend=llm_backend,  # type: ignore[arg-type]  # one of the three, checked above
            ollama_host=v.url(s, "OLLAMA_HOST"),
            ollama_model=s["OLLAMA_MODEL"].strip(),
            openai_base_url=v.url(s, "OPENAI_BASE_URL", required=llm_backend == "openai"),
            openai_model=v.required_if(s, "OPENAI_MODEL", llm_backend == "openai"),
            openai_api_key=s.get("OPENAI_API_KEY", ""),
            timeout_seconds=v.seconds(s, "LLM_TIMEOUT_SECONDS", minimum=0.1),
            max_calls_per_hour=v.whole_number(s, "LLM_MAX_CALLS_PER_HOUR", minimum=0),
            cache_ttl_seconds=v.seconds(s, "LLM_CACHE_SECONDS"),
        ),
        smtp=SmtpSettings(
            host=s["SMTP_HOST"].strip(),
            port=v.whole_number(s, "SMTP_PORT", minimum=1, maximum=65535),
            security=v.one_of(s, "SMTP_SECURITY", ("starttls", "ssl", "none")),
            timeout_seconds=v.seconds(s, "SMTP_TIMEOUT_SECONDS", minimum=0.1),
            sender=v.email(s, "EMAIL_FROM"),
            recipients=v.email_list(s, "EMAIL_TO"),
            password=s.get("EMAIL_APP_PASSWORD", "").replace(" ", ""),
            allow_plaintext_auth=v.plaintext_auth(s),
        ),
        outbox=OutboxSettings.of(
            group_wait_seconds=v.seconds(s, "NOTIFY_GROUP_WAIT_SECONDS"),
            digest_threshold=v.whole_number(s, "NOTIFY_DIGEST_THRESHOLD", minimum=2),
            retry_seconds=v.seconds(s, "NOTIFY_RETRY_SECONDS", minimum=0.05),
        ),
        slack_webhook_url=v.secret_url(s, "SLACK_WEBHOOK_URL"),
        approvals=ApprovalSettings(
            secret=v.token(s, "HEALER_APPROVAL_SECRET"),
            ttl_seconds=v.seconds(s, "HEALER_APPROVAL_TTL_SECONDS"),
        ),
        dependencies=DependencySettings(
            window_seconds=v.seconds(s, "HEALER_DEPENDENCY_WINDOW_SECONDS"),
        ),
        memory=MemorySettings(
            threshold=v.whole_number(s, "HEALER_RECURRENCE_THRESHOLD", minimum=1),
            window_seconds=v.seconds(s, "HEALER_RECURRENCE_WINDOW_SECONDS", minimum=1),
        ),
    )


def require_auth_for_serve(config: HealerConfig) -> None:
    """`serve` answers the network: it runs with a webhook token or by explicit choice."""
    if config.web.webhook_token is None and not config.web.insecure_no_auth:
        raise ConfigError(
            "HEALER_WEBHOOK_TOKEN: required by serve "
            "(or HEALER_WEBHOOK_TOKEN_FILE; HEALER_INSECURE_NO_AUTH=1 to run without auth)"
        )


def describe(config: HealerConfig) -> dict[str, Any]:
    """The effective settings without secrets, for `status` and start-up logs."""
    return {
        "listen": f"{config.web.host}:{config.web.port}",
        "mode": config.mode.value,
        "managed_label": str(config.selector),
        "data_dir": str(config.data_dir),
        "docker_hosts": [h.name for h in config.docker_hosts] or "DOCKER_HOST",
        "store": "postgresql (shared)" if config.database_url else f"sqlite {config.database}",
        "auth": "bearer token" if config.web.webhook_token else "NONE (insecure)",
        "read_auth": "bearer token or basic" if config.web.read_token else "none (open)",
        "llm": config.llm.backend,
        "email": "smtp" if config.smtp.configured else f"files in {config.outbox_dir}",
        "approvals": (
            f"signed links, valid {config.approvals.ttl_seconds:g}s"
            if config.approvals.enabled
            else "off"
        ),
    }
