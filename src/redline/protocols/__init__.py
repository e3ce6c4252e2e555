"""Wire protocols redline speaks, to clients and to upstream providers."""

from redline.protocols.anthropic import ANTHROPIC
from redline.protocols.base import ApiError, StreamEncoder, WireProtocol
from redline.protocols.openai import OPENAI

PROTOCOLS: dict[str, WireProtocol] = {OPENAI.name: OPENAI, ANTHROPIC.name: ANTHROPIC}

__all__ = ["ANTHROPIC", "OPENAI", "PROTOCOLS", "ApiError", "StreamEncoder", "WireProtocol"]
