"""A streamed answer, screened window by window before it reaches the client.

Deltas are held back until `window_chars` of new output have accumulated; then the held window is screened
together with the window before it (text and tool-call arguments) and, if allowed, released. So the client
sees the answer a window at a time, at most one unscreened window can have passed once a violation is
detectable, a violation that straddles a window boundary is still seen whole, and screening costs grow
linearly with the answer's length. On a violation the held window is dropped and the stream ends with the
protocol's content-filter ending. The output decision is audited before that final event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from redline.exchange import Delta, Exchange, ReplyBuilder, TextDelta, reply_view, screening_view
from redline.gateway.guard import Guard, Subject
from redline.protocols.base import ApiError, StreamEncoder, WireProtocol
from redline.routing.providers import UpstreamStream


def _size(delta: Delta) -> int:
    return len(delta.text) if isinstance(delta, TextDelta) else len(delta.arguments) + len(delta.name or "")


def _windows_view(answer: ReplyBuilder, deltas: list[Delta]) -> list[dict[str, Any]]:
    """`deltas` as an answer to screen, tool calls named even when their first piece came earlier."""
    window = ReplyBuilder()
    window.call_heads = dict(answer.call_heads)
    for delta in deltas:
        window.add(delta)
    return reply_view(window.reply())


async def guarded_stream(
    upstream: UpstreamStream,
    exchange: Exchange,
    protocol: WireProtocol,
    encoder: StreamEncoder,
    guard: Guard,
    subject: Subject,
    reply_id: str,
    window_chars: int,
) -> AsyncIterator[bytes]:
    builder = ReplyBuilder()
    previous: list[Delta] = []  # the last window released: context for screening the next
    held: list[Delta] = []
    held_chars = 0
    tools = screening_view(exchange)[1]
    opening = encoder.start()  # sent with the first window: one write fewer for short answers
    try:
        async for event in upstream.events():
            builder.add(event)
            if not isinstance(event, Delta):
                continue
            held.append(event)
            held_chars += _size(event)
            if held_chars < window_chars:
                continue
            decision = await guard.judge(_windows_view(builder, previous + held), tools, subject)
            if decision.denied:
                break
            yield opening + b"".join(encoder.delta(d) for d in held)
            opening, previous, held, held_chars = b"", held, [], 0
        else:
            decision = await guard.judge(_windows_view(builder, previous + held), tools, subject)
        reply = builder.reply()
        body = protocol.encode_reply(reply, reply_id=reply_id, model=exchange.model)
        await guard.record(decision, subject, "output", body)
        if decision.denied:
            yield opening + encoder.end("content_filter", reply.usage)
        else:
            yield opening + b"".join(encoder.delta(d) for d in held) + encoder.end(reply.finish, reply.usage)
    except ApiError as exc:
        yield opening + encoder.error(exc)
    finally:
        await upstream.aclose()
