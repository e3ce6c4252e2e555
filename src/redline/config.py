"""Settings: the YAML config file as typed pydantic models.

One model per section so each subsystem reads only what it owns. Unknown keys are errors: a typo in a
security setting must never be silently ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 4 * 1024 * 1024
    max_messages: int = 2048
    admin_token_env: str = "REDLINE_ADMIN_TOKEN"
    # How long an idle client connection is kept open. Longer than the idle timeouts of the clients and load
    # balancers in front (SDK pools, ALB's 60 s), so the gateway is not the side that closes a kept connection
    # just as a client reuses it: uvicorn's 5 s default reset connections under load (docs/gateway.md).
    keep_alive_s: int = Field(default=75, gt=0)


class DatabaseSettings(_Section):
    url: str = "sqlite:///./redline.db"


class ProviderSettings(_Section):
    """An upstream model API."""

    name: str
    kind: Literal["openai", "anthropic"]
    base_url: str
    api_key_env: str | None = None
    models: list[str] = Field(default_factory=list)
    rename: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    retries: int = 1  # further attempts on this provider (connection errors, 429, 5xx) before the next one
    backoff_s: float = 0.2  # before retry n (from 0): a random wait in [0, backoff_s * 2**n] (full jitter)
    max_retry_wait_s: float = 5.0  # the longest wait before a retry; a longer Retry-After moves on at once


class ScreeningSettings(_Section):
    timeout_s: float = 2.0
    output_window_chars: int = 400


class AuditSettings(_Section):
    retain_content: bool = False
    checkpoint_every_s: float = 10.0
    checkpoint_every_entries: int = 1000
    signing_key_path: str = "./.redline/audit-signing-key.pem"
    log_origin: str = "redline.local/audit"


class PolicySettings(_Section):
    operator_policy: str | None = None
    contracts_dir: str | None = None
    designations_dir: str | None = None


class Settings(_Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    providers: list[ProviderSettings] = Field(default_factory=list)
    screening: ScreeningSettings = Field(default_factory=ScreeningSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)


class ConfigError(ValueError):
    """A config file that cannot be used, with the file and field named."""


def load_settings(path: str | Path | None = None) -> Settings:
    """Load settings from `path`, or from ./redline.yaml when present, else the embedded defaults."""
    if path is None:
        default = Path("redline.yaml")
        if not default.exists():
            return Settings()
        path = default
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
