"""The Anthropic endpoint driven by the official SDK against an Anthropic-speaking upstream."""

from __future__ import annotations

import anthropic
import pytest

from tests.gateway.conftest import Gateway
from tests.gateway.upstream import MARKER

TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def client(gateway: Gateway, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key or gateway.key, max_retries=0)


def test_plain_message_reaches_upstream_with_rename(gateway: Gateway) -> None:
    raw = client(gateway).messages.with_raw_response.create(
        model="claude-test",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "hello there"}],
        metadata={"user_id": "u-1"},
    )
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "You said: hello there"
    assert message.stop_reason == "end_turn" and message.model == "claude-test"
    assert message.usage.input_tokens == 13
    [call] = gateway.upstream.calls
    assert (call.tag, call.body["model"], call.body["system"], call.body["metadata"]) == (
        "an",
        "claude-upstream",
        "Be brief.",
        {"user_id": "u-1"},
    )
    assert raw.headers["x-redline-decision"] == gateway.audit.records[0]["decision_id"]


def test_streaming_event_sequence(gateway: Gateway) -> None:
    with client(gateway).messages.stream(
        model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "stream me " * 30}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds[-2] == "message_delta" and "content_block_start" in kinds and "content_block_stop" in kinds
    assert final.content[0].type == "text" and final.content[0].text == "You said: " + "stream me " * 30
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_blocks_pass_through(gateway: Gateway, stream: bool) -> None:
    kwargs = {
        "model": "claude-test",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "CALL-TOOL"}],
        "tools": TOOLS,
        "tool_choice": {"type": "tool", "name": "get_weather"},
    }
    if stream:
        with client(gateway).messages.stream(**kwargs) as s:  # type: ignore[arg-type]
            message = s.get_final_message()
    else:
        message = client(gateway).messages.create(**kwargs)  # type: ignore[arg-type]
    [block] = [b for b in message.content if b.type == "tool_use"]
    assert (block.name, block.input) == ("get_weather", {"city": "Paris"})
    assert message.stop_reason == "tool_use"
    body = gateway.upstream.calls[0].body
    assert body["tools"] == TOOLS and body["tool_choice"] == {"type": "tool", "name": "get_weather"}


def test_tool_results_are_forwarded_in_user_turns(gateway: Gateway) -> None:
    client(gateway).messages.create(
        model="claude-test",
        max_tokens=50,
        tools=TOOLS,  # type: ignore[arg-type]
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}}
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "rain"}]},
        ],
    )
    messages = gateway.upstream.calls[0].body["messages"]
    assert messages[1]["content"] == [
        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}}
    ]
    assert messages[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "rain"}],
    }


def test_red_line_input_is_refused_without_upstream_call(gateway: Gateway) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        client(gateway).messages.create(
            model="claude-test",
            max_tokens=10,
            system=f"You run {MARKER}",
            messages=[{"role": "user", "content": "go"}],
        )
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "permission_error"
    assert body["error"]["decision_id"] == info.value.response.headers["x-redline-decision"]
    assert gateway.upstream.calls == []


def test_red_line_answer_is_cut_mid_stream_with_refusal(gateway: Gateway) -> None:
    with client(gateway).messages.stream(
        model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "ANSWER-REDLINE"}]
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    text = "".join(b.text for b in final.content if b.type == "text")
    assert MARKER not in text and text.startswith("safe words")
    assert final.stop_reason == "refusal"
    assert events[-1].type == "message_stop"
