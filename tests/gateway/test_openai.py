"""The OpenAI endpoint driven by the official SDK against an OpenAI-speaking upstream."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import openai
import pytest

from redline.audit.records import body_sha256
from tests.gateway.conftest import WINDOW, Gateway
from tests.gateway.upstream import MARKER, SPLIT_ANSWER

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def client(gateway: Gateway, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key or gateway.key, max_retries=0)


def test_plain_completion_reaches_upstream_and_comes_back(gateway: Gateway) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-test",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
        temperature=0.2,
        seed=7,
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "You said: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 11
    [call] = gateway.upstream.calls
    assert call.tag == "oa"
    assert call.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert call.body["temperature"] == 0.2 and call.body["seed"] == 7
    decision = raw.headers["x-redline-decision"]
    assert decision.startswith("dec_")
    stages = [(r["direction"], r["decision"]) for r in gateway.audit.records]
    assert stages == [("input", "allow"), ("output", "allow")]
    assert gateway.audit.records[0]["decision_id"] == decision
    assert gateway.audit.records[1]["provider"] == "oa"
    assert gateway.audit.records[0]["key_id"] in gateway.key and gateway.key not in json.dumps(
        gateway.audit.records
    )


def test_streaming_completion_with_usage(gateway: Gateway) -> None:
    stream = client(gateway).chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "stream this please " * 20}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: " + "stream this please " * 20
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 11
    assert [r["direction"] for r in gateway.audit.records] == ["input", "output"]


def test_tools_and_tool_calls_pass_through(gateway: Gateway) -> None:
    completion = client(gateway).chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "CALL-TOOL please"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    [call] = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"
    upstream_body = gateway.upstream.calls[0].body
    assert upstream_body["tools"] == TOOLS
    assert upstream_body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_streamed_tool_call(gateway: Gateway) -> None:
    with client(gateway).chat.completions.stream(
        model="gpt-test",
        messages=[{"role": "user", "content": "CALL-TOOL now"}],
        tools=TOOLS,  # type: ignore[arg-type]
    ) as stream:
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
    )
    assert final.choices[0].finish_reason == "tool_calls"


def test_red_line_input_is_refused_without_upstream_call(gateway: Gateway) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(gateway).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": f"build it {MARKER}"}]
        )
    error = info.value.body
    assert isinstance(error, dict)
    assert error["type"] == "policy_violation" and error["code"] == "red_line.autonomous_weapons"
    assert (
        error["param"] is None and error["decision_id"] == info.value.response.headers["x-redline-decision"]
    )
    assert gateway.upstream.calls == []
    [record] = gateway.audit.records
    assert (record["decision"], record["categories"]) == ("block", ["autonomous_weapons"])
    assert record["response_sha256"] is not None


@pytest.mark.parametrize(
    "messages, tools",
    [
        ([{"role": "system", "content": "REDLINE-TEST-SURVEIL"}, {"role": "user", "content": "hi"}], None),
        (
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "REDLINE-TEST-SURVEIL"},
                {"role": "user", "content": "go on"},
            ],
            None,
        ),
        (
            [{"role": "user", "content": "hi"}],
            [{"type": "function", "function": {"name": "fire", "description": MARKER, "parameters": {}}}],
        ),
        (
            [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": json.dumps({"t": MARKER})},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "done"},
            ],
            None,
        ),
        (
            [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "c1", "content": MARKER}],
            None,
        ),
    ],
    ids=["system", "earlier-message", "tool-definition", "prior-tool-call", "tool-result"],
)
def test_whole_conversation_is_screened(gateway: Gateway, messages: list, tools: list | None) -> None:
    kwargs = {"tools": tools} if tools else {}
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway).chat.completions.create(model="gpt-test", messages=messages, **kwargs)
    assert gateway.upstream.calls == []


def test_structured_options_are_screened(gateway: Gateway) -> None:
    schema = {"type": "object", "properties": {"plan": {"type": "string", "description": MARKER}}}
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway).chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "fill the form"}],
            response_format={"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}},
        )
    assert gateway.upstream.calls == []


def test_red_line_answer_is_cut_mid_stream(gateway: Gateway) -> None:
    chunks = list(
        client(gateway).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "ANSWER-REDLINE"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert MARKER not in text
    assert text.startswith("safe words")
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    record = gateway.audit.records[-1]
    assert (record["direction"], record["decision"]) == ("output", "block")


def test_red_line_straddling_two_windows_is_cut(gateway: Gateway) -> None:
    chunks = list(
        client(gateway).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "ANSWER-SPLIT"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == SPLIT_ANSWER[:WINDOW]  # the first window alone was clean, so it went out; nothing more
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_red_line_answer_not_streamed_is_403(gateway: Gateway) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(gateway).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "ANSWER-REDLINE"}]
        )
    assert MARKER not in info.value.response.text
    assert info.value.code == "red_line.autonomous_weapons"


def test_red_line_tool_call_arguments_are_screened(gateway: Gateway) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway).chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "CALL-TOOL-REDLINE"}],
            tools=TOOLS,  # type: ignore[arg-type]
        )
    chunks = list(
        client(gateway).chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "CALL-TOOL-REDLINE"}],
            tools=TOOLS,
            stream=True,  # type: ignore[arg-type]
        )
    )
    assert MARKER not in "".join(c.model_dump_json() for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_audit_records_hash_the_exact_bodies(gateway: Gateway) -> None:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "héllo"}], "temperature": 0.5}
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {gateway.key}"}
    )
    incoming, outgoing = gateway.audit.records
    assert incoming["request_sha256"] == outgoing["request_sha256"] == body_sha256(body)
    assert incoming["response_sha256"] is None
    assert outgoing["response_sha256"] == body_sha256(response.json())
    assert set(incoming) == {
        "kind", "time", "decision_id", "tenant", "key_id", "endpoint", "model", "provider", "direction",
        "decision", "categories", "scores", "stage", "clauses", "reasons", "policy_version", "request_sha256",
        "response_sha256",
    }  # fmt: skip
    assert (incoming["tenant"], incoming["endpoint"], incoming["model"]) == (
        "acme",
        "/v1/chat/completions",
        "gpt-test",
    )
    assert (incoming["provider"], outgoing["provider"]) == (None, "oa")
    assert datetime.fromisoformat(incoming["time"]).tzinfo is not None and incoming["time"].endswith("Z")
    assert incoming["policy_version"] and incoming["stage"] == "test-markers"
