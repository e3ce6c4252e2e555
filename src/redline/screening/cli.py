"""Commands of the detection engine: classify, eval, train."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the detection engine's commands to the root `redline` app."""
