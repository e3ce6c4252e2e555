"""A client of either protocol reaching a provider of the other: requests, answers, streams, tools, errors."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.gateway.conftest import UPSTREAM_KEY, Gateway
from tests.gateway.test_anthropic import TOOLS as ANTHROPIC_TOOLS
from tests.gateway.test_anthropic import client as anthropic_client
from tests.gateway.test_openai import TOOLS as OPENAI_TOOLS
from tests.gateway.test_openai import client as openai_client
from tests.gateway.upstream import MARKER


def test_openai_client_reaches_anthropic_provider(gateway: Gateway) -> None:
    completion = openai_client(gateway).chat.completions.create(
        model="claude-test",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "bonjour"}],
        max_tokens=64,
    )
    assert completion.choices[0].message.content == "You said: bonjour"
    assert completion.usage is not None and (
        completion.usage.prompt_tokens,
        completion.usage.total_tokens,
    ) == (13, 17)
    [call] = gateway.upstream.calls
    assert (
        call.protocol == "anthropic" and call.body["system"] == "Be brief." and call.body["max_tokens"] == 64
    )
    assert call.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "bonjour"}]}]


def test_openai_client_streams_tool_calls_from_anthropic_provider(gateway: Gateway) -> None:
    chunks = list(
        openai_client(gateway).chat.completions.create(
            model="claude-test",
            messages=[{"role": "user", "content": "CALL-TOOL"}],
            tools=OPENAI_TOOLS,  # type: ignore[arg-type]
            tool_choice="required",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert (deltas[0].id, deltas[0].function.name) == ("toolu_1", "get_weather")  # type: ignore[union-attr]
    arguments = "".join(d.function.arguments or "" for d in deltas)  # type: ignore[union-attr]
    assert json.loads(arguments) == {"city": "Paris"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"] and chunks[-1].usage is not None
    body = gateway.upstream.calls[0].body
    assert body["tool_choice"] == {"type": "any"} and body["tools"] == ANTHROPIC_TOOLS


def test_anthropic_client_reaches_openai_provider(gateway: Gateway) -> None:
    message = anthropic_client(gateway).messages.create(
        model="gpt-test", max_tokens=32, system="Be brief.", messages=[{"role": "user", "content": "hola"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "You said: hola"
    assert message.stop_reason == "end_turn" and message.usage.input_tokens == 11
    [call] = gateway.upstream.calls
    assert call.protocol == "openai"
    assert call.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hola"},
    ]


def test_anthropic_client_streams_tool_use_from_openai_provider(gateway: Gateway) -> None:
    with anthropic_client(gateway).messages.stream(
        model="gpt-test",
        max_tokens=32,
        messages=[{"role": "user", "content": "CALL-TOOL"}],
        tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
    ) as stream:
        message = stream.get_final_message()
    [block] = message.content
    assert block.type == "tool_use" and (block.id, block.name, block.input) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
    )
    assert message.stop_reason == "tool_use" and message.usage.input_tokens == 11
    assert gateway.upstream.calls[0].body["tools"] == OPENAI_TOOLS


def test_anthropic_tool_round_trip_to_openai_provider(gateway: Gateway) -> None:
    anthropic_client(gateway).messages.create(
        model="gpt-test",
        max_tokens=32,
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "rain"},
                    {"type": "text", "text": "so?"},
                ],
            },
        ],
    )
    messages = gateway.upstream.calls[0].body["messages"]
    assert messages[1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
    }
    assert messages[2] == {"role": "tool", "content": "rain", "tool_call_id": "t1"}
    assert messages[3] == {"role": "user", "content": "so?"}


def test_red_line_answer_cut_across_protocols(gateway: Gateway) -> None:
    chunks = list(
        openai_client(gateway).chat.completions.create(
            model="claude-test", messages=[{"role": "user", "content": "ANSWER-REDLINE"}], stream=True
        )
    )
    assert MARKER not in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_upstream_errors_are_translated_both_ways(gateway: Gateway) -> None:
    gateway.upstream.fail("an", [400])
    with pytest.raises(openai.BadRequestError) as oa:
        openai_client(gateway).chat.completions.create(
            model="claude-test", messages=[{"role": "user", "content": "x"}]
        )
    assert oa.value.body == {
        "type": "invalid_request_error",
        "code": None,
        "message": "injected 400",
        "param": None,
    }
    gateway.upstream.fail("oa", [429, 429])
    with pytest.raises(anthropic.RateLimitError) as an:
        anthropic_client(gateway).messages.create(
            model="gpt-test", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert an.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "injected 429"},
    }
    assert len(gateway.upstream.calls) == 3  # the 400 is not retried; the 429 is, once


def test_upstream_gets_the_provider_key_never_the_client_key(gateway: Gateway) -> None:
    openai_client(gateway).chat.completions.create(
        model="claude-test", messages=[{"role": "user", "content": "a"}]
    )
    anthropic_client(gateway).messages.create(
        model="gpt-test", max_tokens=5, messages=[{"role": "user", "content": "b"}]
    )
    to_anthropic, to_openai = gateway.upstream.calls
    assert to_anthropic.headers["x-api-key"] == UPSTREAM_KEY and "authorization" not in to_anthropic.headers
    assert to_anthropic.headers["anthropic-version"] == "2023-06-01"
    assert (
        to_openai.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        and "x-api-key" not in to_openai.headers
    )
    assert all(gateway.key not in str(call.headers) for call in gateway.upstream.calls)


def test_upstream_failing_mid_stream_ends_the_stream_with_an_error(gateway: Gateway) -> None:
    with pytest.raises(openai.APIError, match="unreachable"):
        list(
            openai_client(gateway).chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "BREAK-STREAM"}], stream=True
            )
        )
    with (
        pytest.raises(anthropic.APIStatusError, match="unreachable"),
        anthropic_client(gateway).messages.stream(
            model="gpt-test", max_tokens=5, messages=[{"role": "user", "content": "BREAK-STREAM"}]
        ) as stream,
    ):
        list(stream)
