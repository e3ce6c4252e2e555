"""Turn a request into the one text the classifiers read: every message, the system prompt, tool
definitions and tool calls, in order. Tool definitions matter: a `fire_weapon` tool handed to an agent is
often the only sign that a request is about autonomous use of force."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _content_text(content: Any) -> str:
    """Text of an OpenAI or Anthropic content field: a string or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        content = [content]
    parts: list[str] = []
    if isinstance(content, Sequence):
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                kind = part.get("type")
                if kind in ("text", "input_text", "output_text") or "text" in part:
                    parts.append(str(part.get("text", "")))
                elif kind == "tool_use":
                    parts.append(_call_text(str(part.get("name", "")), part.get("input")))
                elif kind == "tool_result":
                    parts.append(_content_text(part.get("content")))
    return "\n".join(p for p in parts if p)


def _call_text(name: str, arguments: Any) -> str:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return f"call {name}({arguments})"


def _tool_text(tool: Mapping[str, Any]) -> str:
    spec = tool.get("function", tool)  # OpenAI nests under "function"; Anthropic does not
    if not isinstance(spec, Mapping):
        return str(spec)
    name = spec.get("name", "")
    description = spec.get("description", "")
    schema = spec.get("parameters") or spec.get("input_schema") or {}
    params = []
    if isinstance(schema, Mapping) and isinstance(schema.get("properties"), Mapping):
        for pname, pspec in schema["properties"].items():
            pdesc = pspec.get("description", "") if isinstance(pspec, Mapping) else ""
            params.append(f"{pname}: {pdesc}".strip(": "))
    return f"tool {name}: {description} ({'; '.join(params)})"


def flatten(
    text_or_messages: str | Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    system: str | None = None,
) -> str:
    """One text for the whole request, in reading order: system, tools, then each turn."""
    if isinstance(text_or_messages, str):
        lines = [text_or_messages]
    else:
        lines = []
        for message in text_or_messages:
            if not isinstance(message, Mapping):
                raise TypeError("each message must be an object")
            role = str(message.get("role", "user"))
            text = _content_text(message.get("content"))
            if text:
                lines.append(f"{role}: {text}")
            for call in message.get("tool_calls") or ():
                fn = call.get("function", {}) if isinstance(call, Mapping) else {}
                lines.append(f"{role}: {_call_text(str(fn.get('name', '')), fn.get('arguments', ''))}")
    head = [f"system: {system}"] if system else []
    head += [_tool_text(t) for t in tools or () if isinstance(t, Mapping)]
    return "\n".join(head + lines)
