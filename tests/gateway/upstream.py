"""A fake upstream model API speaking OpenAI and Anthropic, streaming included, that records its calls.

Mounted under /{tag}/v1/..., so one server plays several providers. What it answers is decided by markers
in the last user message, so tests need no shared script:
  CALL-TOOL          answer with a call to the first tool (arguments {"city": "Paris"})
  CALL-TOOL-REDLINE  the same call with a red-line marker in its arguments
  ANSWER-REDLINE     a long answer with a red-line marker in the middle
  ANSWER-SPLIT       a long answer whose red-line marker straddles the 100th character (a window's end)
  SLOW-STREAM        stream slowly for a long time (to observe cancellation)
  BREAK-STREAM       drop the connection in the middle of a stream
  SLOW-ANSWER        answer a non-streamed request only after a long time (to observe cancellation)
Otherwise it answers "You said: <text>". `fail(tag, [status, ...])` makes the next calls to a tag fail (with
a Retry-After header when `retry_after` is given).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MARKER = "REDLINE-TEST-WEAPON"
REDLINE_ANSWER = "safe words " * 40 + MARKER + " and the rest of it" * 40
SPLIT_ANSWER = "safe " * 19 + MARKER + " and the rest of it" * 40


@dataclass
class Call:
    tag: str
    protocol: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class FakeUpstream:
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)

    retry_after: dict[str, str] = field(default_factory=dict)

    def fail(self, tag: str, statuses: list[int], retry_after: str | None = None) -> None:
        self.failures[tag] = list(statuses)
        if retry_after is not None:
            self.retry_after[tag] = retry_after

    def reset(self) -> None:
        self.calls.clear()
        self.failures.clear()
        self.retry_after.clear()
        self.cancelled.clear()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/{tag}/v1/chat/completions", self.openai, methods=["POST"]),
                Route("/{tag}/v1/messages", self.anthropic, methods=["POST"]),
            ]
        )

    async def _record(self, request: Request, protocol: str) -> tuple[Call, Response | None]:
        call = Call(request.path_params["tag"], protocol, dict(request.headers), await request.json())
        self.calls.append(call)
        pending = self.failures.get(call.tag)
        if pending:
            status = pending.pop(0)
            if protocol == "openai":
                body: dict[str, Any] = {"error": {"message": f"injected {status}", "type": "server_error"}}
            else:
                body = {"type": "error", "error": {"type": "api_error", "message": f"injected {status}"}}
            wait = self.retry_after.get(call.tag)
            return call, JSONResponse(body, status, headers={"retry-after": wait} if wait is not None else None)
        return call, None

    async def openai(self, request: Request) -> Response:
        call, failure = await self._record(request, "openai")
        if failure:
            return failure
        body = call.body
        user = _last_user_text([m.get("content") for m in body["messages"] if m["role"] == "user"])
        text, tool_call = _answer(user, [t["function"]["name"] for t in body.get("tools") or []])
        usage = {"prompt_tokens": 11, "completion_tokens": len(text.split()) + 1, "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        finish = "tool_calls" if tool_call else "stop"
        head = {"id": "chatcmpl-up", "created": 1, "model": body["model"]}
        if "SLOW-ANSWER" in user:
            return StreamingResponse(self._late(call), media_type="application/json")
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if tool_call:
                message["tool_calls"] = [{"id": "call_1", "type": "function", "function": tool_call}]
            choice = {"index": 0, "message": message, "finish_reason": finish}
            return JSONResponse({**head, "object": "chat.completion", "choices": [choice], "usage": usage})

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return (
                "data: "
                + json.dumps({**head, "object": "chat.completion.chunk", "choices": [choice]})
                + "\n\n"
            )

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            async for piece in self._pieces(call, text, user):
                yield chunk({"content": piece})
            if tool_call:
                args = tool_call["arguments"]
                first = {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": tool_call["name"], "arguments": ""},
                }
                yield chunk({"tool_calls": [first]})
                for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                    yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
            yield chunk({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                yield (
                    "data: "
                    + json.dumps({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
                    + "\n\n"
                )
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def anthropic(self, request: Request) -> Response:
        call, failure = await self._record(request, "anthropic")
        if failure:
            return failure
        body = call.body
        user = _last_user_text([m["content"] for m in body["messages"] if m["role"] == "user"])
        text, tool_call = _answer(user, [t["name"] for t in body.get("tools") or []])
        usage = {"input_tokens": 13, "output_tokens": len(text.split()) + 1}
        stop = "tool_use" if tool_call else "end_turn"
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        if tool_call:
            content.append(
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": tool_call["name"],
                    "input": json.loads(tool_call["arguments"]),
                }
            )
        message = {"id": "msg_up", "type": "message", "role": "assistant", "model": body["model"]}
        if not body.get("stream"):
            return JSONResponse(
                {**message, "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}
            )

        def event(kind: str, data: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        async def events() -> AsyncIterator[str]:
            start = {
                **message,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
            }
            yield event("message_start", {"message": start})
            index = 0
            if text:
                yield event(
                    "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
                )
                yield event("ping", {})
                async for piece in self._pieces(call, text, user):
                    yield event(
                        "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
                    )
                yield event("content_block_stop", {"index": 0})
                index = 1
            if tool_call:
                block = {"type": "tool_use", "id": "toolu_1", "name": tool_call["name"], "input": {}}
                yield event("content_block_start", {"index": index, "content_block": block})
                args = tool_call["arguments"]
                for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                    yield event(
                        "content_block_delta",
                        {"index": index, "delta": {"type": "input_json_delta", "partial_json": part}},
                    )
                yield event("content_block_stop", {"index": index})
            yield event(
                "message_delta",
                {
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            )
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _late(self, call: Call) -> AsyncIterator[str]:
        try:
            await asyncio.sleep(20)
        except BaseException:
            self.cancelled.append(call.tag)
            raise
        yield "{}"

    async def _pieces(self, call: Call, text: str, user: str) -> AsyncIterator[str]:
        """The answer in 10-character pieces; for SLOW-STREAM, slowly and for long, noting cancellation."""
        if "BREAK-STREAM" in user:
            yield "a first piece"
            raise ConnectionAbortedError("upstream dropped the stream")
        if "SLOW-STREAM" not in user:
            for i in range(0, len(text), 10):
                yield text[i : i + 10]
            return
        try:
            for _ in range(400):
                await asyncio.sleep(0.05)
                yield "slow "
        except BaseException:
            self.cancelled.append(call.tag)
            raise


def _last_user_text(contents: list[Any]) -> str:
    last = contents[-1] if contents else ""
    if isinstance(last, list):
        return " ".join(b.get("text", "") for b in last if isinstance(b, dict))
    return str(last or "")


def _answer(user: str, tools: list[str]) -> tuple[str, dict[str, str] | None]:
    if "CALL-TOOL" in user and tools:
        city = f"Paris {MARKER}" if "CALL-TOOL-REDLINE" in user else "Paris"
        return "", {"name": tools[0], "arguments": json.dumps({"city": city})}
    if "ANSWER-REDLINE" in user:
        return REDLINE_ANSWER, None
    if "ANSWER-SPLIT" in user:
        return SPLIT_ANSWER, None
    return f"You said: {user}", None
