"""Anthropic Messages: wire format <-> Exchange, the streaming event sequence, errors.

Tool results live in user turns on this wire and in "tool" messages in the neutral form; consecutive turns of
one role are merged on the way out because the API expects alternating roles. Unknown fields are dropped.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from redline.exchange import (
    Delta,
    Exchange,
    Finished,
    FinishReason,
    Message,
    Reply,
    StreamEvent,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from redline.protocols.base import ApiError, ErrorKind, invalid_request, sse, upstream_error

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # required on this wire; used when a request from the other protocol has none
_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
    "tool_use": "tool_calls", "refusal": "content_filter",
}  # fmt: skip
_STOP_REASON: dict[FinishReason, str] = {
    "stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal",
}  # fmt: skip
_ERROR_TYPES: dict[ErrorKind, str] = {
    "invalid_request": "invalid_request_error", "authentication": "authentication_error",
    "permission": "permission_error", "not_found": "not_found_error", "too_large": "request_too_large",
    "rate_limit": "rate_limit_error", "upstream": "api_error", "unavailable": "api_error",
    "policy_violation": "permission_error",
}  # fmt: skip
_PASSTHROUGH = {"top_k", "metadata"}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Text(_Wire):
    type: Literal["text"]
    text: str


class _ToolUse(_Wire):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class _ToolResult(_Wire):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[_Text] = ""


_Block = Annotated[_Text | _ToolUse | _ToolResult, Field(discriminator="type")]


class _Message(_Wire):
    role: Literal["user", "assistant"]
    content: str | list[_Block]


class _ToolDef(_Wire):
    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)


class _ToolChoice(_Wire):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None


class _Request(_Wire):
    model: str
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: str | list[_Text] | None = None
    tools: list[_ToolDef] | None = None
    tool_choice: _ToolChoice | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    metadata: dict[str, Any] | None = None


def _text(content: str | list[_Text]) -> str:
    return content if isinstance(content, str) else "".join(b.text for b in content)


def _messages(m: _Message) -> list[Message]:
    """One wire turn as neutral messages: tool results first (they answer the previous turn), then text."""
    blocks = [_Text(type="text", text=m.content)] if isinstance(m.content, str) else m.content
    text = "".join(b.text for b in blocks if isinstance(b, _Text))
    if m.role == "assistant":
        calls = tuple(ToolCall(b.id, b.name, json.dumps(b.input)) for b in blocks if isinstance(b, _ToolUse))
        return [Message("assistant", text, calls)]
    results = [b for b in blocks if isinstance(b, _ToolResult)]
    out = [Message("tool", _text(b.content), tool_call_id=b.tool_use_id) for b in results]
    return [*out, Message("user", text)] if text or not out else out


def _arguments(raw: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"arguments": raw}


def _blocks(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.text}]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": m.text}] if m.text else []
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _arguments(c.arguments)}
        for c in m.tool_calls
    ]
    return blocks


def _turns(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for m in messages:
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        elif blocks:
            turns.append({"role": role, "content": blocks})
    return turns


def _tool_choice(choice: _ToolChoice | None) -> str | None:
    if choice is None:
        return None
    if choice.type == "tool":
        return choice.name or "auto"
    return {"auto": "auto", "any": "required", "none": "none"}[choice.type]


def _usage(raw: Any) -> Usage:
    if not raw:
        return Usage()
    return Usage(int(raw.get("input_tokens") or 0), int(raw.get("output_tokens") or 0))


def _error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"type": _ERROR_TYPES[error.kind], "message": error.message}
    if error.decision_id is not None:
        body["decision_id"] = error.decision_id
    return {"type": "error", "error": body}


class _Decoder:
    """Upstream events -> neutral events; maps content-block indexes to tool-call indexes."""

    def __init__(self) -> None:
        self.tool_index: dict[int, int] = {}

    def decode(self, event: str, data: str) -> list[StreamEvent]:
        try:
            payload = json.loads(data)
            kind = payload.get("type", event)
            if kind == "error":
                raise upstream_error(502, payload)
            if kind == "message_start":
                return [_usage(payload["message"].get("usage"))]
            if kind == "content_block_start" and payload["content_block"]["type"] == "tool_use":
                block = payload["content_block"]
                index = self.tool_index.setdefault(payload["index"], len(self.tool_index))
                return [ToolCallDelta(index, "", block["id"], block["name"])]
            if kind == "content_block_delta":
                delta = payload["delta"]
                if delta["type"] == "text_delta":
                    return [TextDelta(delta["text"])]
                if delta["type"] == "input_json_delta":
                    return [ToolCallDelta(self.tool_index[payload["index"]], delta["partial_json"])]
            if kind == "message_delta":
                reason = payload["delta"].get("stop_reason")
                finished = [Finished(_FINISH.get(reason, "stop"))] if reason else []
                return [*finished, _usage(payload.get("usage"))]
            return []
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ApiError(502, "upstream", f"malformed upstream stream event: {exc!r}") from exc


class _Encoder:
    """Neutral stream -> message_start, content_block_start/delta/stop, message_delta, message_stop."""

    def __init__(self, reply_id: str, model: str) -> None:
        self.reply_id, self.model = reply_id, model
        self.blocks = 0  # content blocks opened so far
        self.open: int | None = None  # neutral tool index of the open block, -1 for text, None when closed

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self.reply_id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0},
        }  # fmt: skip
        return sse({"type": "message_start", "message": message}, "message_start")

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return sse({"type": "content_block_stop", "index": self.blocks - 1}, "content_block_stop")

    def _open(self, key: int, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.open, self.blocks = key, self.blocks + 1
        start = {"type": "content_block_start", "index": self.blocks - 1, "content_block": block}
        return out + sse(start, "content_block_start")

    def delta(self, delta: Delta) -> bytes:
        out = b""
        if isinstance(delta, TextDelta):
            if self.open != -1:
                out = self._open(-1, {"type": "text", "text": ""})
            piece = {"type": "text_delta", "text": delta.text}
        else:
            if self.open != delta.index:
                block = {"type": "tool_use", "id": delta.id or "", "name": delta.name or "", "input": {}}
                out = self._open(delta.index, block)
            if not delta.arguments:
                return out
            piece = {"type": "input_json_delta", "partial_json": delta.arguments}
        event = {"type": "content_block_delta", "index": self.blocks - 1, "delta": piece}
        return out + sse(event, "content_block_delta")

    def end(self, finish: FinishReason, usage: Usage) -> bytes:
        delta = {"stop_reason": _STOP_REASON[finish], "stop_sequence": None}
        wire_usage = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
        return (
            self._close()
            + sse({"type": "message_delta", "delta": delta, "usage": wire_usage}, "message_delta")
            + sse({"type": "message_stop"}, "message_stop")
        )

    def error(self, error: ApiError) -> bytes:
        return sse(_error_body(error), "error")


class AnthropicProtocol:
    name = "anthropic"
    upstream_path = "/messages"

    def parse_request(self, body: Any) -> Exchange:
        try:
            req = _Request.model_validate(body)
        except ValidationError as exc:
            raise invalid_request(exc) from exc
        system = [Message("system", _text(req.system))] if req.system else []
        return Exchange(
            model=req.model,
            messages=(*system, *(n for m in req.messages for n in _messages(m))),
            tools=tuple(Tool(t.name, t.description, t.input_schema) for t in req.tools or ()),
            tool_choice=_tool_choice(req.tool_choice),
            stream=req.stream,
            include_usage=True,
            max_tokens=req.max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            stop=tuple(req.stop_sequences or ()),
            protocol=self.name,
            options=req.model_dump(include=_PASSTHROUGH, exclude_none=True),
        )

    def encode_request(self, exchange: Exchange, model: str) -> dict[str, Any]:
        system = "\n\n".join(m.text for m in exchange.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": exchange.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": _turns(tuple(m for m in exchange.messages if m.role != "system")),
        }
        if system:
            body["system"] = system
        if exchange.tools:
            body["tools"] = [
                {
                    "name": t.name,
                    "description": t.description,
                    "input_schema": t.parameters or {"type": "object"},
                }
                for t in exchange.tools
            ]
        choice = exchange.tool_choice
        if choice is not None:
            kinds = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
            body["tool_choice"] = kinds.get(choice, {"type": "tool", "name": choice})
        if exchange.stream:
            body["stream"] = True
        optional = {"temperature": exchange.temperature, "top_p": exchange.top_p}
        body.update({k: v for k, v in optional.items() if v is not None})
        if exchange.stop:
            body["stop_sequences"] = list(exchange.stop)
        if exchange.protocol == self.name:
            body.update(exchange.options)
        return body

    def upstream_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def parse_reply(self, body: Any) -> Reply:
        try:
            blocks = body["content"]
            text = "".join(b["text"] for b in blocks if b["type"] == "text")
            calls = tuple(
                ToolCall(b["id"], b["name"], json.dumps(b.get("input") or {}))
                for b in blocks
                if b["type"] == "tool_use"
            )
            finish = _FINISH.get(body.get("stop_reason") or "end_turn", "stop")
            return Reply(text, calls, finish, _usage(body.get("usage")))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ApiError(502, "upstream", f"malformed upstream response: {exc!r}") from exc

    def encode_reply(self, reply: Reply, *, reply_id: str, model: str) -> dict[str, Any]:
        return {
            "id": reply_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": _blocks(Message("assistant", reply.text, reply.tool_calls)),
            "stop_reason": _STOP_REASON[reply.finish],
            "stop_sequence": None,
            "usage": {"input_tokens": reply.usage.input_tokens, "output_tokens": reply.usage.output_tokens},
        }

    def stream_decoder(self) -> _Decoder:
        return _Decoder()

    def stream_encoder(self, *, reply_id: str, model: str, include_usage: bool) -> _Encoder:
        return _Encoder(reply_id, model)

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return _error_body(error)

    def new_id(self) -> str:
        return f"msg_{os.urandom(12).hex()}"


ANTHROPIC = AnthropicProtocol()
