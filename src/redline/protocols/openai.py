"""OpenAI Chat Completions: wire format <-> Exchange, stream chunks, errors.

Unknown request fields are dropped rather than forwarded: a field redline does not understand could carry
content it does not screen or ask for extra choices it does not see (`n` > 1 is refused for that reason).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Literal

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

_FINISH: dict[str, FinishReason] = {
    "stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
    "content_filter": "content_filter",
}  # fmt: skip
_PASSTHROUGH = {
    "seed", "presence_penalty", "frequency_penalty", "user", "response_format", "parallel_tool_calls",
    "reasoning_effort",
}  # fmt: skip
_ERROR_TYPES: dict[ErrorKind, str] = {
    "invalid_request": "invalid_request_error", "authentication": "authentication_error",
    "permission": "permission_error", "not_found": "not_found_error", "too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error", "upstream": "api_error", "unavailable": "service_unavailable",
    "policy_violation": "policy_violation",
}  # fmt: skip


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _TextPart(_Wire):
    type: Literal["text"]
    text: str


class _Function(_Wire):
    name: str
    arguments: str = ""


class _ToolCall(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: _Function


class _Message(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_TextPart] | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None


class _FunctionDef(_Wire):
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class _ToolDef(_Wire):
    type: Literal["function"]
    function: _FunctionDef


class _Named(_Wire):
    name: str


class _NamedChoice(_Wire):
    type: Literal["function"]
    function: _Named


class _StreamOptions(_Wire):
    include_usage: bool = False


class _Request(_Wire):
    model: str
    messages: list[_Message] = Field(min_length=1)
    tools: list[_ToolDef] | None = None
    tool_choice: Literal["auto", "none", "required"] | _NamedChoice | None = None
    stream: bool = False
    stream_options: _StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    n: Literal[1] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None


def _text(content: str | list[_TextPart] | None) -> str:
    if isinstance(content, list):
        return "".join(part.text for part in content)
    return content or ""


def _message(m: _Message) -> Message:
    calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or ())
    role = "system" if m.role == "developer" else m.role
    return Message(role, _text(m.content), calls, m.tool_call_id)


def _wire_message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.text}
    if m.tool_calls:
        out["tool_calls"] = [_wire_call(c) for c in m.tool_calls]
        out["content"] = m.text or None
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def _wire_call(c: ToolCall) -> dict[str, Any]:
    return {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}


def _wire_usage(u: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
    }


def _usage(raw: Any) -> Usage:
    return (
        Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0)) if raw else Usage()
    )


def _error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"type": _ERROR_TYPES[error.kind], "code": error.code, "message": error.message}
    body["param"] = error.param
    if error.decision_id is not None:
        body["decision_id"] = error.decision_id
    return {"error": body}


class _Encoder:
    def __init__(self, reply_id: str, model: str, include_usage: bool) -> None:
        self.head = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self.include_usage = include_usage

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**self.head, "choices": [choice]})

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def delta(self, delta: Delta) -> bytes:
        if isinstance(delta, TextDelta):
            return self._chunk({"content": delta.text})
        call: dict[str, Any] = {"index": delta.index, "function": {"arguments": delta.arguments}}
        if delta.id is not None:
            call.update(id=delta.id, type="function")
        if delta.name is not None:
            call["function"]["name"] = delta.name
        return self._chunk({"tool_calls": [call]})

    def end(self, finish: FinishReason, usage: Usage) -> bytes:
        out = self._chunk({}, finish)
        if self.include_usage:
            out += sse({**self.head, "choices": [], "usage": _wire_usage(usage)})
        return out + b"data: [DONE]\n\n"

    def error(self, error: ApiError) -> bytes:
        return sse(_error_body(error)) + b"data: [DONE]\n\n"


class _Decoder:
    def decode(self, event: str, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            return []
        try:
            chunk = json.loads(data)
            if "error" in chunk:
                raise upstream_error(502, chunk)
            events: list[StreamEvent] = []
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    events.append(TextDelta(delta["content"]))
                for call in delta.get("tool_calls") or ():
                    fn = call.get("function") or {}
                    events.append(
                        ToolCallDelta(
                            call["index"], fn.get("arguments") or "", call.get("id"), fn.get("name")
                        )
                    )
                if choice.get("finish_reason"):
                    events.append(Finished(_FINISH.get(choice["finish_reason"], "stop")))
            if chunk.get("usage"):
                events.append(_usage(chunk["usage"]))
            return events
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ApiError(502, "upstream", f"malformed upstream stream event: {exc!r}") from exc


class OpenAIProtocol:
    name = "openai"
    upstream_path = "/chat/completions"

    def parse_request(self, body: Any) -> Exchange:
        try:
            req = _Request.model_validate(body)
        except ValidationError as exc:
            raise invalid_request(exc) from exc
        choice = req.tool_choice
        stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
        return Exchange(
            model=req.model,
            messages=tuple(_message(m) for m in req.messages),
            tools=tuple(
                Tool(t.function.name, t.function.description, t.function.parameters) for t in req.tools or ()
            ),
            tool_choice=choice.function.name if isinstance(choice, _NamedChoice) else choice,
            stream=req.stream,
            include_usage=bool(req.stream_options and req.stream_options.include_usage),
            max_tokens=req.max_completion_tokens or req.max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            stop=stop,
            protocol=self.name,
            options=req.model_dump(include=_PASSTHROUGH, exclude_none=True),
        )

    def encode_request(self, exchange: Exchange, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": [_wire_message(m) for m in exchange.messages]}
        if exchange.tools:
            body["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.parameters}}
                for t in exchange.tools
            ]  # fmt: skip
        choice = exchange.tool_choice
        if choice is not None:
            named = {"type": "function", "function": {"name": choice}}
            body["tool_choice"] = choice if choice in ("auto", "none", "required") else named
        if exchange.stream:
            body.update(stream=True, stream_options={"include_usage": True})
        optional = {
            "max_tokens": exchange.max_tokens,
            "temperature": exchange.temperature,
            "top_p": exchange.top_p,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if exchange.stop:
            body["stop"] = list(exchange.stop)
        if exchange.protocol == self.name:
            body.update(exchange.options)
        return body

    def upstream_headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def parse_reply(self, body: Any) -> Reply:
        try:
            choice = body["choices"][0]
            message = choice["message"]
            calls = tuple(
                ToolCall(c["id"], c["function"]["name"], c["function"].get("arguments") or "")
                for c in message.get("tool_calls") or ()
            )
            finish = _FINISH.get(choice.get("finish_reason") or "stop", "stop")
            return Reply(message.get("content") or "", calls, finish, _usage(body.get("usage")))
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ApiError(502, "upstream", f"malformed upstream response: {exc!r}") from exc

    def encode_reply(self, reply: Reply, *, reply_id: str, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = [_wire_call(c) for c in reply.tool_calls]
        return {
            "id": reply_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish}],
            "usage": _wire_usage(reply.usage),
        }

    def stream_decoder(self) -> _Decoder:
        return _Decoder()

    def stream_encoder(self, *, reply_id: str, model: str, include_usage: bool) -> _Encoder:
        return _Encoder(reply_id, model, include_usage)

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return _error_body(error)

    def new_id(self) -> str:
        return f"chatcmpl-{os.urandom(12).hex()}"


OPENAI = OpenAIProtocol()
