"""redline: a policy gateway for AI model APIs that enforces two red lines that cannot be bargained away."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redline.screening.verdict import Verdict

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Verdict", "screen"]
__version__ = "0.1.0"


def screen(
    text_or_messages: str | Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None
) -> Verdict:
    """Screen one text, or one conversation (OpenAI-style messages) with its tool definitions."""
    from redline.screening.screener import default_screener

    return default_screener().screen(text_or_messages, tools)
