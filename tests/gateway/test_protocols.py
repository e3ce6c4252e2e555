"""Each protocol's codecs on their own: translation of turns and a neutral stream surviving a round trip."""

from __future__ import annotations

import json

import pytest

from redline.exchange import (
    Exchange,
    Finished,
    Message,
    ReplyBuilder,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from redline.protocols import ANTHROPIC, OPENAI, PROTOCOLS, WireProtocol
from redline.protocols.base import ApiError

PARALLEL = (
    TextDelta("Checking both."),
    ToolCallDelta(0, "", "call_a", "get_weather"),
    ToolCallDelta(0, '{"city": '),
    ToolCallDelta(0, '"Oslo"}'),
    ToolCallDelta(1, "", "call_b", "get_time"),
    ToolCallDelta(1, '{"tz": "CET"}'),
)


def replay(protocol: WireProtocol, events: tuple[StreamEvent, ...]) -> ReplyBuilder:
    """Encode neutral events in `protocol`'s stream format, then decode them again."""
    encoder = protocol.stream_encoder(reply_id="r1", model="m", include_usage=True)
    wire = encoder.start() + b"".join(
        encoder.delta(e) for e in events if isinstance(e, TextDelta | ToolCallDelta)
    )
    wire += encoder.end("tool_calls", Usage(7, 9))
    decoder, builder = protocol.stream_decoder(), ReplyBuilder()
    for block in wire.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        if "data" in fields:
            for event in decoder.decode(fields.get("event", ""), fields["data"]):
                builder.add(event)
    return builder


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_parallel_tool_call_stream_round_trips(name: str) -> None:
    reply = replay(PROTOCOLS[name], PARALLEL).reply()
    assert reply.text == "Checking both."
    assert reply.tool_calls == (
        ToolCall("call_a", "get_weather", '{"city": "Oslo"}'),
        ToolCall("call_b", "get_time", '{"tz": "CET"}'),
    )
    assert reply.finish == "tool_calls" and reply.usage == Usage(7, 9)


def test_anthropic_stream_has_one_block_per_part() -> None:
    encoder = ANTHROPIC.stream_encoder(reply_id="r1", model="m", include_usage=True)
    wire = encoder.start() + b"".join(encoder.delta(e) for e in PARALLEL) + encoder.end("tool_calls", Usage())
    events = [json.loads(line[6:]) for line in wire.decode().splitlines() if line.startswith("data: ")]
    starts = [(e["index"], e["content_block"]["type"]) for e in events if e["type"] == "content_block_start"]
    stops = [e["index"] for e in events if e["type"] == "content_block_stop"]
    assert starts == [(0, "text"), (1, "tool_use"), (2, "tool_use")] and stops == [0, 1, 2]
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_parallel_tool_results_merge_into_one_anthropic_user_turn() -> None:
    exchange = Exchange(
        model="m",
        messages=(
            Message("system", "Be brief."),
            Message("user", "weather and time?"),
            Message(
                "assistant",
                "",
                (ToolCall("a", "get_weather", '{"city": "Oslo"}'), ToolCall("b", "get_time", "{}")),
            ),
            Message("tool", "rain", tool_call_id="a"),
            Message("tool", "noon", tool_call_id="b"),
        ),
        protocol="openai",
        options={"seed": 3},
    )
    body = ANTHROPIC.encode_request(exchange, "claude")
    assert body["system"] == "Be brief." and body["max_tokens"] == 4096 and "seed" not in body
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    assert [b["tool_use_id"] for b in body["messages"][2]["content"]] == ["a", "b"]
    assert ANTHROPIC.parse_request(body).messages == exchange.messages


def test_openai_request_round_trips() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
        ],
        "tool_choice": "none",
        "stop": "END",
        "max_completion_tokens": 5,
    }
    exchange = OPENAI.parse_request(body)
    assert exchange.messages == (Message("system", "Be brief."), Message("user", "hi there"))
    assert (exchange.tool_choice, exchange.stop, exchange.max_tokens) == ("none", ("END",), 5)
    wire = OPENAI.encode_request(exchange, "upstream-m")
    assert wire["model"] == "upstream-m" and wire["stop"] == ["END"] and wire["tool_choice"] == "none"


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_malformed_upstream_replies_are_502(name: str) -> None:
    with pytest.raises(ApiError) as info:
        PROTOCOLS[name].parse_reply({"unexpected": True})
    assert info.value.status == 502
    with pytest.raises(ApiError):
        PROTOCOLS[name].stream_decoder().decode("", "{not json")


def test_finished_event_maps_stop_reasons() -> None:
    decoder = ANTHROPIC.stream_decoder()
    data = json.dumps(
        {"type": "message_delta", "delta": {"stop_reason": "refusal"}, "usage": {"output_tokens": 3}}
    )
    assert decoder.decode("message_delta", data) == [Finished("content_filter"), Usage(0, 3)]
