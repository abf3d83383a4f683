"""The HTTP side's settings: where it listens, who may do what, what links point to."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    webhook_token: str | None = field(repr=False)  # None only with insecure_no_auth
    read_token: str | None = field(repr=False)  # None: the API and pages are open
    insecure_no_auth: bool = False
    max_body_bytes: int = 1_048_576
    public_url: str = "http://localhost:9418"
    grafana_url: str = "http://localhost:3000"
