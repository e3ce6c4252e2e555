"""Retry then fall back on connection errors, 429 and 5xx; never once a stream has reached the client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import openai
import pytest

from redline.config import Settings
from redline.gateway.app import create_app
from redline.gateway.tenants import TenantStore
from redline.protocols.base import ApiError, parse_retry_after
from redline.routing.providers import Provider
from redline.routing.router import RouteContext, RouteResult, retry_delay
from redline.store import connect, migrate
from tests.gateway.conftest import Gateway, ServerThread, provider
from tests.gateway.screener import marker_screener
from tests.gateway.test_anthropic import client as anthropic_client
from tests.gateway.test_openai import client as openai_client
from tests.gateway.upstream import FakeUpstream


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


def test_retry_after_seconds_is_honoured_before_retrying_the_same_provider(gateway: Gateway) -> None:
    gateway.upstream.fail("flaky", [429], retry_after="1")
    completion = openai_client(gateway).chat.completions.create(
        model="fallback-model", messages=[{"role": "user", "content": "later?"}]
    )
    assert completion.choices[0].message.content == "You said: later?"
    first, second = gateway.upstream.calls
    assert (first.tag, second.tag) == ("flaky", "flaky") and second.at - first.at >= 1.0


def test_retry_after_as_an_http_date_is_honoured(gateway: Gateway) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)  # whole seconds: waits 1-2 s
    gateway.upstream.fail("flaky", [503], retry_after=when)
    openai_client(gateway).chat.completions.create(model="fallback-model", messages=[{"role": "user", "content": "x"}])
    first, second = gateway.upstream.calls
    assert second.tag == "flaky" and second.at - first.at >= 0.5


def test_a_retry_after_beyond_the_cap_moves_on_to_the_next_provider(gateway: Gateway) -> None:
    gateway.upstream.fail("flaky", [429], retry_after="3600")
    openai_client(gateway).chat.completions.create(model="fallback-model", messages=[{"role": "user", "content": "x"}])
    assert [c.tag for c in gateway.upstream.calls] == ["flaky", "backup"]


def test_the_last_providers_retry_after_reaches_the_client(gateway: Gateway) -> None:
    gateway.upstream.fail("flaky", [429, 429], retry_after="3600")
    gateway.upstream.fail("backup", [429], retry_after="120")
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "fallback-model", "messages": [{"role": "user", "content": "x"}]},
        headers={"authorization": f"Bearer {gateway.key}"},
    )
    assert response.status_code == 429 and response.headers["retry-after"] == "120"
    assert [c.tag for c in gateway.upstream.calls] == ["flaky", "backup"]


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    error = ApiError(502, "upstream", "down", retryable=True)
    top = lambda low, high: high  # noqa: E731 - the largest wait jitter may draw
    assert [retry_delay(0.2, 5.0, n, error, top) for n in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert all(0 <= retry_delay(0.2, 5.0, 3, error) <= 1.6 for _ in range(100))  # type: ignore[operator]
    asked = ApiError(429, "rate_limit", "slow down", retryable=True, retry_after=2.0)
    assert retry_delay(0.2, 5.0, 0, asked, top) == 2.0
    assert retry_delay(0.2, 1.0, 0, asked, top) is None


def test_retry_after_parsing() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now) == 0.0


def only_backup_for_defense(context: RouteContext, candidates: list[Provider]) -> RouteResult:
    """A stand-in for designations: defense tenants may not use "flaky" and are told when it goes."""
    if context.tenant_class == "defense":
        return RouteResult(tuple(p for p in candidates if p.name == "backup"), {"x-test-phase-out": "flaky"})
    if context.tenant_class == "excluded":
        return RouteResult((), refusal=f"tenant {context.tenant} may not use {context.model} here")
    return RouteResult(tuple(candidates))


@pytest.fixture
def filtered_gateway(
    tmp_path: Path, upstream_server: tuple[str, FakeUpstream]
) -> Iterator[tuple[str, dict[str, str]]]:
    up, fake = upstream_server
    fake.reset()
    db = f"sqlite:///{tmp_path / 'redline.db'}"
    store = TenantStore(connect(db))
    migrate(store.engine)
    keys = {}
    for tenant_class in ("commercial", "defense", "excluded"):
        store.create_tenant(tenant_class, tenant_class)
        keys[tenant_class] = store.create_key(tenant_class)[1]
    providers = [
        provider("flaky", "openai", f"{up}/flaky/v1", ["m"]),
        provider("backup", "anthropic", f"{up}/backup/v1", ["m"]),
    ]
    audit = {"signing_key_path": str(tmp_path / "key.pem")}
    settings = Settings(database={"url": db}, providers=providers, audit=audit)  # type: ignore[arg-type]
    app = create_app(settings, screener=marker_screener, candidate_filter=only_backup_for_defense)
    with ServerThread(app) as url:
        yield url, keys


def test_candidate_filter_replaces_providers_adds_headers_and_refuses(
    filtered_gateway: tuple[str, dict[str, str]], upstream_server: tuple[str, FakeUpstream]
) -> None:
    url, keys = filtered_gateway
    fake = upstream_server[1]

    def ask(tenant_class: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{url}/v1", api_key=keys[tenant_class], max_retries=0)

    ask("commercial").chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    raw = ask("defense").chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-test-phase-out"] == "flaky"
    assert [c.tag for c in fake.calls] == ["flaky", "backup"]
    with pytest.raises(openai.PermissionDeniedError) as info:
        ask("excluded").chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "routing.refused" and "may not use m" in info.value.message
    assert len(fake.calls) == 2
