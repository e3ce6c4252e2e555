"""The service endpoints (models, moderations, health, metrics) and a gateway with no provider configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from redline.audit.records import body_sha256
from redline.config import Settings
from redline.gateway.app import create_app
from redline.gateway.tenants import TenantStore
from redline.store import connect, migrate
from tests.gateway.conftest import Gateway, ServerThread
from tests.gateway.screener import marker_screener
from tests.gateway.test_openai import client as openai_client


def test_models_in_both_formats(gateway: Gateway) -> None:
    ids = [m.id for m in openai_client(gateway).models.list()]
    assert ids == ["claude-test", "fallback-model", "gpt-test"]
    page = anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0).models.list()
    assert [m.id for m in page.data] == ids


def test_moderations_use_red_lines_as_categories(gateway: Gateway) -> None:
    result = openai_client(gateway).moderations.create(input=["a picnic", "REDLINE-TEST-SURVEIL of everyone"])
    clean, flagged = result.results
    assert not clean.flagged and flagged.flagged
    categories = flagged.model_dump()["categories"]
    assert categories["mass_domestic_surveillance"] is True and categories["autonomous_weapons"] is False
    assert flagged.model_dump()["category_scores"]["mass_domestic_surveillance"] == 1.0
    single = openai_client(gateway).moderations.create(input="REDLINE-TEST-WEAPON")
    assert single.results[0].flagged
    with pytest.raises(openai.BadRequestError):
        openai_client(gateway).moderations.create(input=[])


def test_moderations_are_recorded_decisions(gateway: Gateway) -> None:
    body = {"input": ["a picnic", "REDLINE-TEST-SURVEIL of everyone"]}
    headers = {"authorization": f"Bearer {gateway.key}"}
    response = httpx.post(gateway.url + "/v1/moderations", json=body, headers=headers)
    assert response.status_code == 200
    [record] = gateway.audit.records
    assert record["decision_id"] == response.headers["x-redline-decision"]
    assert (record["endpoint"], record["direction"]) == ("/v1/moderations", "input")
    assert record["model"] == "redline-red-lines"
    assert record["decision"] == "block" and record["categories"] == ["mass_domestic_surveillance"]
    assert record["request_sha256"] == body_sha256(body) and record["response_sha256"] == body_sha256(response.json())
    assert "picnic" not in str(record)
    gateway.audit.fails = lambda record: True
    refused = httpx.post(gateway.url + "/v1/moderations", json={"input": "a picnic"}, headers=headers)
    assert refused.status_code == 503 and "results" not in refused.json()


def test_health_readiness_and_metrics(gateway: Gateway) -> None:
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(gateway.url + "/readyz").json()["status"] == "ready"
    with pytest.raises(openai.PermissionDeniedError):
        openai_client(gateway).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "REDLINE-TEST-SURVEIL"}]
        )
    openai_client(gateway).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    )
    metrics = httpx.get(gateway.url + "/metrics").text
    assert (
        'redline_decisions_total{action="block",category="mass_domestic_surveillance",direction="input"}'
        in metrics
    )
    assert 'redline_requests_total{endpoint="/v1/chat/completions",status="403"}' in metrics
    assert 'redline_decisions_total{action="allow",category="none",direction="output"}' in metrics
    assert "redline_screening_seconds_count" in metrics
    assert 'redline_upstream_seconds_count{provider="oa"}' in metrics


@pytest.fixture
def bare_gateway(tmp_path: Path) -> Iterator[tuple[str, str]]:
    db = f"sqlite:///{tmp_path / 'redline.db'}"
    engine = connect(db)
    migrate(engine)
    store = TenantStore(engine)
    store.create_tenant("t", "commercial")
    key = store.create_key("t")[1]
    settings = Settings(database={"url": db}, audit={"signing_key_path": str(tmp_path / "key.pem")})  # type: ignore[arg-type]
    with ServerThread(create_app(settings, screener=marker_screener)) as url:
        yield url, key


def test_no_provider_gives_503_but_screening_still_works(bare_gateway: tuple[str, str]) -> None:
    url, key = bare_gateway
    oa = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        oa.chat.completions.create(model="any", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503 and "no upstream provider" in info.value.message
    with pytest.raises(anthropic.APIStatusError) as an:
        anthropic.Anthropic(base_url=url, api_key=key, max_retries=0).messages.create(
            model="any", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert an.value.status_code == 503 and an.value.body["type"] == "error"  # type: ignore[index]
    assert oa.moderations.create(input="REDLINE-TEST-WEAPON").results[0].flagged
