"""What every subsystem's commands share: the settings named by `--config`, and the audit log that records
the changes a command makes. Heavy modules are imported on use so that `redline --help` stays fast."""

from __future__ import annotations

from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from redline.audit.sink import AuditSink
    from redline.config import Settings


def load_settings_option(config: Path | None) -> Settings:
    """The settings of `--config` (default ./redline.yaml if present); a bad file is a usage error naming it."""
    from redline.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from exc


def audit_sink(settings: Settings) -> AbstractContextManager[AuditSink]:
    """The audit log that records a command's changes, closed (a final checkpoint signed) after use."""
    from redline.audit.log import open_log

    return closing(open_log(settings))
