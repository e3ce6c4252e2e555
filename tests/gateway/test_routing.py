"""Retry then fall back on connection errors, 429 and 5xx; never once a stream has reached the client."""

from __future__ import annotations

import openai
import pytest

from tests.gateway.conftest import Gateway
from tests.gateway.test_anthropic import client as anthropic_client
from tests.gateway.test_openai import client as openai_client


def test_falls_back_past_dead_and_failing_providers(gateway: Gateway) -> None:
    gateway.upstream.fail("flaky", [500, 503])
    completion = openai_client(gateway).chat.completions.create(
        model="fallback-model", messages=[{"role": "user", "content": "anyone?"}]
    )
    assert completion.choices[0].message.content == "You said: anyone?"
    # "dead" refuses connections (2 attempts), "flaky" fails twice (its 2 attempts), "backup" answers
    assert [c.tag for c in gateway.upstream.calls] == ["flaky", "flaky", "backup"]
    assert gateway.audit.records[-1]["provider"] == "backup"


def test_streams_fall_back_before_the_first_byte(gateway: Gateway) -> None:
    gateway.upstream.fail("flaky", [429])
    with anthropic_client(gateway).messages.stream(
        model="fallback-model", max_tokens=20, messages=[{"role": "user", "content": "stream?"}]
    ) as stream:
        message = stream.get_final_message()
    assert message.content[0].type == "text" and message.content[0].text == "You said: stream?"
    assert [c.tag for c in gateway.upstream.calls] == ["flaky", "flaky"]


def test_all_providers_failing_gives_the_last_error(gateway: Gateway) -> None:
    gateway.upstream.fail("flaky", [500, 500])
    gateway.upstream.fail("backup", [529, 529])
    with pytest.raises(openai.InternalServerError) as info:
        openai_client(gateway).chat.completions.create(
            model="fallback-model", messages=[{"role": "user", "content": "x"}]
        )
    response = info.value.response
    assert response.status_code == 502
    assert response.json()["error"]["message"] == "injected 529"
    assert "x-redline-decision" in response.headers
