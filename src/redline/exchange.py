"""Protocol-neutral request and response types.

Both wire protocols (OpenAI Chat Completions, Anthropic Messages) are parsed into these types and encoded
from them, so screening, routing and translation see one shape. Responses are always re-encoded from this
neutral form, never passed through raw: nothing the upstream sends can reach a client without having been
screened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
ToolChoice = Literal["auto", "none", "required"] | str  # any other string names the one tool to call


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model produced it


@dataclass(frozen=True)
class Message:
    role: Role
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # set on role "tool": the call this message answers


@dataclass(frozen=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Exchange:
    """One model request; `options`: protocol-specific extras, sent only to same-protocol providers."""

    model: str
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    protocol: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def merge(self, other: Usage) -> Usage:
        """Keep the larger count of each: streams report the two counts at different moments."""
        return Usage(max(self.input_tokens, other.input_tokens), max(self.output_tokens, other.output_tokens))


@dataclass(frozen=True)
class Reply:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish: FinishReason = "stop"
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of tool call `index`; `id` and `name` arrive with its first piece."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Finished:
    reason: FinishReason


Delta = TextDelta | ToolCallDelta
StreamEvent = TextDelta | ToolCallDelta | Finished | Usage


class ReplyBuilder:
    """Assembles a streamed answer so it can be screened and hashed as a whole."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, list[str]] = {}
        self.call_heads: dict[int, tuple[str, str]] = {}
        self.finish: FinishReason = "stop"
        self.usage = Usage()

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ToolCallDelta):
            self.calls.setdefault(event.index, []).append(event.arguments)
            if event.id is not None or event.name is not None:
                old_id, old_name = self.call_heads.get(event.index, ("", ""))
                self.call_heads[event.index] = (event.id or old_id, event.name or old_name)
        elif isinstance(event, Finished):
            self.finish = event.reason
        else:
            self.usage = self.usage.merge(event)

    def reply(self) -> Reply:
        calls = tuple(
            ToolCall(*self.call_heads.get(i, ("", "")), "".join(parts))
            for i, parts in sorted(self.calls.items())
        )
        return Reply("".join(self.text), calls, self.finish, self.usage)


def _message_view(message: Message) -> dict[str, Any]:
    view: dict[str, Any] = {"role": message.role, "content": message.text}
    if message.tool_calls:
        view["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        view["tool_call_id"] = message.tool_call_id
    return view


def screening_view(exchange: Exchange) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The whole conversation as `redline.screen` takes it: OpenAI-style messages and tool definitions.

    Structured options that reach the model (a response format's JSON schema, say) can carry instructions
    too, so they are screened as one more system message.
    """
    tools = [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in exchange.tools
    ]
    messages = [_message_view(m) for m in exchange.messages]
    structured = {k: v for k, v in exchange.options.items() if isinstance(v, dict | list)}
    if structured:
        messages.append({"role": "system", "content": json.dumps(structured, ensure_ascii=False)})
    return messages, tools or None


def reply_view(reply: Reply) -> list[dict[str, Any]]:
    """An answer (text and tool calls) as one assistant message for output screening."""
    return [_message_view(Message("assistant", reply.text, reply.tool_calls))]
