"""Bad keys, bad bodies, limits and failing screeners: clear errors in the client's protocol, never a 500."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest

from tests.gateway.conftest import MAX_BODY, Gateway
from tests.gateway.test_anthropic import client as anthropic_client
from tests.gateway.test_openai import client as openai_client

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def post(gateway: Gateway, path: str, content: bytes | str, key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key or gateway.key}", "content-type": "application/json"}
    return httpx.post(gateway.url + path, content=content, headers=headers)


def test_missing_key_gets_401_in_each_protocol(gateway: Gateway) -> None:
    oa = httpx.post(gateway.url + CHAT, json={"model": "gpt-test", "messages": []})
    assert oa.status_code == 401 and oa.json()["error"]["type"] == "authentication_error"
    an = httpx.post(gateway.url + MESSAGES, json={}, headers={"anthropic-version": "2023-06-01"})
    assert an.status_code == 401 and an.json()["type"] == "error"
    assert an.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("key", ["rl_nope_nope", "revoked"])
def test_bad_keys_get_401_in_each_protocol(gateway: Gateway, key: str) -> None:
    key = gateway.revoked_key if key == "revoked" else key
    with pytest.raises(openai.AuthenticationError) as oa:
        openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x"}]
        )
    assert oa.value.body["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError) as an:
        anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0).messages.create(
            model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert an.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert gateway.upstream.calls == []


def test_x_api_key_header_is_accepted(gateway: Gateway) -> None:
    response = httpx.post(
        gateway.url + MESSAGES,
        json={"model": "claude-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": gateway.key},
    )
    assert response.status_code == 200 and response.json()["content"][0]["text"] == "You said: hi"


@pytest.mark.parametrize(
    "path, body, status, fragment",
    [
        (CHAT, "{not json", 400, "malformed JSON"),
        (
            CHAT,
            '{"model": "gpt-test", "messages": [{"role": "user", "content": NaN}]}',
            400,
            "malformed JSON",
        ),
        (CHAT, "[1, 2]", 400, "JSON object"),
        (CHAT, '{"model": "gpt-test", "messages": "hello"}', 400, "messages"),
        (CHAT, '{"model": 5, "messages": [{"role": "user", "content": "x"}]}', 400, "model"),
        (
            CHAT,
            '{"model": "gpt-test", "messages": [{"role": "wizard", "content": "x"}]}',
            400,
            "messages.0.role",
        ),
        (CHAT, '{"model": "gpt-test", "n": 2, "messages": [{"role": "user", "content": "x"}]}', 400, "n"),
        (
            CHAT,
            '{"model": "gpt-test", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
            400,
            "type",
        ),
        (CHAT, '{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404, "not served"),
        (
            MESSAGES,
            '{"model": "claude-test", "messages": [{"role": "user", "content": "x"}]}',
            400,
            "max_tokens",
        ),
        (MESSAGES, "{", 400, "malformed JSON"),
        (
            MESSAGES,
            '{"model": "gpt-test", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}',
            400,
            "max_tokens",
        ),
    ],
)
def test_bad_bodies_get_4xx_in_protocol_format(
    gateway: Gateway, path: str, body: str, status: int, fragment: str
) -> None:
    response = post(gateway, path, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert fragment in error["message"]
    if path == MESSAGES:
        assert response.json()["type"] == "error"
    assert response.headers["x-redline-decision"].startswith("dec_")
    assert gateway.upstream.calls == []


def test_oversized_body_is_413(gateway: Gateway) -> None:
    big = '{"model": "gpt-test", "messages": [{"role": "user", "content": "' + "a" * MAX_BODY + '"}]}'
    response = post(gateway, CHAT, big)
    assert response.status_code == 413 and "exceeds" in response.json()["error"]["message"]
    with pytest.raises(anthropic.APIStatusError) as info:
        anthropic_client(gateway).messages.create(
            model="claude-test", max_tokens=5, messages=[{"role": "user", "content": "a" * MAX_BODY}]
        )
    assert info.value.status_code == 413 and info.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


def test_too_many_messages(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError, match="more than 50 messages"):
        openai_client(gateway).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x"}] * 51
        )


def test_key_scoped_to_models(gateway: Gateway) -> None:
    scoped = openai_client(gateway, gateway.scoped_key)
    assert scoped.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "x"}]
    ).choices
    with pytest.raises(openai.PermissionDeniedError, match="may not use model"):
        scoped.chat.completions.create(model="claude-test", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("marker", ["SCREENER-CRASH", "SCREENER-HANG"])
@pytest.mark.parametrize("stream", [False, True])
def test_screening_failure_fails_closed(gateway: Gateway, marker: str, stream: bool) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        openai_client(gateway).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": marker}], stream=stream
        )
    assert info.value.status_code == 503 and "refused" in info.value.message
    assert gateway.upstream.calls == []
    assert gateway.audit.records == []


def chat(gateway: Gateway, content: str, stream: bool) -> httpx.Response:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": content}], "stream": stream}
    return httpx.post(gateway.url + CHAT, json=body, headers={"authorization": f"Bearer {gateway.key}"})


@pytest.mark.parametrize("stream", [False, True])
def test_a_red_line_that_cannot_be_recorded_is_503_with_no_upstream_call(gateway: Gateway, stream: bool) -> None:
    gateway.audit.fails = lambda record: True
    response = chat(gateway, "REDLINE-TEST-WEAPON", stream)
    assert response.status_code == 503 and "could not be recorded" in response.json()["error"]["message"]
    assert gateway.upstream.calls == [] and gateway.audit.records == []


@pytest.mark.parametrize("stream", [False, True])
def test_an_allowed_input_that_cannot_be_recorded_gets_503_and_never_the_answer(
    gateway: Gateway, stream: bool
) -> None:
    """The input record is committed while the upstream call runs (see gateway/completions.py), so the
    upstream may have been called; what matters is that nothing of its answer reaches the client."""
    gateway.audit.fails = lambda record: record.get("direction") == "input"
    response = chat(gateway, "hello there", stream)
    assert response.status_code == 503 and "could not be recorded" in response.json()["error"]["message"]
    assert "You said" not in response.text and "x-redline-decision" in response.headers
    assert len(gateway.upstream.calls) <= 1
    assert [r["direction"] for r in gateway.audit.records] == []


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_whose_decision_cannot_be_recorded_never_reaches_the_client(
    gateway: Gateway, stream: bool
) -> None:
    gateway.audit.fails = lambda record: record.get("direction") == "output"
    response = chat(gateway, "hello there", stream)
    assert "You said" not in response.text  # a short answer is one held window: none of it was released
    if stream:  # the status line went out with the first byte; the stream ends with an error event
        assert response.status_code == 200 and "could not be recorded" in response.text
        assert '"finish_reason":"stop"' not in response.text
    else:
        assert response.status_code == 503 and "could not be recorded" in response.json()["error"]["message"]
    assert [r["direction"] for r in gateway.audit.records] == ["input"]


def test_asking_to_skip_screening_is_refused_and_audited(gateway: Gateway) -> None:
    body = (
        '{"model": "gpt-test", "messages": [{"role": "user", "content": "REDLINE-TEST-SURVEIL"}],'
        ' "redline": {"skip": true}, "screening": false, "metadata": {"redline_skip": true}}'
    )
    response = httpx.post(
        gateway.url + CHAT,
        content=body,
        headers={
            "authorization": f"Bearer {gateway.key}",
            "x-redline-skip": "1",
            "x-redline-screening": "off",
        },
    )
    assert response.status_code == 400 and gateway.upstream.calls == []
    error = response.json()["error"]
    assert error["code"] == "weakening_attempt" and "header.x-redline-skip" in error["message"]
    [record] = gateway.audit.records
    assert record["kind"] == "weakening_attempt" and record["subject"] == "acme"
    assert {"header.x-redline-skip", "body.redline_skip"} <= set(record["change"]["clauses"])
    assert "REDLINE-TEST-SURVEIL" not in str(record)


def _await_cancellation(gateway: Gateway) -> None:
    deadline = time.monotonic() + 10
    while not gateway.upstream.cancelled and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gateway.upstream.cancelled == ["oa"]


def test_client_disconnect_cancels_the_upstream_stream(gateway: Gateway) -> None:
    body = {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "SLOW-STREAM"}]}
    with (
        httpx.Client() as http,
        http.stream(
            "POST", gateway.url + CHAT, json=body, headers={"authorization": f"Bearer {gateway.key}"}
        ) as r,
    ):
        assert r.status_code == 200
        next(r.iter_raw())
    _await_cancellation(gateway)


def test_client_disconnect_cancels_the_upstream_call(gateway: Gateway) -> None:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "SLOW-ANSWER"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            gateway.url + CHAT, json=body, headers={"authorization": f"Bearer {gateway.key}"}, timeout=0.5
        )
    _await_cancellation(gateway)


def test_unknown_paths_and_methods_answer_in_protocol_format(gateway: Gateway) -> None:
    wrong_method = httpx.get(gateway.url + CHAT)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["message"] == "Method Not Allowed"
    unknown = httpx.post(gateway.url + "/v1/nothing-here", headers={"anthropic-version": "2023-06-01"})
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
    assert unknown.json()["type"] == "error"
